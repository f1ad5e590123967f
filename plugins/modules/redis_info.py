#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: redis_info
short_description: Check a Redis primary and its replicas
version_added: 1.0.0
description:
  - The runbooks' C(redis-cli ping) and C(INFO replication) for every node of a Redis deployment, in one call.
  - Reads each node's role, replication links, offsets and lag, and memory, and says which replica
    is the best to promote when the primary is gone. Nodes are read concurrently.
  - In cluster mode (C(cluster_enabled:1)) it also reads C(CLUSTER INFO) (state, slots, known nodes) of each node.
  - A node that is down is a finding, not a failure of the task.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.redis
  - sre.runbooks.attributes
  - sre.runbooks.attributes.INFO_MODULE
options:
  nodes:
    description: Every node of the deployment (primary and replicas, in any order).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Short name used in findings. Defaults to C(host:port).
        type: str
      host:
        description: Address of the node.
        type: str
        required: true
      port:
        description: Port of the node.
        type: int
        default: 6379
  max_lag_seconds:
    description: A replica whose last contact with the primary is older than this is lagging.
    type: int
    default: 10
  max_lag_bytes:
    description: A replica more than this many bytes of replication stream behind is lagging.
    type: int
    default: 1048576
"""

EXAMPLES = r"""
- name: Check Redis connectivity and replication (runbook Immediate Triage, P0-3)
  sre.runbooks.redis_info:
    nodes:
      - {name: redis-0, host: redis-0.redis.internal, port: 6379}
      - {name: redis-1, host: redis-1.redis.internal, port: 6379}
    password: "{{ vault_redis_password }}"
  register: redis
"""

RETURN = r"""
status:
  description: C(ok); C(degraded) (replication problems, the primary still serves); C(down) (no primary answers).
  returned: always
  type: str
  sample: down
findings:
  description:
    - Ids C(redis.primary_unreachable) (no node answers as master; critical),
    - C(redis.node_unreachable) (a node does not answer; warning),
    - C(redis.auth_failed) (a node refused the password; critical),
    - C(redis.no_replica) (the primary has no connected replica; warning),
    - C(redis.replica_link_down) (a replica lost its primary; critical),
    - C(redis.replica_lagging) (a replica is behind the thresholds; warning),
    - C(redis.multiple_masters) (more than one node answers as master; critical; not in cluster mode),
    - C(redis.cluster_fail) (cluster mode; a node sees C(CLUSTER INFO) cluster_state other than ok; critical).
  returned: always
  type: list
  elements: dict
  sample:
    - id: redis.primary_unreachable
      severity: critical
      summary: "No Redis node answers as master; replicas point at 127.0.0.1:6379, which does not answer"
      evidence: {last_known_primary: "127.0.0.1:6379", replicas: [redis-1]}
nodes:
  description: Every node as read.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: redis-1, host: 127.0.0.1, port: 6380, reachable: true, role: slave, master_host: 127.0.0.1,
       master_port: 6379, link_status: down, repl_offset: 1234, connected_replicas: 0, replicas: [],
       used_memory_human: 1.02M, error: null, latency_ms: 0.4,
       cluster: {state: ok, slots_assigned: 16384, slots_ok: 16384, slots_pfail: 0, slots_fail: 0,
                 known_nodes: 3, size: 3}}
primary:
  description: The node answering as master, or null.
  returned: always
  type: dict
  sample: {name: redis-0, host: 127.0.0.1, port: 6379}
promotion_candidate:
  description: When no primary answers, the reachable replica with the highest replication offset; null otherwise.
  returned: always
  type: dict
  sample: {name: redis-1, host: 127.0.0.1, port: 6380, repl_offset: 1234}
"""

import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.findings import finding
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


def check(module):
    params = module.params
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
    module.exit_check(findings, down_ids=("redis.primary_unreachable", "redis.auth_failed", "redis.cluster_fail"),
                      nodes=nodes,
                      primary=primary, promotion_candidate=promotion_candidate(nodes))


def main():
    node_spec = {
        "name": {"type": "str"},
        "host": {"type": "str", "required": True},
        "port": {"type": "int", "default": 6379},
    }
    module = RunbookModule(
        argument_spec={
            "nodes": {"type": "list", "elements": "dict", "required": True, "options": node_spec},
            "max_lag_seconds": {"type": "int", "default": 10},
            "max_lag_bytes": {"type": "int", "default": 1048576},
        },
        shared=(redis_argument_spec,),
        supports_check_mode=True,
    )
    module.require_library("redis", HAS_REDIS, REDIS_IMPORT_ERROR)
    module.run(check)


if __name__ == "__main__":
    main()
