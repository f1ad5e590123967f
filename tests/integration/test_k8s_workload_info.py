"""k8s_workload_info against the lab's Kubernetes API stand-in and its controller loop."""

from __future__ import annotations

import pytest
from k8s_probe import BAD, GOOD, NAME, break_rollout, closed_port_kubeconfig, connection, probe
from kubernetes.client import AppsV1Api, AutoscalingV2Api

from lab import k8s


def ids(result: dict) -> set[str]:
    return {f["id"] for f in result["findings"]}


def test_seeded_workloads(lab, ansible_module):
    result = ansible_module("k8s_workload_info", connection(lab))
    assert result["status"] == "ok", result["findings"]
    workloads = {w["name"]: w for w in result["workloads"]}
    assert {(w["kind"], w["name"]) for w in result["workloads"]} >= {
        ("Deployment", "backend"), ("Deployment", "frontend"), ("StatefulSet", "qdrant"), ("StatefulSet", "redis")}
    assert "log-shipper" not in workloads  # DaemonSets only when asked for
    with k8s.api(lab.service("k8s")) as client:
        deployment = AppsV1Api(client).read_namespaced_deployment("backend", lab.service("k8s")["namespace"])
    backend = workloads["backend"]
    container = deployment.spec.template.spec.containers[0]
    assert backend["images"] == [container.image]
    assert backend["env"] == {e.name: e.value for e in container.env
                              if e.name in ("REDIS_ENABLED", "LLM_PROVIDER", "CACHE_ONLY_MODE")}
    assert (backend["desired"], backend["ready"], backend["rollout"]["complete"]) == (2, 2, True)
    history = backend["history"]
    assert [h["revision"] for h in history] == sorted(h["revision"] for h in history) and len(history) >= 2
    current = next(h for h in history if h["current"])
    assert current["revision"] == backend["revision"] == int(
        deployment.metadata.annotations["deployment.kubernetes.io/revision"])
    assert current["images"] == [container.image] and current["ready"] == 2
    assert {h["images"][0] for h in history} >= {"registry.local/pubsec/backend:1.4.1",
                                                 "registry.local/pubsec/backend:1.4.2"}
    assert all(h["change_cause"] and h["created"] for h in history)
    assert backend["hpa"] == {"name": "backend", "min": 2, "max": 10, "current": 2, "desired": 2, "at_max": False}
    qdrant = workloads["qdrant"]
    assert qdrant["history"] == [] and qdrant["hpa"] is None
    assert [(p["name"], p["phase"], p["capacity"]) for p in qdrant["pvcs"]] == [
        (f"qdrant-storage-qdrant-{i}", "Bound", "10Gi") for i in range(3)]
    assert qdrant["rollout"]["message"].startswith("StatefulSet qdrant successfully rolled out")
    assert sorted(p["name"] for p in qdrant["pods"]) == ["qdrant-0", "qdrant-1", "qdrant-2"]


def test_names_and_kinds_select(lab, ansible_module):
    result = ansible_module("k8s_workload_info", connection(lab, names=["sts/redis", "backend", "ds/log-shipper"],
                                                            env_vars=["REDIS_ENABLED"]), check=True)
    assert result["changed"] is False and result["status"] == "ok"
    assert [(w["kind"], w["name"]) for w in result["workloads"]] == [
        ("StatefulSet", "redis"), ("Deployment", "backend"), ("DaemonSet", "log-shipper")]
    assert result["workloads"][2]["rollout"]["complete"] is True
    assert result["workloads"][1]["env"] == {"REDIS_ENABLED": "true"}


def test_missing_workload_is_a_finding(lab, ansible_module):
    result = ansible_module("k8s_workload_info", connection(lab, names=["deployment/nope", "ghost"]))
    assert result["status"] == "down" and result["workloads"] == []
    assert [f["evidence"] for f in result["findings"]] == [
        {"workload": "nope", "kind": "Deployment", "kinds": ["Deployment"]},
        {"workload": "ghost", "kind": None, "kinds": ["Deployment", "StatefulSet"]}]


