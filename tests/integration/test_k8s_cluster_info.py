"""k8s_cluster_info against the lab's Kubernetes API stand-in and its controller loop."""

from __future__ import annotations

import pytest
from k8s_probe import (
    NAME,
    NODE,
    bad_node,
    break_rollout,
    closed_port_kubeconfig,
    connection,
    frozen_pod,
    probe,
    waiting,
)


def by_id(result: dict) -> dict:
    found = {}
    for item in result["findings"]:
        found.setdefault(item["id"], []).append(item)
    return found


def test_seeded_namespace_is_healthy(lab, ansible_module):
    result = ansible_module("k8s_cluster_info", connection(lab))
    assert result["status"] == "ok", result["findings"]
    assert [(n["name"], n["ready"], n["unschedulable"]) for n in result["nodes"]][:3] == [
        ("node-1", True, False), ("node-2", True, False), ("node-3", True, False)]
    qdrant = [p for p in result["pods"] if p["workload"] == "qdrant"]
    assert sorted(p["name"] for p in qdrant) == ["qdrant-0", "qdrant-1", "qdrant-2"]
    assert all(p["kind"] == "StatefulSet" and p["ready"] and p["phase"] == "Running" and p["node"] for p in qdrant)
    backend = next(w for w in result["workloads"] if w["name"] == "backend")
    assert backend == {"name": "backend", "kind": "Deployment", "desired": 2, "pods": 2, "ready": 2}
    assert {w["kind"] for w in result["workloads"]} >= {"Deployment", "StatefulSet"}


def test_check_mode_reads_the_same(lab, ansible_module):
    checked = ansible_module("k8s_cluster_info", connection(lab), check=True)
    run = ansible_module("k8s_cluster_info", connection(lab))
    assert checked["status"] == run["status"] == "ok" and checked["changed"] is run["changed"] is False
    assert len(checked["pods"]) >= 9

    def seen(result):
        return ([(p["name"], p["ready"]) for p in result["pods"]], [(n["name"], n["ready"]) for n in result["nodes"]])
    assert seen(checked) == seen(run)


def test_crashlooping_rollout_is_one_finding_per_workload(lab, ansible_module):
    with probe(lab) as (core, apps, ns):
        crashing = break_rollout(core, apps, ns)
        result = ansible_module("k8s_cluster_info", connection(lab))
    assert result["status"] == "down"
    found = by_id(result)
    [loop] = found["k8s.pods_crashlooping"]
    assert loop["severity"] == "critical"
    assert loop["evidence"] == {"workload": NAME, "kind": "Deployment", "pods": crashing,
                                "reasons": ["CrashLoopBackOff", "Error"]}
    [none_ready] = found["k8s.workload_no_ready_pods"]
    assert (none_ready["evidence"]["workload"], none_ready["evidence"]["kind"]) == (NAME, "Deployment")
    assert none_ready["evidence"]["desired"] == 2 and none_ready["evidence"]["pods"] == crashing
    pods = {p["name"]: p for p in result["pods"] if p["workload"] == NAME}
    assert sorted(pods) == crashing
    assert all(p["status"] == "CrashLoopBackOff" and not p["ready"] and p["restarts"] >= 1 for p in pods.values())
    assert all(p["containers"][0]["last_reason"] == "Error" for p in pods.values())
    # Only the probe is broken.
    assert {f["evidence"].get("workload") for f in result["findings"]} == {NAME}


def test_node_and_stuck_pod_problems(lab, ansible_module):
    with bad_node(lab) as (core, ns):
        frozen_pod(core, ns, "reader-pull", waiting("ImagePullBackOff"))
        frozen_pod(core, ns, "reader-oom", waiting("CrashLoopBackOff", last="OOMKilled"))
        frozen_pod(core, ns, "reader-pending", waiting("ContainerCreating"))
        result = ansible_module("k8s_cluster_info", connection(lab, pending_seconds=0))
    found = by_id(result)
    assert result["status"] == "degraded"
    [not_ready] = found["k8s.node_not_ready"]
    assert not_ready["evidence"] == {"node": NODE, "reason": "KubeletNotReady", "message": "PLEG is not healthy"}
    assert [f["evidence"] for f in found["k8s.node_pressure"]] == [{"node": NODE, "conditions": ["MemoryPressure"]}]
    assert [f["evidence"] for f in found["k8s.node_cordoned"]] == [{"node": NODE}]
    pull = found["k8s.pods_image_pull_failing"][0]["evidence"]
    assert pull == {"workload": "reader-pull", "kind": "Pod", "pods": ["reader-pull"], "reasons": ["ImagePullBackOff"]}
    oom = found["k8s.pods_oom_killed"][0]["evidence"]
    assert oom["pods"] == ["reader-oom"] and oom["reasons"] == ["CrashLoopBackOff", "OOMKilled"]
    assert [f["evidence"]["pods"] for f in found["k8s.pods_crashlooping"]] == [["reader-oom"]]
    assert [f["evidence"]["pods"] for f in found["k8s.pods_pending"]] == [["reader-pending"]]
    node = next(n for n in result["nodes"] if n["name"] == NODE)
    assert node == {"name": NODE, "ready": False, "ready_reason": "KubeletNotReady",
                    "ready_message": "PLEG is not healthy", "unschedulable": True, "pressure": ["MemoryPressure"],
                    "internal_ip": None, "kubelet_version": None}


def test_without_nodes(lab, ansible_module):
    result = ansible_module("k8s_cluster_info", connection(lab, include_nodes=False))
    assert result["nodes"] == [] and result["pods"]


def test_unreachable_api_is_a_finding(lab, ansible_module, tmp_path):
    result = ansible_module("k8s_cluster_info", connection(lab, kubeconfig=closed_port_kubeconfig(lab, tmp_path),
                                                           request_timeout=2))
    assert result["failed"] is False and "Traceback" not in result["_stdout"]
    assert result["status"] == "unknown"
    [unreachable] = result["findings"]
    assert unreachable["id"] == "k8s.api_unreachable" and "Connection refused" in unreachable["evidence"]["error"]
    assert (result["nodes"], result["pods"], result["workloads"]) == ([], [], [])


@pytest.mark.parametrize(("args", "option"), [
    ({"pending_seconds": "soon"}, "pending_seconds"),
    ({"pending_seconds": -1}, "pending_seconds"),
    ({"context": "no-such-context"}, "context"),
    ({"request_timeout": 0}, "request_timeout"),
])
def test_bad_arguments_name_the_option(lab, ansible_module, args, option):
    result = ansible_module("k8s_cluster_info", connection(lab, **args))
    assert result["failed"] is True and option in result["msg"]
    assert "Traceback" not in result["_stdout"]
