"""qdrant_snapshot_restore against the lab: the Kubernetes stand-in and its controller loop play the StatefulSet,
the Qdrant stand-in the snapshot API. Backend state is read over HTTP (Qdrant) and the kubernetes client."""

from __future__ import annotations

import json

import kubernetes
import pytest
from conftest import run_module
from test_lab_qdrant import all_points

from lab import faults, k8s, qdrant
from lab.core import wait_until

PROBE = "documents_restore_probe"


@pytest.fixture
def info(lab):
    info = lab.service("qdrant")
    yield info
    # Every test leaves the seeded state: documents as seeded, nothing else, qdrant at 3 ready replicas.
    if collection_names(info) != ["documents"] or points_count(info) != qdrant.POINTS:
        for name in collection_names(info):
            qdrant.call(info, "DELETE", f"/collections/{name}")
        faults.heal(lab, "qdrant-data-lost")
    assert statefulset(lab) == (3, 3)


def collection_names(info):
    return [c["name"] for c in qdrant.call(info, "GET", "/collections")[1]["collections"]]


def points_count(info, name="documents"):
    code, result = qdrant.call(info, "GET", f"/collections/{name}")
    return result["points_count"] if code == 200 else None


def statefulset(lab):
    """(spec.replicas, status.readyReplicas) of StatefulSet qdrant."""
    with k8s.api(lab.service("k8s")) as client:
        sts = kubernetes.client.AppsV1Api(client).read_namespaced_stateful_set("qdrant", k8s.NAMESPACE)
    return sts.spec.replicas, sts.status.ready_replicas


def pod_uids(lab):
    with k8s.api(lab.service("k8s")) as client:
        pods = kubernetes.client.CoreV1Api(client).list_namespaced_pod(k8s.NAMESPACE, label_selector="app=qdrant")
    return {p.metadata.name: p.metadata.uid for p in pods.items}


def printed_by_the_module(stdout: str) -> str:
    """Ansible's output without its echo of the ad-hoc task: for every failed task ansible-core prints
    "Origin: <adhoc ... task>" and the arguments typed on the command line (api_key among them, unless the
    line is cut short before it), on one line starting "{'action': "."""
    return "\n".join(line for line in stdout.splitlines() if not line.startswith("{'action': 'sre.runbooks."))


def restore(lab, info, check=False, **extra):
    cluster = lab.service("k8s")
    args = {"url": info["url"], "api_key": info["api_key"], "collection": "documents",
            "snapshots_path": info["snapshots_path"], "kubeconfig": cluster["kubeconfig"],
            "context": cluster["context"], "namespace": cluster["namespace"], "wait_timeout": 60}
    args.update(extra)
    result = run_module("qdrant_snapshot_restore", args, lab.root, check=check, diff=True)
    assert info["api_key"] not in json.dumps({k: v for k, v in result.items() if k != "_stdout"})
    assert info["api_key"] not in printed_by_the_module(result["_stdout"])
    return result


@pytest.fixture
def data_lost(lab, info):
    faults.inject(lab, "qdrant-data-lost")
    yield info
    faults.heal(lab, "qdrant-data-lost")


def test_healthy_collection_is_left_alone(lab, info):
    uids = pod_uids(lab)
    result = restore(lab, info)
    assert result["failed"] is False and result["changed"] is False and result["actions"] == []
    assert "nothing to restore" in result["msg"]
    assert pod_uids(lab) == uids and points_count(info) == qdrant.POINTS


def test_check_mode_plans_and_changes_nothing(lab, data_lost):
    info, uids = data_lost, pod_uids(lab)
    result = restore(lab, info, check=True)
    assert result["failed"] is False and result["changed"] is True and result["check_mode"] is True
    assert result["before"]["collection"] == {"exists": False, "status": None, "points": 0}
    assert result["after"]["collection"]["exists"] is True and result["after"]["statefulset"]["replicas"] == 3
    assert "+++ after" in result["_stdout"] and '"exists": true' in result["_stdout"]  # the --diff display
    plan = "\n".join(result["actions"])
    assert "placeholder" in plan and "to 0 replicas" in plan and "recover collection documents" in plan
    assert result["snapshot"]["location"].endswith("/documents/")
    assert collection_names(info) == [] and pod_uids(lab) == uids and statefulset(lab) == (3, 3)


