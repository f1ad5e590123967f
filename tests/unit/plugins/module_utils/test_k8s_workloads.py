"""The Kubernetes readers' pure parts (k8s_state.py) and error typing (k8s_workloads.py), on API-shaped dicts."""

from datetime import UTC, datetime, timedelta

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from ansible_collections.sre.runbooks.plugins.module_utils.errors import BackendUnavailable, RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_state import (
    claim_names,
    container_env,
    current_revision,
    hpa_summary,
    hpa_targeting,
    owner_workload,
    pod_summary,
    previous_revision,
    revisions,
    rollout_state,
    selector_string,
)
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_workloads import K8s, NotFound, api_errors

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def ts(minutes_ago):
    return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def container(name="app", ready=True, restarts=0, state=None, last=None):
    status = {"name": name, "image": f"{name}:1", "ready": ready, "restartCount": restarts,
              "state": state or {"running": {"startedAt": ts(5)}}}
    if last:
        status["lastState"] = {"terminated": {"reason": last, "exitCode": 137 if last == "OOMKilled" else 1}}
    return status


def pod(name="p", phase="Running", ready=True, containers=None, owner=None, **status):
    meta = {"name": name, "creationTimestamp": ts(10)}
    if owner:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "controller": True}]
    return {"metadata": meta, "spec": {"nodeName": "node-1"},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       "containerStatuses": containers if containers is not None else [container()], **status}}


def test_pod_summary_of_a_running_pod():
    summary = pod_summary(pod("web-1"), NOW)
    assert summary | {"containers": None} == {
        "name": "web-1", "phase": "Running", "ready": True, "status": "Running", "restarts": 0, "reasons": [],
        "containers": None, "node": "node-1", "created": ts(10), "age_seconds": 600}


@pytest.mark.parametrize(("state", "last", "shown", "reasons"), [
    ({"waiting": {"reason": "CrashLoopBackOff"}}, "Error", "CrashLoopBackOff", ["CrashLoopBackOff", "Error"]),
    ({"waiting": {"reason": "ImagePullBackOff"}}, None, "ImagePullBackOff", ["ImagePullBackOff"]),
    ({"waiting": {"reason": "ErrImagePull"}}, None, "ErrImagePull", ["ErrImagePull"]),
    ({"waiting": {"reason": "CrashLoopBackOff"}}, "OOMKilled", "CrashLoopBackOff", ["CrashLoopBackOff", "OOMKilled"]),
    ({"terminated": {"reason": "OOMKilled", "exitCode": 137}}, None, "OOMKilled", ["OOMKilled"]),
    ({"running": {}}, "Completed", "Running", []),
])
def test_pod_summary_reasons(state, last, shown, reasons):
    summary = pod_summary(pod(ready=False, containers=[container(ready=False, restarts=3, state=state, last=last)]))
    assert (summary["status"], summary["reasons"], summary["ready"], summary["restarts"]) == (
        shown, reasons, False, 3)


