"""Qdrant as a lab service: the stand-in of lab/qdrant_server.py (not a Qdrant server; it says what it serves),
started, seeded, described and broken here.

``up`` starts it with a random API key and seeds, through its REST API as any client would, the collection
``documents``: a few hundred points (ids, 8-dimensional vectors, payloads of document chunks) and one snapshot
taken at seed time. lab.json's service "qdrant" is ``{url, api_key, collections, snapshots_path, data_dir}``;
``snapshots_path`` is the directory file:// snapshot locations point into (Qdrant's ``storage.snapshots_path``,
``/qdrant/snapshots`` in the official image).

Faults:
- ``qdrant-down``: every qdrant pod gets the annotation ``lab.sre-runbooks/crashloop: "true"``, so the lab's
  controller loop makes it crash-loop; with no ready pod the stand-in stops answering. The backend pods log
  "Qdrant connection error". Heal: the marked pods are deleted; the StatefulSet controller recreates them.
- ``qdrant-data-lost``: the collection ``documents`` is deleted; its snapshot files stay where a restore finds
  them. Heal: recovered from its newest snapshot if it is still missing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import sys
from pathlib import Path

from lab import k8s, k8s_faults
from lab.core import REPO_ROOT, Lab, LabError, free_port, http, wait_until

COLLECTION, DIM, POINTS = "documents", 8, 300
CRASHLOOP = k8s.CRASHLOOP  # the marker qdrant-down puts on the qdrant pods
API_KEY_ENV = "QDRANT__SERVICE__API_KEY"  # what Qdrant itself reads its api_key from
SOURCES = ("security-policy.pdf", "procurement-guide.docx", "benefits-faq.html", "records-retention.pdf",
           "travel-directive.pdf", "accessibility-standard.html")


def call(info: dict, method: str, path: str, body: dict | None = None, timeout: float = 10) -> tuple:
    """One request to the stand-in with the API key: (status code or None when unreachable, result or error)."""
    code, raw = http(f"{info['url']}{path}", method, {"api-key": info["api_key"]}, body, timeout)
    if code is None:
        return None, raw
    try:
        parsed = json.loads(raw)
    except ValueError:
        return code, raw
    if code != 200:
        return code, (parsed.get("status") or {}).get("error", raw)
    return code, parsed.get("result") if "result" in parsed else parsed


def _ok(info: dict, method: str, path: str, body: dict | None = None):
    code, result = call(info, method, path, body)
    if code != 200:
        raise LabError(f"Qdrant stand-in: {method} {path} answered {code}: {result}")
    return result


def seed_points(count: int = POINTS, dim: int = DIM) -> list[dict]:
    rng = random.Random(20240611)
    return [{"id": n, "vector": [round(rng.uniform(-1, 1), 4) for _ in range(dim)],
             "payload": {"doc_id": f"doc-{n // 10:03d}", "chunk": n % 10, "source": SOURCES[(n // 10) % len(SOURCES)],
                         "text": f"Chunk {n % 10} of document {n // 10:03d}"}} for n in range(1, count + 1)]


def seed(info: dict) -> None:
    """The collection documents with its points and one snapshot (nothing when it already exists)."""
    if COLLECTION in [c["name"] for c in _ok(info, "GET", "/collections")["collections"]]:
        return
    _ok(info, "PUT", f"/collections/{COLLECTION}", {"vectors": {"size": DIM, "distance": "Cosine"}})
    points = seed_points()
    for start in range(0, len(points), 100):
        _ok(info, "PUT", f"/collections/{COLLECTION}/points?wait=true", {"points": points[start:start + 100]})
    _ok(info, "POST", f"/collections/{COLLECTION}/snapshots?wait=true")


def up(lab: Lab) -> dict:
    """Start the stand-in and seed it; return lab.json's "qdrant" service."""
    if lab.alive("qdrant") and lab.service("qdrant"):
        return lab.service("qdrant")
    data_dir, port = lab.path("qdrant"), free_port()
    info = {"url": f"http://127.0.0.1:{port}", "api_key": f"qdrant-lab-{secrets.token_hex(16)}",
            "collections": [COLLECTION], "snapshots_path": str(data_dir / "snapshots"), "data_dir": str(data_dir)}
    lab.spawn("qdrant", [sys.executable, "-m", "lab.qdrant", "serve", "--port", str(port), "--data-dir",
                         str(data_dir), "--k8s-state", str(k8s.workloads_file(lab))],
              env={"PYTHONPATH": str(REPO_ROOT), API_KEY_ENV: info["api_key"]})
    lab.wait_started("qdrant", lambda: call(info, "GET", "/healthz", timeout=1)[0] == 200, 15,
                     f"the Qdrant stand-in at {info['url']}")
    seed(info)  # a failed seed is undone by services.up
    return info


