"""The shared client factories reach the lab's real backends, and turn failures into typed errors."""

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils import aws_client, k8s_client, postgres_client
from ansible_collections.sre.runbooks.plugins.module_utils.errors import BackendUnavailable, RunbookError


def aws_params(info, **extra):
    params = {k: None for k in aws_client.aws_argument_spec()}
    params.update(region=info["region"], endpoint_url=info["endpoint_url"], access_key=info["access_key"],
                  secret_key=info["secret_key"], max_attempts=2, api_timeout=5.0)
    params.update(extra)
    return params


def test_aws_client_reaches_moto(lab):
    info = lab.service("aws")
    ec2 = aws_client.client(aws_params(info), "ec2")
    reservations = aws_client.call(ec2.describe_instances, InstanceIds=info["instance_ids"])["Reservations"]
    assert sum(len(r["Instances"]) for r in reservations) == 3


def test_aws_errors_are_readable(lab):
    info = lab.service("aws")
    rds = aws_client.client(aws_params(info), "rds")
    with pytest.raises(RunbookError, match="DBClusterNotFoundFault"):
        aws_client.call(rds.describe_db_clusters, DBClusterIdentifier="no-such-cluster")
    dead = aws_client.client(aws_params(info, endpoint_url="http://127.0.0.1:1"), "ec2")
    with pytest.raises(BackendUnavailable):
        aws_client.call(dead.describe_instances)


def test_k8s_client_reaches_the_emulator(lab):
    info = lab.service("k8s")
    import kubernetes

    api = k8s_client.api_client({"kubeconfig": info["kubeconfig"], "context": info["context"], "in_cluster": False})
    nodes = kubernetes.client.CoreV1Api(api).list_node().items
    assert len(nodes) == 3


def test_k8s_bad_context_is_a_clear_error(lab):
    info = lab.service("k8s")
    with pytest.raises(RunbookError, match="kubeconfig/context"):
        k8s_client.api_client({"kubeconfig": info["kubeconfig"], "context": "nope", "in_cluster": False})


def pg_params(info, **extra):
    params = {"login_host": info["host"], "login_port": info["port"], "login_user": info["user"],
              "login_password": info["password"], "login_db": info["database"], "ssl_mode": "disable",
              "connect_timeout": 3}
    params.update(extra)
    return params


def test_postgres_connects(lab):
    conn = postgres_client.connect(pg_params(lab.service("postgres")))
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM detections")
        assert cur.fetchone()[0] >= 3
    conn.close()


def test_postgres_failures_are_typed(lab):
    info = lab.service("postgres")
    with pytest.raises(RunbookError, match="authentication failed") as denied:
        postgres_client.connect(pg_params(info, login_password="wrong-password-123"))
    assert "wrong-password-123" not in str(denied.value)
    with pytest.raises(BackendUnavailable, match="unreachable"):
        postgres_client.connect(pg_params(info, login_port=1))
