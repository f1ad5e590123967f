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

from ansible_collections.sre.runbooks.plugins.module_utils.checks import redis
from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule


def main():
    module = RunbookModule(argument_spec=redis.argument_spec(), supports_check_mode=True)
    module.require_library("redis", redis.HAS_REDIS, redis.REDIS_IMPORT_ERROR)
    module.run_check(redis.run)


if __name__ == "__main__":
    main()
