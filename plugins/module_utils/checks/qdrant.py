# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The qdrant_info check: argument_spec() and run(params), used by its module and by incident_triage_info."""

from ansible_collections.sre.runbooks.plugins.module_utils.findings import check_result, finding
from ansible_collections.sre.runbooks.plugins.module_utils.qdrant_client import (
    DEFAULT_SNAPSHOTS_PATH,
    Qdrant,
    QdrantApiError,
    QdrantUnreachable,
    collection_summary,
    newest_snapshot,
    qdrant_argument_spec,
    snapshot_location,
)

DOWN_IDS = ("qdrant.unreachable", "qdrant.auth_failed", "qdrant.collection_missing")

# Passed to AnsibleModule (and to ArgumentSpecValidator) with argument_spec().
SPEC_OPTIONS = {}


def argument_spec():
    """The options of sre.runbooks.qdrant_info, with the shared qdrant group."""
    spec = qdrant_argument_spec()
    spec.update({
        "expected_collections": {"type": "list", "elements": "str", "default": []},
        "min_points": {"type": "int", "default": 1},
        "max_snapshot_age_hours": {"type": "float", "default": 24.0},
        "snapshots_path": {"type": "str", "default": DEFAULT_SNAPSHOTS_PATH},
    })
    return spec


def missing_finding(client, params, name):
    """collection_missing, with where its newest snapshot is when Qdrant still lists one."""
    snapshots = client.snapshots(name)
    snapshot = newest_snapshot(snapshots, params["snapshots_path"], name)
    directory = snapshot_location(params["snapshots_path"], name)
    if snapshot:
        where = f"its newest snapshot is {snapshot['name']} ({snapshot['location']})"
    else:
        where = (f"Qdrant lists no snapshot of it (it lists snapshots only of existing collections); "
                 f"snapshot files taken before it was deleted stay in {directory} on the Qdrant node")
    return finding("qdrant.collection_missing", "critical", f"Collection {name} does not exist; {where}",
                   {"collection": name, "snapshot": snapshot, "snapshots_location": directory,
                    "snapshots_listed": snapshots is not None})


def collection_findings(params, record, watched):
    name, status = record["name"], record["status"]
    found = []
    if status != "green":
        severity = "critical" if status == "red" else "warning"
        found.append(finding("qdrant.collection_not_green", severity,
                             f"Collection {name} is {status} (optimizer: {record['optimizer_status']})",
                             {"collection": name, "status": status, "optimizer_status": record["optimizer_status"]}))
    if not watched:
        return found
    points = record["points_count"] or 0
    if points < params["min_points"]:
        found.append(finding("qdrant.collection_empty", "critical",
                             f"Collection {name} holds {points} points (expected at least {params['min_points']})",
                             {"collection": name, "points_count": points, "min_points": params["min_points"]}))
    max_age = params["max_snapshot_age_hours"]
    snapshot = record["newest_snapshot"]
    if max_age <= 0:
        return found
    if snapshot is None:
        found.append(finding("qdrant.no_snapshot", "warning", f"Collection {name} has no snapshot to restore from",
                             {"collection": name}))
    elif snapshot["age_hours"] is not None and snapshot["age_hours"] > max_age:
        found.append(finding("qdrant.snapshot_stale", "warning",
                             f"The newest snapshot of {name} is {snapshot['age_hours']:.1f} h old "
                             f"(max {max_age:g} h): {snapshot['name']}",
                             {"collection": name, "age_hours": snapshot["age_hours"], "snapshot": snapshot["name"],
                              "max_age_hours": max_age}))
    return found


def cluster_summary(cluster):
    if cluster.get("status") != "enabled":
        return {"status": cluster.get("status")}
    raft = cluster.get("raft_info") or {}
    failures = cluster.get("message_send_failures") or {}
    return {"status": "enabled", "peer_id": cluster.get("peer_id"), "peers": len(cluster.get("peers") or {}),
            "leader": raft.get("leader"), "role": raft.get("role"), "term": raft.get("term"),
            "pending_operations": raft.get("pending_operations"),
            "consensus": (cluster.get("consensus_thread_status") or {}).get("consensus_thread_status"),
            "failing_peers": {uri: f.get("count") for uri, f in failures.items()}}


def cluster_findings(summary):
    if summary["status"] != "enabled":
        return []
    problems = []
    if summary["consensus"] != "working":
        problems.append(f"consensus thread {summary['consensus']}")
    if summary["leader"] is None:
        problems.append("no raft leader")
    if summary["failing_peers"]:
        problems.append(f"messages to {', '.join(sorted(summary['failing_peers']))} failing")
    if not problems:
        return []
    severity = "warning" if summary["consensus"] == "working" and summary["leader"] is not None else "critical"
    return [finding("qdrant.cluster_unhealthy", severity, "Qdrant cluster unhealthy: " + "; ".join(problems),
                    {"consensus": summary["consensus"], "leader": summary["leader"],
                     "failing_peers": summary["failing_peers"], "peers": summary["peers"]})]


def read(client, params, result):
    """Fill result (ready, version, collections, cluster) and return the findings."""
    readiness = client.readiness()
    result.update(reachable=True, ready=readiness["ready"], version=client.version())
    findings = []
    if not readiness["ready"]:
        findings.append(finding("qdrant.not_ready", "critical",
                                f"Qdrant at {client.where} is not ready ({readiness['status_code']}: "
                                f"{readiness['detail']})", {"url": client.where, **readiness}))
    names = client.collection_names()
    expected = params["expected_collections"]
    for name in sorted(set(names) | set(expected)):
        info = client.collection(name) if name in names else None
        if info is None:
            findings.append(missing_finding(client, params, name))
            continue
        record = collection_summary(name, info)
        snapshots = client.snapshots(name) or []
        record.update(snapshots_count=len(snapshots),
                      newest_snapshot=newest_snapshot(snapshots, params["snapshots_path"], name))
        result["collections"].append(record)
        findings.extend(collection_findings(params, record, not expected or name in expected))
    result["cluster"] = cluster_summary(client.cluster())
    return findings + cluster_findings(result["cluster"])


def run(params):
    """Read Qdrant's readiness, collections, snapshots and cluster; the result sre.runbooks.qdrant_info returns."""
    client = Qdrant(params)
    result = {"url": client.where, "reachable": False, "ready": False, "version": None, "collections": [],
              "cluster": None}
    try:
        findings = read(client, params, result)
    except QdrantUnreachable as exc:
        findings = [finding("qdrant.unreachable", "critical", exc.msg, {"url": client.where})]
        result.update(reachable=False, ready=False)
    except QdrantApiError as exc:
        code = exc.details.get("status_code")
        if code in (401, 403):
            findings = [finding("qdrant.auth_failed", "critical", exc.msg, {"url": client.where, "status_code": code})]
        else:
            findings = [finding("qdrant.not_ready", "critical", exc.msg, {"url": client.where, "status_code": code})]
    return check_result(findings, DOWN_IDS, **result)