def test_failing_rollout_names_the_revision_to_roll_back_to(lab, ansible_module):
    with probe(lab) as (core, apps, ns):
        healthy = ansible_module("k8s_workload_info", connection(lab, names=[NAME]))
        crashing = break_rollout(core, apps, ns)
        result = ansible_module("k8s_workload_info", connection(lab, names=[NAME], recent_minutes=5))
    assert healthy["status"] == "ok", healthy["findings"]
    assert healthy["workloads"][0]["env"] == {"REDIS_ENABLED": None, "LLM_PROVIDER": "anthropic",
                                              "CACHE_ONLY_MODE": None}
    assert result["status"] == "down"
    found = {f["id"]: f for f in result["findings"]}
    assert set(found) == {"k8s.rollout_failing", "k8s.no_ready_replicas", "k8s.rollout_stuck", "k8s.pvc_not_bound"}
    failing = found["k8s.rollout_failing"]["evidence"]
    replicasets = {h["revision"]: h["replicaset"] for h in result["workloads"][0]["history"]}
    assert failing | {"minutes_ago": 0} == {
        "workload": NAME, "kind": "Deployment", "revision": 2, "previous_revision": 1, "image": BAD,
        "previous_image": GOOD, "replicaset": replicasets[2], "previous_replicaset": replicasets[1],
        "change_cause": "probe 2.0", "minutes_ago": 0, "pods": crashing, "reasons": ["CrashLoopBackOff", "Error"]}
    assert all(pod.startswith(replicasets[2]) for pod in crashing)
    assert 0 <= failing["minutes_ago"] < 5
    assert "roll back to revision 1 (image registry.local/pubsec/reader-probe:1.0)" in found[
        "k8s.rollout_failing"]["summary"]
    assert found["k8s.no_ready_replicas"]["evidence"] == {"workload": NAME, "kind": "Deployment", "desired": 2,
                                                          "ready": 0}
    assert found["k8s.pvc_not_bound"]["evidence"] == {"workload": NAME, "kind": "Deployment",
                                                      "pvc": f"{NAME}-data", "phase": "Missing"}
    entry = result["workloads"][0]
    assert entry["rollout"]["deadline_exceeded"] is True and entry["rollout"]["complete"] is False
    assert [(h["revision"], h["images"], h["current"]) for h in entry["history"]] == [
        (1, [GOOD], False), (2, [BAD], True)]


def test_hpa_at_max_is_a_finding(lab, ansible_module):
    with probe(lab) as (_core, _apps, ns), k8s.api(lab.service("k8s")) as client:
        hpa = AutoscalingV2Api(client)
        hpa.create_namespaced_horizontal_pod_autoscaler(ns, {
            "metadata": {"name": NAME},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME},
                     "minReplicas": 1, "maxReplicas": 2},
            "status": {"currentReplicas": 2, "desiredReplicas": 2}})
        try:
            result = ansible_module("k8s_workload_info", connection(lab, names=[f"deployment/{NAME}"]))
        finally:
            hpa.delete_namespaced_horizontal_pod_autoscaler(NAME, ns)
    assert result["status"] == "degraded"
    [at_max] = result["findings"]
    assert at_max["id"] == "k8s.hpa_at_max"
    assert at_max["evidence"] == {"workload": NAME, "kind": "Deployment", "hpa": NAME, "max": 2, "current": 2}


def test_unreachable_api_is_a_finding(lab, ansible_module, tmp_path):
    result = ansible_module("k8s_workload_info", connection(lab, kubeconfig=closed_port_kubeconfig(lab, tmp_path)))
    assert result["failed"] is False and "Traceback" not in result["_stdout"]
    assert result["status"] == "unknown" and result["workloads"] == []
    assert [f["id"] for f in result["findings"]] == ["k8s.api_unreachable"]


@pytest.mark.parametrize(("args", "option"), [
    ({"kinds": ["Job"]}, "kinds"),
    ({"names": ["cronjob/nightly"]}, "names"),
    ({"recent_minutes": 0}, "recent_minutes"),
    ({"env_vars": "REDIS_ENABLED", "recent_minutes": "an hour"}, "recent_minutes"),
])
def test_bad_arguments_name_the_option(lab, ansible_module, args, option):
    result = ansible_module("k8s_workload_info", connection(lab, **args))
    assert result["failed"] is True and option in result["msg"]
    assert "Traceback" not in result["_stdout"]