def test_restores_lost_collection_with_statefulset_stopped(lab, data_lost):
    info, uids = data_lost, pod_uids(lab)
    newest = qdrant.newest_snapshot(info)
    result = restore(lab, info)
    assert result["failed"] is False, result.get("msg")
    assert result["changed"] is True and result["check_mode"] is False
    assert result["snapshot"]["name"] == newest.name and result["snapshot"]["points"] == qdrant.POINTS
    assert result["after"] == {"collection": {"exists": True, "status": "green", "points": qdrant.POINTS},
                               "statefulset": {"replicas": 3, "ready": 3}}
    assert result["duration"] > 0
    # Backend: the points are back, nothing else was left behind, every qdrant pod was stopped and recreated.
    assert collection_names(info) == ["documents"]
    assert all_points(info) == qdrant.seed_points()
    assert statefulset(lab) == (3, 3)
    after = pod_uids(lab)
    assert sorted(after) == sorted(uids) and not set(after.values()) & set(uids.values())
    again = restore(lab, info)
    assert again["changed"] is False and again["actions"] == []
    assert pod_uids(lab) == after and collection_names(info) == ["documents"]
    assert all_points(info) == qdrant.seed_points()


def test_refuses_to_lose_points_unless_forced(lab, info):
    extra = [{"id": 100000 + n, "vector": [0.5] * qdrant.DIM, "payload": {"doc_id": "late"}} for n in range(5)]
    assert qdrant.call(info, "PUT", "/collections/documents/points?wait=true", {"points": extra})[0] == 200
    uids = pod_uids(lab)
    result = restore(lab, info, min_points=1000)
    assert result["failed"] is True and result["changed"] is False
    assert "holds 305 points" in result["msg"] and "only 300" in result["msg"] and "force=true" in result["msg"]
    assert points_count(info) == 305 and PROBE not in collection_names(info) and pod_uids(lab) == uids
    forced = restore(lab, info, force=True, snapshot=qdrant.newest_snapshot(info).name)
    assert forced["failed"] is False and forced["changed"] is True, forced.get("msg")
    assert forced["before"]["collection"]["points"] == 305 and points_count(info) == qdrant.POINTS


def test_unknown_snapshot_is_refused(lab, info):
    uids = pod_uids(lab)
    result = restore(lab, info, force=True, snapshot="documents-0-2020-01-01-00-00-00.snapshot")
    assert result["failed"] is True and result["changed"] is False
    assert "not found" in result["msg"] and qdrant.newest_snapshot(info).name in result["msg"]
    assert pod_uids(lab) == uids and points_count(info) == qdrant.POINTS


def test_unreadable_snapshot_fails_before_anything_stops(lab, info):
    uids = pod_uids(lab)
    result = restore(lab, info, force=True, snapshots_path="/nonexistent/snapshots")
    assert result["failed"] is True and result["changed"] is False
    assert "does not exist" in result["msg"]
    assert pod_uids(lab) == uids and collection_names(info) == ["documents"]


def test_failed_step_scales_back_and_reports_the_change(lab, info):
    # wait_timeout 0: the pods cannot be gone at the first look, so the step after the scale-down fails.
    result = restore(lab, info, force=True, wait_timeout=0)
    assert result["failed"] is True and result["changed"] is True
    assert "were not gone" in result["msg"] and "scaled back to 3 replicas" in result["msg"]
    wait_until(lambda: statefulset(lab) == (3, 3), 60, "StatefulSet qdrant to be back at 3 ready replicas")
    wait_until(lambda: qdrant.call(info, "GET", "/healthz", timeout=2)[0] == 200, 30, "Qdrant to answer")
    assert points_count(info) == qdrant.POINTS


def test_unreachable_qdrant_is_refused_cleanly(lab, info):
    uids = pod_uids(lab)
    result = restore(lab, info, url="http://127.0.0.1:1")
    assert result["failed"] is True and result["changed"] is False
    assert "does not answer" in result["msg"] and "Traceback" not in result["msg"]
    assert pod_uids(lab) == uids


def test_bad_arguments_name_the_option(lab, info):
    uids = pod_uids(lab)
    missing = restore(lab, info, collection=None)
    assert missing["failed"] is True and "collection" in missing["msg"]
    negative = restore(lab, info, replicas=-1)
    assert negative["failed"] is True and "replicas must be 0 or more" in negative["msg"]
    assert statefulset(lab) == (3, 3) and pod_uids(lab) == uids
