"""The lab's Qdrant: a stand-in, not Qdrant.

No Qdrant server can be installed on this machine, so one Python process serves the part of Qdrant's REST
API (v1.x, the shapes of its openapi.json) that the runbooks use, over HTTP on 127.0.0.1:

    QDRANT__SERVICE__API_KEY=KEY python -m lab.qdrant serve --port P --data-dir DIR [--k8s-state FILE]

- ``GET /`` (version), ``/healthz``, ``/livez``, ``/readyz``: no API key needed, as in Qdrant;
- ``GET /collections``; ``GET|PUT|DELETE /collections/{name}`` (info: status, optimizer_status,
  points_count, indexed_vectors_count, segments_count, config.params.vectors...);
- ``PUT /collections/{name}/points`` (upsert), ``POST .../points/count``, ``POST .../points/scroll``;
- ``GET|POST /collections/{name}/snapshots`` (list: name, creation_time, size, checksum; create),
  ``GET|DELETE /collections/{name}/snapshots/{snapshot}``, ``PUT /collections/{name}/snapshots/recover``
  (``{"location": "file://..."}``, the file inside the snapshots directory; creates the collection when missing,
  refuses a snapshot whose vectors differ from an existing collection's);
- ``GET /cluster`` (enabled: peers, raft_info, consensus_thread_status, message_send_failures);
- ``GET /metrics`` (Prometheus text: app_info, collections_*, cluster_*; it needs the API key, as in Qdrant).
Answers are ``{"result": ..., "status": "ok", "time": s}``; errors ``{"status": {"error": "Not found: ..."}}``.
Every other path needs the ``api-key`` header (or ``Authorization: Bearer``): 401 without it.

Like Qdrant, it keeps a collection's snapshot files (``DIR/snapshots/<collection>/``) when the collection is
deleted, and lists them only while the collection exists. Data lives in files: ``DIR/collections/<name>.json``
(config and points: ids, vectors, payloads) and snapshots, which are tar archives of the config and the points;
a recovery really brings those points back. Not served: search and every other API, gRPC, shards, aliases,
full-storage snapshots, http(s) snapshot locations, optimizers (collections are always green).

It "runs in the cluster": while the Kubernetes stand-in's workloads file says StatefulSet qdrant has no ready
pod, it closes every connection without answering (a service without endpoints). Without the file it serves.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import re
import secrets
import tarfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from lab.core import read_json, write_json

VERSION = "1.9.2"
PEER_IDS = (5520117418417463, 6907582101632187, 8812304017756313)
OPEN_PATHS = re.compile(r"^/(healthz|livez(/.*)?|readyz(/.*)?)?$")


def _utc(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")


class QdrantError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


class Store:
    """Collections and snapshots in files under one data directory."""

    def __init__(self, root: Path):
        self.collections = root / "collections"
        self.snapshots = root / "snapshots"
        for path in (self.collections, self.snapshots):
            path.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.collections.glob("*.json"))

    def get(self, name: str) -> dict:
        path = self.collections / f"{name}.json"
        if not path.is_file():
            raise QdrantError(404, f"Not found: Collection `{name}` doesn't exist!")
        return json.loads(path.read_text())

    def put(self, name: str, data: dict) -> None:
        write_json(self.collections / f"{name}.json", data)

    def snapshot_files(self, name: str) -> list[Path]:
        self.get(name)
        return sorted((self.snapshots / name).glob("*.snapshot"))

    def create_snapshot(self, name: str) -> Path:
        data = self.get(name)
        folder = self.snapshots / name
        folder.mkdir(exist_ok=True)
        stamp = time.time()
        while True:
            path = folder / f"{name}-{PEER_IDS[0]}-{time.strftime('%Y-%m-%d-%H-%M-%S', time.gmtime(stamp))}.snapshot"
            if not path.exists():
                break
            stamp += 1
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for member, content in (("config.json", json.dumps(data["config"])),
                                    ("points.jsonl", "".join(json.dumps(p) + "\n" for p in data["points"].values()))):
                info = tarfile.TarInfo(member)
                info.size, info.mtime = len(content.encode()), int(stamp)
                tar.addfile(info, io.BytesIO(content.encode()))
        tmp = folder / f".{path.name}.tmp"
        tmp.write_bytes(buffer.getvalue())
        tmp.replace(path)
        return path

    def recover(self, name: str, location: str) -> None:
        parsed = urllib.parse.urlsplit(location)
        if parsed.scheme != "file":
            raise QdrantError(400, f"Bad request: this stand-in recovers only file:// locations, not {location!r}")
        path = Path(urllib.parse.unquote(parsed.path))
        if not path.is_file():
            raise QdrantError(400, f'Bad request: Snapshot file "{path}" does not exist')
        if not path.resolve().is_relative_to(self.snapshots.resolve()):
            raise QdrantError(403, "Forbidden: Snapshot file path must be inside the snapshots directory "
                                   f'"{self.snapshots.resolve()}"')
        with tarfile.open(path) as tar:
            config = json.load(tar.extractfile("config.json"))
            points = [json.loads(line) for line in tar.extractfile("points.jsonl").read().decode().splitlines()]
        if (self.collections / f"{name}.json").is_file():
            current = self.get(name)["config"]["params"]
            if current["vectors"] != config["params"]["vectors"]:
                raise QdrantError(400, "Wrong input: Snapshot is not compatible with existing collection: Collection "
                                       f"vectors: {current['vectors']} Snapshot Vectors: {config['params']['vectors']}")
        self.put(name, {"config": config, "points": {str(p["id"]): p for p in points}})


def _config(body: dict) -> dict:
    vectors = body.get("vectors")
    if not isinstance(vectors, dict) or not isinstance(vectors.get("size"), int) or vectors.get("distance") not in (
            "Cosine", "Euclid", "Dot", "Manhattan"):
        raise QdrantError(400, "Validation error in JSON body: vectors: expected {size: int, distance: "
                               "Cosine|Euclid|Dot|Manhattan}")
    return {"params": {"vectors": {"size": vectors["size"], "distance": vectors["distance"]},
                       "shard_number": body.get("shard_number") or 1, "replication_factor": 1,
                       "write_consistency_factor": 1, "on_disk_payload": True},
            "hnsw_config": {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000, "max_indexing_threads": 0,
                            "on_disk": False},
            "optimizer_config": {"deleted_threshold": 0.2, "vacuum_min_vector_number": 1000,
                                 "default_segment_number": 0, "max_segment_size": None, "memmap_threshold": None,
                                 "indexing_threshold": 20000, "flush_interval_sec": 5,
                                 "max_optimization_threads": None},
            "wal_config": {"wal_capacity_mb": 32, "wal_segments_ahead": 0}, "quantization_config": None}


def _info(data: dict) -> dict:
    count = len(data["points"])
    return {"status": "green", "optimizer_status": "ok", "indexed_vectors_count": 0, "points_count": count,
            "segments_count": 2 if count else 1, "config": data["config"], "payload_schema": {}}


def _upsert(data: dict, body: dict) -> None:
    size = data["config"]["params"]["vectors"]["size"]
    for point in body.get("points") or []:
        vector = point.get("vector")
        if not isinstance(vector, list) or len(vector) != size:
            got = len(vector) if isinstance(vector, list) else 0
            raise QdrantError(400, f"Wrong input: Vector dimension error: expected dim: {size}, got {got}")
        data["points"][str(point["id"])] = {"id": point["id"], "vector": vector, "payload": point.get("payload")}



def _cluster(k8s_state: Path | None) -> dict:
    desired, ready = 3, 3
    qdrant = _workload(k8s_state)
    if qdrant:
        desired, ready = max(qdrant.get("desired", 1), 1), qdrant.get("ready", 0)
    peers = {str(PEER_IDS[n % 3] + n // 3): {"uri": f"http://qdrant-{n}.qdrant-headless:6335/"} for n in range(desired)}
    failures = {peer["uri"]: {"count": 12, "latest_error": "Can't send Raft message over channel: transport error",
                              "latest_error_timestamp": _utc(time.time())}
                for n, peer in enumerate(peers.values()) if n >= max(ready, 1)}
    return {"status": "enabled", "peer_id": PEER_IDS[0], "peers": peers,
            "raft_info": {"term": 4, "commit": 211, "pending_operations": 0, "leader": PEER_IDS[0],
                          "role": "Leader", "is_voter": True},
            "consensus_thread_status": {"consensus_thread_status": "working", "last_update": _utc(time.time())},
            "message_send_failures": failures}


def _metrics(store: Store, k8s_state: Path | None) -> str:
    """GET /metrics: Qdrant's node metrics in Prometheus text (the names of its monitoring docs), from the
    collections on disk and the cluster view of GET /cluster."""
    names = store.names()
    vectors = sum(len(store.get(name)["points"]) for name in names)
    cluster = _cluster(k8s_state)
    raft = cluster["raft_info"]
    values = [("app_info", "gauge", f'{{name="qdrant",version="{VERSION}"}}', 1),
              ("app_status_recovery_mode", "gauge", "", 0),
              ("collections_total", "gauge", "", len(names)),
              ("collections_vector_total", "gauge", "", vectors),
              ("collections_full_total", "gauge", "", 0),
              ("cluster_enabled", "gauge", "", 1),
              ("cluster_peers_total", "gauge", "", len(cluster["peers"])),
              ("cluster_term", "counter", "", raft["term"]),
              ("cluster_commit", "counter", "", raft["commit"]),
              ("cluster_pending_operations_total", "gauge", "", raft["pending_operations"]),
              ("cluster_voter", "gauge", "", int(raft["is_voter"]))]
    return "".join(f"# TYPE {name} {kind}\n{name}{labels} {value}\n" for name, kind, labels, value in values)


def _workload(k8s_state: Path | None) -> dict | None:
    """StatefulSet qdrant in the Kubernetes stand-in's workloads file (None without the file)."""
    return read_json(k8s_state, {}).get("workloads", {}).get("qdrant") if k8s_state else None