def test_pending_unschedulable_pod():
    unscheduled = pod(phase="Pending", ready=False, containers=[])
    unscheduled["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]
    summary = pod_summary(unscheduled)
    assert (summary["status"], summary["reasons"], summary["ready"]) == ("Pending", ["Unschedulable"], False)
    evicted = pod_summary(pod(phase="Failed", ready=False, containers=[], reason="Evicted"))
    assert (evicted["status"], evicted["reasons"]) == ("Evicted", ["Evicted"])


def test_owner_of_a_replicaset_pod_is_its_deployment():
    rs = {"metadata": {"name": "web-abc", "ownerReferences": [{"kind": "Deployment", "name": "web",
                                                               "controller": True}]}}
    assert owner_workload(pod(owner=("ReplicaSet", "web-abc")), [rs]) == {"kind": "Deployment", "name": "web"}
    assert owner_workload(pod(owner=("ReplicaSet", "gone")), [rs]) == {"kind": "ReplicaSet", "name": "gone"}
    assert owner_workload(pod(owner=("StatefulSet", "db")), []) == {"kind": "StatefulSet", "name": "db"}
    assert owner_workload(pod("bare"), []) == {"kind": "Pod", "name": "bare"}


def deployment(generation=2, observed=2, desired=3, **status):
    return {"kind": "Deployment", "metadata": {"name": "web", "uid": "u1", "generation": generation,
                                               "annotations": {"deployment.kubernetes.io/revision": "3"}},
            "spec": {"replicas": desired, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"observedGeneration": observed, **status}}


@pytest.mark.parametrize(("obj", "complete", "message"), [
    (deployment(replicas=3, updatedReplicas=3, availableReplicas=3), True, "successfully rolled out"),
    (deployment(observed=1), False, "spec update to be observed"),
    (deployment(updatedReplicas=1, availableReplicas=1), False, "1 out of 3 new replicas have been updated"),
    (deployment(updatedReplicas=3, availableReplicas=2), False, "2 of 3 updated replicas are available"),
    (deployment(conditions=[{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}],
                updatedReplicas=1), False, "exceeded its progress deadline"),
])
def test_deployment_rollout_state(obj, complete, message):
    state = rollout_state(obj)
    assert state["complete"] is complete and message in state["message"]
    assert state["deadline_exceeded"] is ("deadline" in message)


def test_old_replicas_pending_termination():
    assert rollout_state(deployment(desired=2, updatedReplicas=2, availableReplicas=2))["complete"] is True
    obj = deployment(desired=2, replicas=4, updatedReplicas=2, availableReplicas=2)
    assert "2 old replicas are pending termination" in rollout_state(obj)["message"]


def test_statefulset_and_daemonset_rollout_state():
    sts = {"kind": "StatefulSet", "metadata": {"name": "db", "generation": 1},
           "spec": {"replicas": 3}, "status": {"observedGeneration": 1, "readyReplicas": 3, "updatedReplicas": 1,
                                               "currentRevision": "db-1", "updateRevision": "db-2"}}
    assert "at revision db-2" in rollout_state(sts)["message"]
    sts["status"]["currentRevision"] = "db-2"
    assert rollout_state(sts)["complete"] is True
    sts["status"]["readyReplicas"] = 1
    assert rollout_state(sts)["message"] == "Waiting for 2 pods to be ready..."
    ds = {"kind": "DaemonSet", "metadata": {"name": "agent", "generation": 4},
          "status": {"observedGeneration": 4, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3,
                     "numberAvailable": 2, "numberReady": 2}}
    assert rollout_state(ds)["complete"] is False and rollout_state(ds)["desired"] == 3
    ds["status"]["numberAvailable"] = 3
    assert rollout_state(ds)["complete"] is True


def replicaset(name, revision, image, owner="web", uid="u1", replicas=0):
    return {"metadata": {"name": name, "creationTimestamp": ts(revision),
                         "annotations": {"deployment.kubernetes.io/revision": str(revision),
                                         "kubernetes.io/change-cause": f"release {image}"},
                         "ownerReferences": [{"kind": "Deployment", "name": owner, "uid": uid, "controller": True}]},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
            "status": {"readyReplicas": replicas}}


def test_revisions_sorted_numerically_and_only_the_deployments_own():
    sets = [replicaset("web-c", 10, "web:10", replicas=3), replicaset("web-a", 3, "web:3"),
            replicaset("web-b", 9, "web:9"), replicaset("other-x", 11, "other:1", owner="other"),
            replicaset("web-old", 1, "web:1", uid="another-uid")]
    history = revisions(deployment() | {"metadata": deployment()["metadata"] | {"annotations": {
        "deployment.kubernetes.io/revision": "10"}}}, sets)
    assert [(h["revision"], h["replicaset"], h["images"], h["current"]) for h in history] == [
        (3, "web-a", ["web:3"], False), (9, "web-b", ["web:9"], False), (10, "web-c", ["web:10"], True)]
    assert history[-1]["change_cause"] == "release web:10" and history[-1]["ready"] == 3
    assert current_revision(history)["revision"] == 10
    assert previous_revision(history, 10)["revision"] == 9
    assert previous_revision(history, 3) is None


def test_hpa_claims_env_selector():
    hpa = {"metadata": {"name": "web"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
                                                 "minReplicas": 2, "maxReplicas": 10},
           "status": {"currentReplicas": 10, "desiredReplicas": 10}}
    assert hpa_targeting([hpa], "Deployment", "web") is hpa and hpa_targeting([hpa], "StatefulSet", "web") is None
    assert hpa_summary(hpa) == {"name": "web", "min": 2, "max": 10, "current": 10, "desired": 10, "at_max": True}
    sts = {"kind": "StatefulSet", "metadata": {"name": "db"},
           "spec": {"replicas": 2, "volumeClaimTemplates": [{"metadata": {"name": "data"}}], "template": {
               "spec": {"volumes": [{"name": "cfg", "persistentVolumeClaim": {"claimName": "shared"}}]}}}}
    existing = [{"metadata": {"name": n}} for n in ("data-db-0", "data-db-11", "data-dbx-0", "other")]
    assert claim_names(sts, [], existing) == ["data-db-0", "data-db-1", "data-db-11", "shared"]
    workload = {"spec": {"template": {"spec": {"containers": [
        {"name": "a", "env": [{"name": "X", "value": "1"},
                              {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
        {"name": "b", "env": [{"name": "X", "value": "2"}, {"name": "Y", "value": "3"}]}]}}}}
    assert container_env(workload, ["X", "Y", "Z", "S"]) == {
        "X": "1", "Y": "3", "Z": None, "S": '<from {"secretKeyRef": {"name": "s", "key": "k"}}>'}
    assert selector_string({"matchLabels": {"b": "2", "a": "1"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["x", "y"]}, {"key": "gone", "operator": "DoesNotExist"}]}) == (
        "a=1,b=2,tier in (x,y),!gone")


def test_api_errors_are_typed():
    with pytest.raises(NotFound, match="Deployment web not found"), api_errors(
            "read Deployment web", not_found="Deployment web not found"):
        raise ApiException(status=404, reason="Not Found")
    with pytest.raises(RunbookError, match="HTTP 403 Forbidden: deployments is forbidden") as refused, api_errors(
            "list Deployments"):
        raise ApiException(status=403, reason="Forbidden", body='{"message": "deployments is forbidden"}')
    assert refused.value.details == {"status": 403} and not isinstance(refused.value, NotFound)
    with pytest.raises(BackendUnavailable, match="Connection refused"), api_errors("list pods"):
        raise urllib3.exceptions.MaxRetryError(None, "/api/v1/pods", ConnectionRefusedError("Connection refused"))


def test_list_follows_continue_tokens():
    class Response:
        def __init__(self, data):
            self.data = data

    pages = {None: b'{"items": [1, 2], "metadata": {"continue": "t1"}}', "t1": b'{"items": [3], "metadata": {}}'}
    seen = []

    def method(namespace, limit, _continue, _preload_content, _request_timeout):
        seen.append((namespace, limit, _continue, _preload_content, _request_timeout))
        return Response(pages[_continue])

    k8s = K8s.__new__(K8s)
    k8s.namespace, k8s.timeout = "ns", 3.0
    assert k8s.list(method, "ns", what="list things") == [1, 2, 3]
    assert seen == [("ns", 500, None, False, 3.0), ("ns", 500, "t1", False, 3.0)]
