
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_changes import (
    images,
    pod_state,
    replicas_progress,
    rollout_progress,
    template_without_hash,
)


def deployment(generation=2, observed=2, replicas=2, updated=2, available=2, total=2, deadline=False):
    progressing = {"type": "Progressing", "status": "False" if deadline else "True",
                   "reason": "ProgressDeadlineExceeded" if deadline else "NewReplicaSetAvailable"}
    return {"kind": "Deployment", "metadata": {"name": "backend", "generation": generation},
            "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "replicas": total, "updatedReplicas": updated,
                       "readyReplicas": available, "availableReplicas": available, "conditions": [progressing]}}


def test_rollout_is_done_by_the_rule_of_kubectl_rollout_status():
    assert rollout_progress(deployment())["done"] is True
    assert rollout_progress(deployment(generation=3))["done"] is False
    assert rollout_progress(deployment(updated=1))["done"] is False
    assert rollout_progress(deployment(total=3))["done"] is False
    assert rollout_progress(deployment(available=1))["done"] is False


def test_progress_deadline_fails_only_once_the_new_generation_is_observed():
    assert rollout_progress(deployment(updated=0, available=0, deadline=True))["failed"] is True
    stale = rollout_progress(deployment(generation=3, updated=0, available=0, deadline=True))
    assert stale["failed"] is False and stale["done"] is False


def test_replicas_progress_waits_for_every_pod_ready_and_the_extra_ones_gone():
    sts = {"kind": "StatefulSet", "metadata": {"name": "qdrant", "generation": 4},
           "status": {"observedGeneration": 4, "replicas": 3, "readyReplicas": 3}}
    assert replicas_progress(sts, 3)["done"] is True
    assert replicas_progress(sts, 0)["done"] is False
    sts["status"] = {"observedGeneration": 4}
    assert replicas_progress(sts, 0)["done"] is True
    assert replicas_progress(dict(sts, metadata={"name": "qdrant", "generation": 5}), 0)["done"] is False


def test_template_without_hash_leaves_the_input_alone():
    template = {"metadata": {"labels": {"app": "backend", "pod-template-hash": "abc"}},
                "spec": {"containers": [{"name": "backend", "image": "backend:1"}]}}
    assert template_without_hash(template)["metadata"]["labels"] == {"app": "backend"}
    assert template["metadata"]["labels"]["pod-template-hash"] == "abc"
    assert images(template) == {"backend": "backend:1"}


def test_pod_state_is_ready_by_the_ready_condition():
    assert pod_state({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})["ready"] is True
    assert pod_state({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})["ready"] is False
    assert pod_state({"status": {}})["ready"] is False
