# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Qdrant REST client: connection options handled once (doc fragment sre.runbooks.qdrant), the api-key header,
JSON in and out, Qdrant's answer envelope ({"result", "status", "time"}) opened and its errors typed.

Snapshot locations are the file:// URLs Qdrant's recover API takes for a snapshot on the node's own disk:
file://<snapshots_path>/<collection>/<snapshot name>. Qdrant keeps those files when it deletes the collection,
but lists them (GET /collections/{name}/snapshots) only while the collection exists.
"""

import json

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.six.moves.urllib.parse import quote

from ansible_collections.sre.runbooks.plugins.module_utils.errors import BackendUnavailable, RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.http_client import fetch, redact_url
from ansible_collections.sre.runbooks.plugins.module_utils.timestamps import seconds_since

DEFAULT_SNAPSHOTS_PATH = "/qdrant/snapshots"
BODY_LIMIT = 4 * 1024 * 1024


def qdrant_argument_spec():
    """Options of doc fragment sre.runbooks.qdrant."""
    return {
        "url": {"type": "str", "required": True},
        "api_key": {"type": "str", "no_log": True, "fallback": (env_fallback, ["QDRANT_API_KEY"])},
        "timeout": {"type": "float", "default": 10.0},
        "validate_certs": {"type": "bool", "default": True},
    }


class QdrantUnreachable(BackendUnavailable):
    """Qdrant did not answer (refused, closed, timed out, name not resolved)."""


class QdrantApiError(RunbookError):
    """Qdrant answered with an error; details carry status_code."""


class Qdrant:
    """One Qdrant endpoint (a node, or the Service in front of the nodes)."""

    def __init__(self, params):
        self.url = params["url"].rstrip("/")
        self.where = redact_url(self.url)
        self.api_key = params.get("api_key")
        self.timeout = params["timeout"]
        self.validate_certs = params["validate_certs"]

    def raw(self, method, path, body=None, timeout=None):
        """(status code, text) of one request; QdrantUnreachable when nothing answers."""
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["api-key"] = self.api_key
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        out = fetch({"url": self.url + path, "method": method, "headers": headers, "data": data,
                     "timeout": timeout or self.timeout, "validate_certs": self.validate_certs,
                     "body_limit": BODY_LIMIT})
        if out["error"]:
            raise QdrantUnreachable(f"Qdrant at {self.where} does not answer ({method} {path}): {out['error']}",
                                    url=self.where)
        return out["status_code"], out["body"]

    def call(self, method, path, body=None, timeout=None):
        """The result of one API call; QdrantApiError (with status_code) for an error answer."""
        code, text = self.raw(method, path, body, timeout)
        try:
            payload = json.loads(text) if text else {}
        except ValueError:
            payload = {}
        if code in (200, 202):
            return payload.get("result") if isinstance(payload, dict) else payload
        error = (payload.get("status") or {}).get("error") if isinstance(payload, dict) else None
        error = error or text.strip()[:300] or "no details"
        if code in (401, 403):
            raise QdrantApiError(f"Qdrant at {self.where} refused the request {method} {path} ({code}: {error}); "
                                 "check the option api_key.", status_code=code)
        raise QdrantApiError(f"Qdrant at {self.where} answered {method} {path} with {code}: {error}",
                             status_code=code)

    def call_or_none(self, method, path, body=None, timeout=None):
        """Like call(), but None when Qdrant answers 404 (collection or snapshot not found)."""
        try:
            return self.call(method, path, body, timeout)
        except QdrantApiError as exc:
            if exc.details.get("status_code") == 404:
                return None
            raise

    # reads ---------------------------------------------------------------------------------------
    def readiness(self):
        """{ready, status_code, detail} from /readyz (200: all shards ready; 503: not yet)."""
        code, text = self.raw("GET", "/readyz")
        return {"ready": code == 200, "status_code": code, "detail": text.strip()[:200]}

    def version(self):
        code, text = self.raw("GET", "/")
        try:
            return json.loads(text).get("version") if code == 200 else None
        except (ValueError, AttributeError):
            return None

    def collection_names(self):
        return sorted(c["name"] for c in self.call("GET", "/collections")["collections"])

    def collection(self, name):
        """The collection's info (status, points_count, config...), or None when it does not exist."""
        return self.call_or_none("GET", collection_path(name))

    def snapshots(self, name):
        """The collection's snapshots (name, creation_time, size), or None when Qdrant does not list them."""
        return self.call_or_none("GET", collection_path(name, "/snapshots"))

    def cluster(self):
        return self.call("GET", "/cluster")

    # writes --------------------------------------------------------------------------------------
    def create_collection(self, name, config):
        return self.call("PUT", collection_path(name), config)

    def delete_collection(self, name):
        """Delete a collection; None (no error) when it does not exist."""
        return self.call_or_none("DELETE", collection_path(name))

    def recover(self, name, location, timeout=None):
        """Recover a collection from a snapshot location (file:// or http(s)://), waiting for the recovery;
        the snapshot's data wins over what the collection holds."""
        return self.call("PUT", collection_path(name, "/snapshots/recover?wait=true"),
                         {"location": location, "priority": "snapshot"}, timeout=timeout)


def collection_path(name, rest=""):
    return f"/collections/{quote(name, safe='')}{rest}"


def snapshot_location(snapshots_path, collection, snapshot=""):
    """The file:// URL of a snapshot (or, without a name, of the collection's snapshots directory) on a node."""
    path = f"{(snapshots_path or DEFAULT_SNAPSHOTS_PATH).rstrip('/')}/{collection}/{snapshot}"
    return "file://" + quote(path)


def age_hours(creation_time, now=None):
    """Hours since a snapshot's creation_time (Qdrant gives UTC without a zone); None when absent or unreadable."""
    seconds = seconds_since(creation_time, now)
    return None if seconds is None else round(seconds / 3600.0, 2)


def newest_snapshot(snapshots, snapshots_path, collection):
    """The newest of a snapshot list as {name, creation_time, size, age_hours, location}, or None."""
    if not snapshots:
        return None
    newest = max(snapshots, key=lambda s: (s.get("creation_time") or "", s["name"]))
    return describe_snapshot(newest, snapshots_path, collection)


def describe_snapshot(snapshot, snapshots_path, collection):
    return {"name": snapshot["name"], "creation_time": snapshot.get("creation_time"), "size": snapshot.get("size"),
            "age_hours": age_hours(snapshot.get("creation_time")),
            "location": snapshot_location(snapshots_path, collection, snapshot["name"])}


def collection_summary(name, info):
    """The parts of a collection's info the runbooks read."""
    params = (info.get("config") or {}).get("params") or {}
    return {"name": name, "status": info.get("status"), "optimizer_status": info.get("optimizer_status"),
            "points_count": info.get("points_count"), "indexed_vectors_count": info.get("indexed_vectors_count"),
            "segments_count": info.get("segments_count"), "vectors": params.get("vectors"),
            "shard_number": params.get("shard_number"), "replication_factor": params.get("replication_factor")}