class Handler(BaseHTTPRequestHandler):
    server_version = f"qdrant/{VERSION} (lab stand-in)"

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_PUT(self):
        self._serve("PUT")

    def do_DELETE(self):
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        start, path = time.monotonic(), urllib.parse.urlsplit(self.path).path.rstrip("/") or "/"
        key = self.server.api_key
        if key and not OPEN_PATHS.match(path):
            sent = self.headers.get("api-key") or (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            if not sent or not secrets.compare_digest(sent, key):
                why = "Invalid API key or JWT" if sent else "Must provide an API key or an Authorization bearer token"
                return self._reply(401, why.encode(), "text/plain")
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}") if length else {}
            with self.server.store.lock:
                result = self._route(method, path, body)
        except QdrantError as exc:
            return self._json(exc.code, {"status": {"error": str(exc)}, "time": time.monotonic() - start})
        except (ValueError, KeyError, TypeError) as exc:
            return self._json(400, {"status": {"error": f"Bad request: {exc}"}, "time": time.monotonic() - start})
        if isinstance(result, tuple):
            return self._reply(200, *result)
        self._json(200, {"result": result, "status": "ok", "time": round(time.monotonic() - start, 6)})

    def _route(self, method: str, path: str, body: dict):
        store: Store = self.server.store
        parts = path.strip("/").split("/")
        if path == "/":
            return (json.dumps({"title": "qdrant - vector search engine", "version": VERSION}).encode(),
                    "application/json")
        if parts[0] in ("healthz", "livez", "readyz"):
            return ({"healthz": b"healthz check passed", "livez": b"healthz check passed",
                     "readyz": b"all shards are ready"}[parts[0]], "text/plain")
        if (method, path) == ("GET", "/cluster"):
            return _cluster(self.server.k8s_state)
        if (method, path) == ("GET", "/metrics"):
            return _metrics(store, self.server.k8s_state).encode(), "text/plain; version=0.0.4"
        if (method, path) == ("GET", "/collections"):
            return {"collections": [{"name": name} for name in store.names()]}
        if parts[0] != "collections" or len(parts) < 2:
            raise QdrantError(404, f"Not found: {path}")
        name, rest = parts[1], parts[2:]
        if not rest:
            if method == "GET":
                return _info(store.get(name))
            if method == "DELETE":
                existed = (store.collections / f"{name}.json").is_file()
                (store.collections / f"{name}.json").unlink(missing_ok=True)
                return existed
            if method == "PUT":
                if (store.collections / f"{name}.json").is_file():
                    raise QdrantError(400, f"Wrong input: Collection `{name}` already exists!")
                store.put(name, {"config": _config(body), "points": {}})
                return True
        if rest == ["points"] and method == "PUT":
            data = store.get(name)
            _upsert(data, body)
            store.put(name, data)
            return {"operation_id": len(data["points"]), "status": "completed"}
        if rest == ["points", "count"] and method == "POST":
            return {"count": len(store.get(name)["points"])}
        if rest == ["points", "scroll"] and method == "POST":
            return self._scroll(store.get(name), body)
        if rest == ["snapshots"] and method == "GET":
            return [self._describe(p) for p in store.snapshot_files(name)]
        if rest == ["snapshots"] and method == "POST":
            return self._describe(store.create_snapshot(name))
        if rest == ["snapshots", "recover"] and method == "PUT":
            store.recover(name, body["location"])
            return True
        if len(rest) == 2 and rest[0] == "snapshots" and method in ("GET", "DELETE"):
            found = [p for p in store.snapshot_files(name) if p.name == rest[1]]
            if not found:
                raise QdrantError(404, f"Not found: Snapshot {rest[1]} not found")
            if method == "DELETE":
                found[0].unlink()
                return True
            return found[0].read_bytes(), "application/octet-stream"
        raise QdrantError(404, f"Not found: {method} {path}")

    @staticmethod
    def _describe(path: Path) -> dict:
        content = path.read_bytes()
        return {"name": path.name, "creation_time": _utc(path.stat().st_mtime), "size": len(content),
                "checksum": hashlib.sha256(content).hexdigest()}

    @staticmethod
    def _scroll(data: dict, body: dict) -> dict:
        points = sorted(data["points"].values(), key=lambda p: (str(type(p["id"])), p["id"]))
        offset, limit = body.get("offset"), body.get("limit") or 10
        start = next((n for n, p in enumerate(points) if p["id"] == offset), 0) if offset is not None else 0
        page = points[start:start + limit]
        records = [{"id": p["id"], "payload": p["payload"] if body.get("with_payload", True) else None,
                    "vector": p["vector"] if body.get("with_vector") else None} for p in page]
        following = points[start + limit]["id"] if start + limit < len(points) else None
        return {"points": records, "next_page_offset": following}

    def _json(self, code: int, payload: dict) -> None:
        self._reply(code, json.dumps(payload).encode(), "application/json")

    def _reply(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print(f"{self.address_string()} {fmt % args}", flush=True)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, store: Store, api_key: str, k8s_state: Path | None):
        super().__init__(("127.0.0.1", port), Handler)
        self.store, self.api_key, self.k8s_state = store, api_key, k8s_state

    def verify_request(self, request, client_address) -> bool:
        """No ready qdrant pod: the connection is closed unanswered (a Service without endpoints)."""
        qdrant = _workload(self.k8s_state)
        return qdrant is None or qdrant.get("ready", 0) > 0


def serve(port: int, data_dir: Path, api_key: str, k8s_state: Path | None) -> None:
    server = Server(port, Store(data_dir), api_key, k8s_state)
    print(f"Qdrant stand-in serving http://127.0.0.1:{port} (data {data_dir})", flush=True)
    server.serve_forever()