def down(lab: Lab) -> None:
    lab.stop("qdrant")


def status(lab: Lab) -> str:
    info = lab.service("qdrant")
    if not info or not lab.alive("qdrant"):
        return "qdrant: stopped"
    code, result = call(info, "GET", "/collections", timeout=2)
    if code is None:
        return f"qdrant: stand-in at {info['url']} not answering (no ready qdrant pod?)"
    counts = [f"{c['name']} {call(info, 'GET', '/collections/' + c['name'], timeout=2)[1]['points_count']} points"
              for c in result["collections"]]
    return f"qdrant: stand-in at {info['url']} (pid {lab.pid('qdrant')}), collections: {', '.join(counts) or 'none'}"


def newest_snapshot(info: dict, collection: str = COLLECTION) -> Path | None:
    """The newest snapshot file of a collection in the stand-in's snapshots directory (present or not)."""
    files = sorted(Path(info["snapshots_path"], collection).glob("*.snapshot"), key=lambda p: p.stat().st_mtime)
    return files[-1] if files else None


# -- faults ------------------------------------------------------------------------------------------------
def break_down(lab: Lab) -> None:
    client, core, _ = k8s_faults.apis(lab)
    with client:
        k8s_faults.mark_crashloop(core, "qdrant")
    wait_until(lambda: _qdrant_ready(lab) == 0, 30, "every qdrant pod to crash-loop")
    k8s.append_pod_logs(lab, "backend", [
        "ERROR app.vectorstore: Qdrant connection error: http://qdrant:6333 connection refused",
        "ERROR app.api: query failed: Qdrant connection error (retries exhausted)"])


def heal_down(lab: Lab) -> None:
    client, core, _ = k8s_faults.apis(lab)
    with client:
        k8s_faults.delete_marked(core, "qdrant")
    wanted = k8s.workloads(lab).get("qdrant", {}).get("desired", 1)
    wait_until(lambda: _qdrant_ready(lab) >= wanted and call(lab.service("qdrant"), "GET", "/healthz")[0] == 200,
               30, "the qdrant pods to be ready and Qdrant to answer")


def _qdrant_ready(lab: Lab) -> int:
    return k8s.workloads(lab).get("qdrant", {}).get("ready", 0)


def break_data_lost(lab: Lab) -> None:
    info = lab.service("qdrant")
    if not _ok(info, "DELETE", f"/collections/{COLLECTION}"):
        raise LabError(f"collection {COLLECTION} was already missing")
    k8s.append_pod_logs(lab, "backend", [
        f"ERROR app.vectorstore: Qdrant query failed: Collection `{COLLECTION}` doesn't exist!"])


def heal_data_lost(lab: Lab) -> None:
    info = lab.service("qdrant")
    if COLLECTION in [c["name"] for c in _ok(info, "GET", "/collections")["collections"]]:
        return
    snapshot = newest_snapshot(info)
    if snapshot is None:
        raise LabError(f"no snapshot of {COLLECTION} left to recover it from")
    _ok(info, "PUT", f"/collections/{COLLECTION}/snapshots/recover", {"location": snapshot.as_uri()})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.qdrant", description="The lab's Qdrant stand-in.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve", help="serve the part of Qdrant's REST API the runbooks use")
    run.add_argument("--port", type=int, required=True)
    run.add_argument("--data-dir", type=Path, required=True)
    run.add_argument("--k8s-state", type=Path, help="the lab's k8s/workloads.json (reachability follows qdrant)")
    args = parser.parse_args(argv)
    from lab import qdrant_server
    qdrant_server.serve(args.port, args.data_dir, os.environ.get(API_KEY_ENV, ""), args.k8s_state)


if __name__ == "__main__":
    main()
