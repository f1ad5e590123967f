"""k8s_rollout_restart against the lab's Kubernetes, on workloads of its own."""

import pytest
from k8s_change_helpers import Cluster, diff_lines, eventually, unique

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


@pytest.fixture
def cluster(lab):
    made = Cluster(lab)
    yield made
    made.remove()


def uids(cluster, name):
    return {p.metadata.uid for p in cluster.pods(name)}


def restarted_at(cluster, kind, name):
    return (cluster.read(kind, name).spec.template.metadata.annotations or {}).get(RESTARTED_AT)


def test_restart_replaces_every_pod_of_a_deployment(cluster):
    name = unique("restart")
    cluster.deployment(name)
    before = uids(cluster, name)
    result = cluster.run("k8s_rollout_restart", name=name, wait_timeout=60)
    assert result["changed"] is True and not result["failed"], result["_stdout"]
    stamp = result["after"]["restarted_at"]
    assert result["before"]["restarted_at"] is None and stamp.endswith("Z")
    assert restarted_at(cluster, "Deployment", name) == stamp
    pods = cluster.pods(name)
    assert len(pods) == 2 and all(map(cluster.ready, pods))
    assert not before & {p.metadata.uid for p in pods}
    assert all((p.metadata.annotations or {}).get(RESTARTED_AT) == stamp for p in pods)


def test_second_run_within_the_window_changes_nothing(cluster):
    name = unique("restart")
    cluster.deployment(name)
    first = cluster.run("k8s_rollout_restart", name=name, wait_timeout=60)
    assert first["changed"] is True, first["_stdout"]
    pods = uids(cluster, name)
    again = cluster.run("k8s_rollout_restart", name=name, wait_timeout=60)
    assert again["changed"] is False and not again["failed"] and again["actions"] == []
    assert "within skip_if_restarted_within=120s; not restarted again" in again["msg"]
    assert uids(cluster, name) == pods
    assert restarted_at(cluster, "Deployment", name) == first["after"]["restarted_at"]


def test_pods_failing_again_after_a_finished_restart_are_restarted_within_the_window(cluster):
    name = unique("restart")
    cluster.deployment(name)
    first = cluster.run("k8s_rollout_restart", name=name, wait_timeout=60)
    assert first["changed"] is True, first["_stdout"]
    for pod in cluster.pods(name):  # the pods fail after the restart finished (the lab's crash-loop marker)
        cluster.core.patch_namespaced_pod(pod.metadata.name, cluster.ns, {
            "metadata": {"annotations": {"lab.sre-runbooks/crashloop": "true"}}})
    eventually(lambda: (cluster.read("Deployment", name).status.ready_replicas or 0) == 0, what="the pods to fail")
    failing = uids(cluster, name)
    again = cluster.run("k8s_rollout_restart", name=name, wait_timeout=60)
    assert again["changed"] is True and not again["failed"], again["_stdout"]
    assert not failing & uids(cluster, name)
    assert cluster.read("Deployment", name).status.ready_replicas == 2


def test_no_window_restarts_again(cluster):
    name = unique("restart")
    cluster.deployment(name)
    stamp = "2020-01-01T00:00:00Z"
    patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
    cluster.apps.patch_namespaced_deployment(name, cluster.ns, patch)
    cluster.settled("Deployment", name)
    pods = uids(cluster, name)
    result = cluster.run("k8s_rollout_restart", name=name, skip_if_restarted_within=0, wait_timeout=60)
    assert result["changed"] is True and result["before"]["restarted_at"] == stamp
    assert restarted_at(cluster, "Deployment", name) not in (None, stamp)
    assert not pods & uids(cluster, name)


def test_check_mode_changes_nothing(cluster):
    name = unique("restart")
    cluster.deployment(name)
    before, pods = cluster.snapshot("Deployment", name), uids(cluster, name)
    result = cluster.run("k8s_rollout_restart", check=True, name=name)
    assert result["changed"] is True and result["check_mode"] is True
    assert result["actions"][0].startswith(f"Set {RESTARTED_AT}=")
    assert '- "restarted_at": null' in diff_lines(result)
    assert cluster.snapshot("Deployment", name) == before
    assert uids(cluster, name) == pods


def test_restart_replaces_statefulset_pods_under_their_names(cluster):
    name = unique("restart-sts")
    cluster.statefulset(name, replicas=2)
    before = {p.metadata.name: p.metadata.uid for p in cluster.pods(name)}
    result = cluster.run("k8s_rollout_restart", kind="StatefulSet", name=name, wait_timeout=60)
    assert result["changed"] is True and not result["failed"], result["_stdout"]
    after = {p.metadata.name: p.metadata.uid for p in cluster.pods(name)}
    assert sorted(after) == sorted(before) == [f"{name}-0", f"{name}-1"]
    assert not set(before.values()) & set(after.values())
    assert all(map(cluster.ready, cluster.pods(name)))
    status = cluster.read("StatefulSet", name).status
    assert status.current_revision == status.update_revision


def test_restart_replaces_daemonset_pods(cluster):
    name = unique("restart-ds")
    cluster.daemonset(name)
    before = uids(cluster, name)
    result = cluster.run("k8s_rollout_restart", kind="DaemonSet", name=name, wait_timeout=60)
    assert result["changed"] is True and not result["failed"], result["_stdout"]
    pods = cluster.pods(name)
    assert len(pods) == len(before) and all(map(cluster.ready, pods))
    assert not before & {p.metadata.uid for p in pods}


def test_refuses_a_paused_deployment(cluster):
    name = unique("restart")
    cluster.deployment(name)
    cluster.apps.patch_namespaced_deployment(name, cluster.ns, {"spec": {"paused": True}})
    result = cluster.run("k8s_rollout_restart", name=name)
    assert result["failed"] is True and result["changed"] is False
    assert "is paused" in result["msg"] and "To override" in result["msg"]
    assert restarted_at(cluster, "Deployment", name) is None


def test_missing_workload_is_named(cluster):
    result = cluster.run("k8s_rollout_restart", kind="StatefulSet", name="no-such-set")
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == f"StatefulSet no-such-set not found in namespace {cluster.ns}"


def test_bad_arguments_name_the_option(cluster):
    result = cluster.run("k8s_rollout_restart", kind="ReplicaSet", name="backend")
    assert result["failed"] is True
    assert "kind" in result["msg"] and "Deployment, StatefulSet, DaemonSet" in result["msg"]
    result = cluster.run("k8s_rollout_restart", name="backend", skip_if_restarted_within=-5)
    assert result["failed"] is True and result["msg"] == "skip_if_restarted_within must be 0 or more, not -5"


def test_rollout_that_does_not_complete_fails_as_changed(cluster):
    name = unique("restart")
    cluster.deployment(name, crashloop=True)
    result = cluster.run("k8s_rollout_restart", name=name, wait_timeout=3)
    assert result["failed"] is True and result["changed"] is True
    assert result["msg"].startswith(f"Deployment {name} did not complete its rollout within 3s (last seen: ")
    assert restarted_at(cluster, "Deployment", name) == result["after"]["restarted_at"]


def test_progress_deadline_exceeded_fails_without_waiting_out_the_timeout(cluster):
    name = unique("restart")
    cluster.deployment(name, crashloop=True)
    cluster.apps.patch_namespaced_deployment(name, cluster.ns, {"spec": {"progressDeadlineSeconds": 1}})
    result = cluster.run("k8s_rollout_restart", name=name, wait_timeout=100)
    assert result["failed"] is True and result["changed"] is True
    assert result["msg"] == (f'Deployment {name} did not complete its rollout: deployment "{name}" exceeded its '
                             "progress deadline")
