"""qdrant_info against the lab's Qdrant stand-in (over HTTP, with its API key), healthy and broken."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from lab import faults, qdrant


@pytest.fixture
def info(lab):
    return lab.service("qdrant")


def check(ansible_module, info, **extra):
    args = {"url": info["url"], "api_key": info["api_key"], "expected_collections": ["documents"],
            "snapshots_path": info["snapshots_path"], "timeout": 3}
    args.update(extra)
    result = ansible_module("qdrant_info", args)
    assert result["failed"] is False and result["changed"] is False, result.get("msg")
    assert info["api_key"] not in result["_stdout"]
    return result


def ids(result):
    return [f["id"] for f in result["findings"]]


def test_healthy_qdrant_reports_collection_snapshot_and_cluster(ansible_module, info):
    result = check(ansible_module, info)
    assert (result["status"], result["findings"]) == ("ok", [])
    assert result["reachable"] and result["ready"] and result["version"]
    [documents] = result["collections"]
    assert (documents["name"], documents["status"], documents["points_count"]) == ("documents", "green", qdrant.POINTS)
    assert documents["vectors"] == {"size": qdrant.DIM, "distance": "Cosine"}
    snapshot = documents["newest_snapshot"]
    assert snapshot["location"] == qdrant.newest_snapshot(info).as_uri()
    assert 0 <= snapshot["age_hours"] < 24
    assert result["cluster"]["status"] == "enabled" and result["cluster"]["peers"] == 3
    assert result["cluster"]["failing_peers"] == {}


def test_missing_collection_says_where_its_snapshots_are(lab, ansible_module, info):
    faults.inject(lab, "qdrant-data-lost")
    try:
        result = check(ansible_module, info)
    finally:
        faults.heal(lab, "qdrant-data-lost")
    assert result["status"] == "down" and ids(result) == ["qdrant.collection_missing"]
    evidence = result["findings"][0]["evidence"]
    assert evidence["collection"] == "documents" and evidence["snapshots_listed"] is False
    assert evidence["snapshot"] is None
    assert evidence["snapshots_location"] == Path(info["snapshots_path"], "documents").as_uri() + "/"
    assert qdrant.newest_snapshot(info).parent == Path(info["snapshots_path"], "documents")


def test_qdrant_down_is_a_finding_not_a_failure(lab, ansible_module, info):
    faults.inject(lab, "qdrant-down")
    try:
        result = check(ansible_module, info)
    finally:
        faults.heal(lab, "qdrant-down")
    assert result["status"] == "down" and ids(result) == ["qdrant.unreachable"]
    assert result["reachable"] is False and result["collections"] == []
    assert "does not answer" in result["findings"][0]["summary"]


def test_closed_and_hanging_ports_are_unreachable(ansible_module, info, hanging_port):
    refused = check(ansible_module, info, url="http://127.0.0.1:1")
    assert ids(refused) == ["qdrant.unreachable"] and "connection refused" in refused["findings"][0]["summary"]
    hung = check(ansible_module, info, url=f"http://127.0.0.1:{hanging_port}", timeout=1)
    assert ids(hung) == ["qdrant.unreachable"] and "timed out" in hung["findings"][0]["summary"]


def test_wrong_api_key_is_auth_failed_and_never_printed(ansible_module, info):
    result = check(ansible_module, dict(info, api_key="not-the-key-" + "x" * 8))
    assert result["status"] == "down" and ids(result) == ["qdrant.auth_failed"]
    assert "not-the-key-" not in result["_stdout"]


def test_stale_snapshot(ansible_module, info):
    snapshot = qdrant.newest_snapshot(info)
    stat = snapshot.stat()
    os.utime(snapshot, (stat.st_atime, time.time() - 50 * 3600))
    try:
        result = check(ansible_module, info, max_snapshot_age_hours=24)
        off = check(ansible_module, info, max_snapshot_age_hours=0)
    finally:
        os.utime(snapshot, (stat.st_atime, stat.st_mtime))
    assert result["status"] == "degraded" and ids(result) == ["qdrant.snapshot_stale"]
    evidence = result["findings"][0]["evidence"]
    assert evidence["collection"] == "documents" and 49.9 < evidence["age_hours"] < 51
    assert off["findings"] == []


def test_empty_collection_without_snapshot(ansible_module, info):
    assert qdrant.call(info, "PUT", "/collections/scratch", {"vectors": {"size": 4, "distance": "Dot"}})[0] == 200
    try:
        watched = check(ansible_module, info, expected_collections=["documents", "scratch"])
        unwatched = check(ansible_module, info)
    finally:
        qdrant.call(info, "DELETE", "/collections/scratch")
    assert sorted(ids(watched)) == ["qdrant.collection_empty", "qdrant.no_snapshot"]
    assert all(f["evidence"]["collection"] == "scratch" for f in watched["findings"])
    assert unwatched["findings"] == [] and len(unwatched["collections"]) == 2


def test_bad_arguments_name_the_option(ansible_module, info):
    result = ansible_module("qdrant_info", {"url": info["url"], "api_key": info["api_key"], "min_points": "many"})
    assert result["failed"] is True and "min_points" in result["msg"]
    missing = ansible_module("qdrant_info", {"api_key": info["api_key"]})
    assert missing["failed"] is True and "url" in missing["msg"]
    # On an argument error the ad-hoc CLI echoes the task's own command line; the module's result keeps it out.
    assert info["api_key"] not in json.dumps({k: v for k, v in result.items() if k != "_stdout"})
