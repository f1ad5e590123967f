"""k8s_set_env against the lab's Kubernetes, on a Deployment of its own shaped like the backend."""

import pytest
from k8s_change_helpers import Cluster, diff_lines, unique

ENV = {"REDIS_ENABLED": "true", "LLM_PROVIDER": "openai", "CACHE_ONLY_MODE": "false"}


@pytest.fixture
def cluster(lab):
    made = Cluster(lab)
    yield made
    made.remove()


@pytest.fixture
def backend(cluster):
    name = unique("env")
    cluster.deployment(name, env=ENV)
    return name


def env_of(cluster, name):
    container = cluster.read("Deployment", name).spec.template.spec.containers[0]
    return {e.name: e.value for e in container.env or []}


def pod_envs(cluster, name):
    return [{e.name: e.value for e in p.spec.containers[0].env or []} for p in cluster.pods(name)]


def test_set_rolls_out_returns_previous_and_second_run_changes_nothing(cluster, backend):
    result = cluster.run("k8s_set_env", name=backend, set={"REDIS_ENABLED": "false"}, wait_timeout=60)
    assert result["changed"] is True and not result["failed"], result["_stdout"]
    assert result["container"] == backend
    assert result["previous"] == {"REDIS_ENABLED": "true"}
    assert result["revert"] == {"set": {"REDIS_ENABLED": "true"}, "remove": []}
    assert result["after"] == {"REDIS_ENABLED": "false"}
    assert env_of(cluster, backend) == dict(ENV, REDIS_ENABLED="false")
    # the rollout is complete: every pod runs with the new value
    assert pod_envs(cluster, backend) == [dict(ENV, REDIS_ENABLED="false")] * 2
    assert all(map(cluster.ready, cluster.pods(backend)))
    before = cluster.snapshot("Deployment", backend)
    again = cluster.run("k8s_set_env", name=backend, set={"REDIS_ENABLED": "false"}, wait_timeout=60)
    assert again["changed"] is False and not again["failed"] and again["actions"] == []
    assert again["previous"] == {"REDIS_ENABLED": "false"}
    assert cluster.snapshot("Deployment", backend) == before


def test_revert_puts_the_previous_values_back(cluster, backend):
    first = cluster.run("k8s_set_env", name=backend, set={"LLM_PROVIDER": "anthropic", "FALLBACK": "on"},
                        wait_timeout=60)
    assert first["changed"] is True, first["_stdout"]
    assert first["previous"] == {"LLM_PROVIDER": "openai", "FALLBACK": None}
    assert env_of(cluster, backend) == dict(ENV, LLM_PROVIDER="anthropic", FALLBACK="on")
    back = cluster.run("k8s_set_env", name=backend, wait_timeout=60, **first["revert"])
    assert back["changed"] is True and not back["failed"], back["_stdout"]
    assert env_of(cluster, backend) == ENV


def test_remove_drops_only_the_named_variable(cluster, backend):
    result = cluster.run("k8s_set_env", name=backend, remove=["CACHE_ONLY_MODE", "NOT_SET"], wait_timeout=60)
    assert result["changed"] is True and not result["failed"], result["_stdout"]
    assert result["actions"] == [f"Remove CACHE_ONLY_MODE on container {backend} of Deployment {backend} (was false)"]
    assert result["previous"] == {"CACHE_ONLY_MODE": "false", "NOT_SET": None}
    assert result["revert"] == {"set": {"CACHE_ONLY_MODE": "false"}, "remove": ["NOT_SET"]}
    assert env_of(cluster, backend) == {"REDIS_ENABLED": "true", "LLM_PROVIDER": "openai"}
    before = cluster.snapshot("Deployment", backend)
    again = cluster.run("k8s_set_env", name=backend, remove=["CACHE_ONLY_MODE"], wait_timeout=60)
    assert again["changed"] is False and not again["failed"] and again["actions"] == []
    assert cluster.snapshot("Deployment", backend) == before


def test_check_mode_changes_nothing(cluster, backend):
    before = cluster.snapshot("Deployment", backend)
    result = cluster.run("k8s_set_env", check=True, name=backend, set={"CACHE_ONLY_MODE": "true"})
    assert result["changed"] is True and result["check_mode"] is True
    assert result["previous"] == {"CACHE_ONLY_MODE": "false"}
    assert '- "CACHE_ONLY_MODE": "false"' in diff_lines(result)
    assert '+ "CACHE_ONLY_MODE": "true"' in diff_lines(result)
    assert cluster.snapshot("Deployment", backend) == before


def test_refuses_a_variable_from_a_secret(cluster, backend):
    source = {"secretKeyRef": {"name": "llm", "key": "provider"}}
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": backend, "env": [{"name": "LLM_PROVIDER", "value": None, "valueFrom": source}]}]}}}}
    cluster.apps.patch_namespaced_deployment(backend, cluster.ns, patch)
    cluster.settled("Deployment", backend)
    before = cluster.snapshot("Deployment", backend)
    result = cluster.run("k8s_set_env", name=backend, set={"LLM_PROVIDER": "anthropic"})
    assert result["failed"] is True and result["changed"] is False
    assert "takes its value from" in result["msg"] and "secretKeyRef" in result["msg"]
    assert cluster.snapshot("Deployment", backend) == before


def test_missing_deployment_is_named(cluster):
    result = cluster.run("k8s_set_env", name="no-such-deployment", set={"A": "b"})
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == f"Deployment no-such-deployment not found in namespace {cluster.ns}"


def test_bad_arguments_name_the_option(cluster, backend):
    before = cluster.snapshot("Deployment", backend)
    result = cluster.run("k8s_set_env", name=backend, set={"REDIS_ENABLED": False})
    assert result["failed"] is True
    assert result["msg"] == ('set: the value of REDIS_ENABLED must be a string, not bool False; '
                             'quote it (REDIS_ENABLED: "false").')
    result = cluster.run("k8s_set_env", name=backend, container="sidecar", set={"A": "b"})
    assert result["failed"] is True
    assert result["msg"] == f"container: Deployment {backend} has no container sidecar (containers: {backend})."
    result = cluster.run("k8s_set_env", name=backend, set={"A": "b"}, remove=["A"])
    assert result["failed"] is True and "set and remove both name A" in result["msg"]
    result = cluster.run("k8s_set_env", name=backend)
    assert result["failed"] is True and "one of the following is required: set, remove" in result["msg"]
    assert cluster.snapshot("Deployment", backend) == before
