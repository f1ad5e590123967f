"""The lab's Qdrant stand-in, read and changed over HTTP as Qdrant's REST API, and its two faults."""

from __future__ import annotations

import json
import tarfile
import urllib.request
from pathlib import Path

import kubernetes
import pytest

from lab import faults, k8s, qdrant, qdrant_server
from lab.core import wait_until


def all_points(info: dict, collection: str = "documents") -> list[dict]:
    """Every point of a collection (id, payload, vector), read page by page with the scroll API."""
    points, offset = [], None
    while True:
        code, page = qdrant.call(info, "POST", f"/collections/{collection}/points/scroll",
                                 {"limit": 128, "offset": offset, "with_payload": True, "with_vector": True})
        assert code == 200, page
        points += page["points"]
        offset = page["next_page_offset"]
        if offset is None:
            return points


def pods(lab, selector: str) -> list:
    with k8s.api(lab.service("k8s")) as client:
        return kubernetes.client.CoreV1Api(client).list_namespaced_pod(k8s.NAMESPACE, label_selector=selector).items


@pytest.fixture
def info(lab):
    return lab.service("qdrant")


def test_service_info_names_url_key_and_snapshots(info):
    assert info["url"].startswith("http://127.0.0.1:")
    assert info["api_key"] and info["collections"] == ["documents"]
    assert Path(info["snapshots_path"]).is_dir()


def test_seeded_collection_answers_like_qdrant(info):
    code, collection = qdrant.call(info, "GET", "/collections/documents")
    assert code == 200
    assert (collection["status"], collection["points_count"]) == ("green", qdrant.POINTS)
    assert collection["config"]["params"]["vectors"] == {"size": qdrant.DIM, "distance": "Cosine"}
    with urllib.request.urlopen(urllib.request.Request(f"{info['url']}/collections",
                                                       headers={"api-key": info["api_key"]})) as resp:
        envelope = json.loads(resp.read())
    assert envelope["status"] == "ok" and isinstance(envelope["time"], float)
    assert envelope["result"] == {"collections": [{"name": "documents"}]}
    assert all_points(info) == qdrant.seed_points()


def test_api_key_is_required_except_for_health(info):
    assert qdrant.call(dict(info, api_key=""), "GET", "/collections") == (
        401, "Must provide an API key or an Authorization bearer token")
    assert qdrant.call(dict(info, api_key="wrong"), "GET", "/collections")[0] == 401
    assert qdrant.call(dict(info, api_key=""), "GET", "/readyz") == (200, "all shards are ready")
    assert qdrant.call(dict(info, api_key=""), "GET", "/")[1]["version"] == qdrant_server.VERSION


def test_seed_snapshot_is_a_file_holding_the_points(info):
    code, snapshots = qdrant.call(info, "GET", "/collections/documents/snapshots")
    assert code == 200 and snapshots
    newest = max(snapshots, key=lambda s: s["creation_time"])
    path = Path(info["snapshots_path"], "documents", newest["name"])
    assert path.stat().st_size == newest["size"]
    with tarfile.open(path) as tar:
        lines = tar.extractfile("points.jsonl").read().decode().splitlines()
    assert len(lines) == qdrant.POINTS


def test_missing_collection_answers_not_found(info):
    assert qdrant.call(info, "GET", "/collections/nothing-here") == (
        404, "Not found: Collection `nothing-here` doesn't exist!")


def test_data_lost_fault_deletes_and_heal_recovers_the_points(lab, info):
    before = all_points(info)
    faults.inject(lab, "qdrant-data-lost")
    try:
        assert qdrant.call(info, "GET", "/collections")[1] == {"collections": []}
        # Like Qdrant: the files stay, but the API lists snapshots only of existing collections.
        assert qdrant.call(info, "GET", "/collections/documents/snapshots")[0] == 404
        assert qdrant.newest_snapshot(info) is not None
        log = read_backend_log(lab)
        assert "Collection `documents` doesn't exist!" in log
    finally:
        faults.heal(lab, "qdrant-data-lost")
    assert all_points(info) == before
    assert "qdrant-data-lost" not in lab.load()["faults"]


def read_backend_log(lab) -> str:
    name = pods(lab, "app=backend")[0].metadata.name
    with k8s.api(lab.service("k8s")) as client:
        return kubernetes.client.CoreV1Api(client).read_namespaced_pod_log(name, k8s.NAMESPACE)


def test_qdrant_down_fault_follows_the_cluster(lab, info):
    faults.inject(lab, "qdrant-down")
    try:
        marked = [p for p in pods(lab, "app=qdrant") if (p.metadata.annotations or {}).get(qdrant.CRASHLOOP)]
        assert len(marked) == 3
        assert k8s.workloads(lab)["qdrant"]["ready"] == 0
        code, error = qdrant.call(info, "GET", "/healthz", timeout=2)
        assert code is None and "closed connection" in error
        assert "Qdrant connection error" in read_backend_log(lab)
    finally:
        faults.heal(lab, "qdrant-down")
    assert qdrant.call(info, "GET", "/collections/documents")[1]["points_count"] == qdrant.POINTS
    ready = [p for p in pods(lab, "app=qdrant") if any(c.type == "Ready" and c.status == "True"
                                                       for c in p.status.conditions or [])]
    assert len(ready) == 3
    assert not [p for p in ready if (p.metadata.annotations or {}).get(qdrant.CRASHLOOP)]


def test_recover_into_existing_collection_refuses_other_vectors(info):
    snapshot = qdrant.newest_snapshot(info)
    assert qdrant.call(info, "PUT", "/collections/scratch", {"vectors": {"size": 3, "distance": "Dot"}})[0] == 200
    try:
        code, error = qdrant.call(info, "PUT", "/collections/scratch/snapshots/recover",
                                  {"location": snapshot.as_uri()})
        assert code == 400 and "not compatible" in error
        outside = qdrant.call(info, "PUT", "/collections/scratch/snapshots/recover",
                              {"location": Path(info["data_dir"], "collections", "documents.json").as_uri()})
        assert outside[0] == 403
    finally:
        qdrant.call(info, "DELETE", "/collections/scratch")
    wait_until(lambda: qdrant.call(info, "GET", "/collections")[1] == {"collections": [{"name": "documents"}]},
               5, "the scratch collection to be gone")
