"""When k8s_workload_info calls a rollout failing (the finding that makes rollback the diagnosis)."""

from datetime import UTC, datetime, timedelta

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.checks.k8s_workload import rollout_failing, wanted
from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def entry(minutes_ago, deadline=False, desired=2):
    created = (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    history = [{"revision": 4, "replicaset": "web-old", "images": ["web:1.0"], "change_cause": None,
                "created": "2024-04-01T00:00:00Z", "replicas": 0, "ready": 0, "current": False},
               {"revision": 5, "replicaset": "web-new", "images": ["web:1.1"], "change_cause": "release 1.1",
                "created": created, "replicas": desired, "ready": 0, "current": True}]
    return {"name": "web", "kind": "Deployment", "desired": desired, "history": history,
            "rollout": {"deadline_exceeded": deadline}}


def pods(ready=False, reasons=(), restarts=0):
    return [{"name": f"web-new-{i}", "replicaset": "web-new", "ready": ready, "reasons": list(reasons),
             "restarts": restarts} for i in range(2)]


def test_crashing_new_pods_of_a_recent_rollout():
    found = rollout_failing(entry(4), pods(reasons=["CrashLoopBackOff", "Error"]), 30, NOW)
    assert found["evidence"] | {"pods": None} == {
        "workload": "web", "kind": "Deployment", "revision": 5, "previous_revision": 4, "image": "web:1.1",
        "previous_image": "web:1.0", "replicaset": "web-new", "previous_replicaset": "web-old",
        "change_cause": "release 1.1", "minutes_ago": 4.0, "pods": None, "reasons": ["CrashLoopBackOff", "Error"]}
    assert found["summary"].endswith("roll back to revision 4 (image web:1.0)")


@pytest.mark.parametrize(("minutes", "kwargs", "deadline", "fails"), [
    (40, {"reasons": ["CrashLoopBackOff"]}, False, False),  # older than recent_minutes
    (1, {"ready": True}, False, False),  # new pods ready
    (1, {"reasons": ["ContainerCreating"]}, False, False),  # still starting, within the grace
    (3, {"reasons": ["ContainerCreating"]}, False, True),  # still not ready after the grace
    (1, {"reasons": ["ContainerCreating"]}, True, True),  # progress deadline exceeded
    (1, {"restarts": 2}, False, True),  # restarting
])
def test_when_a_rollout_fails(minutes, kwargs, deadline, fails):
    assert (rollout_failing(entry(minutes, deadline), pods(**kwargs), 30, NOW) is not None) is fails


def test_names_with_kinds():
    params = {"names": ["backend", "sts/qdrant", "DaemonSet/agent"], "kinds": ["Deployment", "StatefulSet"]}
    assert wanted(params) == [(("Deployment", "StatefulSet"), "backend"), (("StatefulSet",), "qdrant"),
                              (("DaemonSet",), "agent")]
    with pytest.raises(RunbookError, match="names: 'job/x'"):
        wanted({"names": ["job/x"], "kinds": ["Deployment"]})


def test_a_finished_rollout_is_not_blamed_for_pods_failing_after_it():
    finished = entry(4)
    finished["rollout"]["progressing"] = {"status": "True", "reason": "NewReplicaSetAvailable"}
    assert rollout_failing(finished, pods(reasons=["CrashLoopBackOff"]), 30, NOW) is None
    unfinished = entry(4)
    unfinished["rollout"]["progressing"] = {"status": "True", "reason": "ReplicaSetUpdated"}
    assert rollout_failing(unfinished, pods(reasons=["CrashLoopBackOff"]), 30, NOW)["id"] == "k8s.rollout_failing"
