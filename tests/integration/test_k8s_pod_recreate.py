"""k8s_pod_recreate against the lab's Kubernetes, on pods of workloads of its own."""

import pytest
from k8s_change_helpers import CRASHLOOP, Cluster, diff_lines, eventually, unique
from kubernetes.client import ApiException


@pytest.fixture
def cluster(lab):
    made = Cluster(lab)
    yield made
    made.remove()


def crash(cluster, pod_name):
    """Make one pod crash-loop (the lab's fault marker on the pod) and wait until it is not Ready."""
    cluster.core.patch_namespaced_pod(pod_name, cluster.ns, {"metadata": {"annotations": {CRASHLOOP: "true"}}})

    def crashing():
        pod = cluster.core.read_namespaced_pod(pod_name, cluster.ns)
        return not cluster.ready(pod) and pod.status.container_statuses[0].state.waiting
    eventually(crashing, what=f"pod {pod_name} to crash-loop")
    return cluster.core.read_namespaced_pod(pod_name, cluster.ns)


def test_crashlooping_statefulset_pod_comes_back_ready_and_second_run_changes_nothing(cluster):
    name = unique("recreate-sts")
    cluster.statefulset(name, replicas=2)
    old = crash(cluster, f"{name}-0")
    result = cluster.run("k8s_pod_recreate", name=f"{name}-0", wait_timeout=60)
    assert result["changed"] is True and not result["failed"], result["_stdout"]
    assert result["owner"] == {"kind": "StatefulSet", "name": name}
    assert result["before"]["ready"] is False and "CrashLoopBackOff" in result["before"]["reasons"]
    assert result["msg"].startswith(f"Recreate pod {name}-0 of StatefulSet {name} (not Ready: CrashLoopBackOff")
    new = cluster.core.read_namespaced_pod(f"{name}-0", cluster.ns)
    assert new.metadata.uid != old.metadata.uid and cluster.ready(new)
    assert result["after"]["uid"] == new.metadata.uid and result["after"]["ready"] is True
    again = cluster.run("k8s_pod_recreate", name=f"{name}-0", wait_timeout=60)
    assert again["changed"] is False and not again["failed"] and again["actions"] == []
    assert cluster.core.read_namespaced_pod(f"{name}-0", cluster.ns).metadata.uid == new.metadata.uid


def test_ready_pod_is_left_alone(cluster):
    name = unique("recreate-sts")
    cluster.statefulset(name, replicas=1)
    uid = cluster.core.read_namespaced_pod(f"{name}-0", cluster.ns).metadata.uid
    result = cluster.run("k8s_pod_recreate", name=f"{name}-0")
    assert result["changed"] is False and not result["failed"]
    assert result["msg"] == f"Pod {name}-0 is Ready; left alone (only_if_unready=true)."
    assert cluster.core.read_namespaced_pod(f"{name}-0", cluster.ns).metadata.uid == uid


def test_replicaset_pod_is_replaced_by_a_new_pod_of_the_same_replicaset(cluster):
    name = unique("recreate")
    cluster.deployment(name, replicas=2)
    pods = {p.metadata.name: p for p in cluster.pods(name)}
    target = min(pods)
    owner = pods[target].metadata.owner_references[0].name
    result = cluster.run("k8s_pod_recreate", name=target, only_if_unready=False, wait_timeout=60)
    assert result["changed"] is True and not result["failed"], result["_stdout"]
    assert result["owner"] == {"kind": "ReplicaSet", "name": owner}
    now = {p.metadata.name: p for p in cluster.pods(name)}
    assert target not in now and len(now) == 2 and all(map(cluster.ready, now.values()))
    assert result["after"]["name"] in set(now) - set(pods)
    assert {p.metadata.owner_references[0].name for p in now.values()} == {owner}


def test_check_mode_changes_nothing(cluster):
    name = unique("recreate-sts")
    cluster.statefulset(name, replicas=1)
    old = crash(cluster, f"{name}-0")
    result = cluster.run("k8s_pod_recreate", check=True, name=f"{name}-0")
    assert result["changed"] is True and result["check_mode"] is True
    assert result["actions"] == [f"Delete pod {name}-0 (uid {old.metadata.uid}) of StatefulSet {name}"]
    assert '+ "ready": true,' in diff_lines(result)
    pod = cluster.core.read_namespaced_pod(f"{name}-0", cluster.ns)
    assert pod.metadata.uid == old.metadata.uid and not pod.metadata.deletion_timestamp


def test_bare_pod_is_refused_unless_forced(cluster):
    name = unique("bare")
    pod = cluster.bare_pod(name)
    refused = cluster.run("k8s_pod_recreate", name=name, only_if_unready=False)
    assert refused["failed"] is True and refused["changed"] is False
    assert refused["msg"] == (f"Refused (pod has a controller): pod {name} is owned by nothing; no StatefulSet, "
                              "ReplicaSet or DaemonSet would recreate it. To override: force=true deletes it "
                              "anyway, for good.")
    assert cluster.core.read_namespaced_pod(name, cluster.ns).metadata.uid == pod.metadata.uid
    forced = cluster.run("k8s_pod_recreate", name=name, only_if_unready=False, force=True, wait_timeout=30)
    assert forced["changed"] is True and not forced["failed"], forced["_stdout"]
    assert forced["after"] is None
    with pytest.raises(ApiException) as gone:
        cluster.core.read_namespaced_pod(name, cluster.ns)
    assert gone.value.status == 404


def test_missing_pod_is_named(cluster):
    result = cluster.run("k8s_pod_recreate", name="no-such-pod")
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == f"pod no-such-pod not found in namespace {cluster.ns}"
    assert "exception" not in result


def test_bad_arguments_name_the_option(cluster):
    result = cluster.run("k8s_pod_recreate", name="qdrant-0", only_if_unready="sometimes")
    assert result["failed"] is True and "only_if_unready" in result["msg"]
    result = cluster.run("k8s_pod_recreate", force=True)
    assert result["failed"] is True and "missing required arguments: name" in result["msg"]
