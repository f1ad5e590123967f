# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The redis_info check: argument_spec() and run(params), used by its module and by incident_triage_info."""

import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.findings import check_result, finding
from ansible_collections.sre.runbooks.plugins.module_utils.redis_client import (
    HAS_REDIS,
    REDIS_IMPORT_ERROR,
    connect,
    describe_error,
    is_auth_error,
    redis_argument_spec,
    replication,
)

try:
    from redis import RedisError
except ImportError:
    RedisError = Exception

DOWN_IDS = ("redis.primary_unreachable", "redis.auth_failed", "redis.cluster_fail")

# Passed to AnsibleModule (and to ArgumentSpecValidator) with argument_spec().
SPEC_OPTIONS = {}


def argument_spec():
    """The options of sre.runbooks.redis_info, with the shared redis group."""
    node_spec = {
        "name": {"type": "str"},
        "host": {"type": "str", "required": True},
        "port": {"type": "int", "default": 6379},
    }
    spec = redis_argument_spec()
    spec.update({
        "nodes": {"type": "list", "elements": "dict", "required": True, "options": node_spec},
        "max_lag_seconds": {"type": "int", "default": 10},
        "max_lag_bytes": {"type": "int", "default": 1048576},
    })
    return spec


def cluster_info(client):
    """CLUSTER INFO of one node (cluster mode only)."""
    info = client.execute_command("CLUSTER INFO")
    if isinstance(info, (bytes, str)):
        text = info.decode() if isinstance(info, bytes) else info
        info = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    keys = ("cluster_state", "cluster_slots_assigned", "cluster_slots_ok", "cluster_slots_pfail",
            "cluster_slots_fail", "cluster_known_nodes", "cluster_size")
    return {key.replace("cluster_", "", 1): info.get(key) for key in keys}


def cluster_findings(nodes):
    """In cluster mode: one finding when any reachable node sees the cluster state as fail."""
    failing = [n for n in nodes if n["reachable"] and (n.get("cluster") or {}).get("state") != "ok"]
    if not failing:
        return []
    seen = failing[0]["cluster"]
    return [finding("redis.cluster_fail", "critical",
                    f"Redis cluster state is {seen.get('state')} as seen by {', '.join(n['name'] for n in failing)}"
                    f" ({seen.get('slots_fail')} slots failed, {seen.get('slots_pfail')} possibly failing)",
                    {"nodes": [n["name"] for n in failing], "cluster": seen})]


def read_node(params, node):
    name = node.get("name") or f"{node['host']}:{node['port']}"
    out = {"name": name, "host": node["host"], "port": node["port"], "reachable": False, "role": None, "error": None}
    start = time.monotonic()
    try:
        client = connect(params, node["host"], node["port"])
        client.ping()
        out.update(replication(client))
        memory = client.info("memory")
        out.update(used_memory_human=memory.get("used_memory_human"), maxmemory=memory.get("maxmemory"))
        if client.info("cluster").get("cluster_enabled"):
            out["cluster"] = cluster_info(client)
        out["reachable"] = True
    except RedisError as exc:
        out["error"] = describe_error(exc)
        out["auth_failed"] = is_auth_error(exc)
    out["latency_ms"] = round((time.monotonic() - start) * 1000.0, 1)
    return out


def node_findings(nodes, params):
    findings = []
    for node in nodes:
        if node.get("auth_failed"):
            findings.append(finding("redis.auth_failed", "critical", f"{node['name']} refused the credentials",
                                    {"node": node["name"]}))
        elif not node["reachable"]:
            findings.append(finding("redis.node_unreachable", "warning",
                                    f"{node['name']} does not answer: {node['error']}",
                                    {"node": node["name"], "error": node["error"]}))
        elif node["role"] == "slave":
            findings.extend(replica_findings(node, params))
    return findings


def replica_findings(node, params):
    target = f"{node.get('master_host')}:{node.get('master_port')}"
    if node.get("link_status") != "up":
        down = node.get("link_down_since_seconds")
        return [finding("redis.replica_link_down", "critical",
                        f"{node['name']} lost its link to the primary {target} (down {down}s)",
                        {"node": node["name"], "primary": target, "down_seconds": down})]
    last_io = node.get("last_io_seconds_ago") or 0
    if last_io > params["max_lag_seconds"]:
        return [finding("redis.replica_lagging", "warning", f"{node['name']} last heard from {target} {last_io}s ago",
                        {"node": node["name"], "last_io_seconds": last_io})]
    return []


def primary_findings(nodes, params):
    masters = [n for n in nodes if n["reachable"] and n["role"] == "master"]
    if len(masters) > 1:
        names = [n["name"] for n in masters]
        return [finding("redis.multiple_masters", "critical",
                        f"More than one node answers as master: {', '.join(names)}", {"masters": names})]
    if not masters:
        replicas = [n for n in nodes if n["reachable"] and n["role"] == "slave"]
        targets = sorted({f"{n.get('master_host')}:{n.get('master_port')}" for n in replicas})
        summary = "No Redis node answers as master"
        if targets:
            summary += f"; replicas point at {', '.join(targets)}, which does not answer"
        return [finding("redis.primary_unreachable", "critical", summary,
                        {"last_known_primary": ", ".join(targets) or None, "replicas": [n["name"] for n in replicas]})]
    master = masters[0]
    found = []
    if master["connected_replicas"] == 0:
        found.append(finding("redis.no_replica", "warning", f"{master['name']} (master) has no connected replica",
                             {"node": master["name"]}))
    for replica in master["replicas"]:
        lag_bytes = (master.get("repl_offset") or 0) - (replica.get("offset") or 0)
        if lag_bytes > params["max_lag_bytes"]:
            where = f"{replica['ip']}:{replica['port']}"
            found.append(finding("redis.replica_lagging", "warning", f"replica {where} is {lag_bytes} bytes behind",
                                 {"replica": where, "lag_bytes": lag_bytes}))
    return found


def promotion_candidate(nodes):
    if any(n["reachable"] and n["role"] == "master" for n in nodes):
        return None
    replicas = [n for n in nodes if n["reachable"] and n["role"] == "slave"]
    if not replicas:
        return None
    best = max(replicas, key=lambda n: n.get("repl_offset") or 0)
    return {"name": best["name"], "host": best["host"], "port": best["port"], "repl_offset": best.get("repl_offset")}


def run(params):
    """Read every node at once; the result sre.runbooks.redis_info returns."""
    if not HAS_REDIS:
        raise RunbookError(missing_required_lib("redis"), exception=REDIS_IMPORT_ERROR)
    with ThreadPoolExecutor(max_workers=max(1, min(16, len(params["nodes"])))) as pool:
        nodes = list(pool.map(lambda node: read_node(params, node), params["nodes"]))
    if any(n.get("cluster") for n in nodes):
        # Cluster mode: one master per shard is normal; the cluster's own state says whether it serves.
        findings = cluster_findings(nodes) + node_findings(nodes, params)
    else:
        findings = primary_findings(nodes, params) + node_findings(nodes, params)
    primary = next(({"name": n["name"], "host": n["host"], "port": n["port"]}
                    for n in nodes if n["reachable"] and n["role"] == "master"), None)
    for node in nodes:
        node.pop("auth_failed", None)
    return check_result(findings, DOWN_IDS, nodes=nodes, primary=primary,
                        promotion_candidate=promotion_candidate(nodes))
