#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: redis_promote_replica
short_description: Promote a Redis replica to primary, safely
version_added: 1.0.0
description:
  - The runbook's P0-3 "Failover to Replica" (C(redis-cli REPLICAOF NO ONE)) with its guard and its wait.
  - Refuses while the replica's primary still answers as master (two masters would split the data),
    unless O(force=true).
  - Waits until the node answers as master, then optionally points the other replicas at it and
    waits until their links are up.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.redis
  - sre.runbooks.wait
  - sre.runbooks.attributes
attributes:
  check_mode:
    support: full
    details: Reports the promotion and re-pointing it would do, with a diff of roles; sends no write command.
  diff_mode:
    support: full
  idempotent:
    support: full
    details: A node that is already master is not promoted again; replicas already following it are left alone.
options:
  host:
    description: Address of the replica to promote.
    type: str
    required: true
  port:
    description: Port of the replica to promote.
    type: int
    default: 6379
  replicas:
    description:
      - The other nodes of the deployment, to point at the new primary (C(REPLICAOF host port)) once it is
        master, waiting until their links are up.
      - The node being promoted is skipped, and so are nodes that do not answer (usually the old primary;
        rejoin it as a replica when it is back) and nodes that answer as master (fence them first).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Short name, for the output.
        type: str
      host:
        description: Address of the node.
        type: str
        required: true
      port:
        description: Port of the node.
        type: int
        default: 6379
  announce_host:
    description: Address the other replicas use to reach the new primary. Defaults to O(host).
    type: str
  force:
    description: Promote even though the old primary still answers as master. Only after the old primary
      has been fenced off from clients, or its data is to be given up.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Promote the healthiest replica to primary (P0-3 option 2)
  sre.runbooks.redis_promote_replica:
    host: "{{ redis.promotion_candidate.host }}"
    port: "{{ redis.promotion_candidate.port }}"
    password: "{{ vault_redis_password }}"
    replicas:
      - {name: redis-0, host: redis-0.redis.internal, port: 6379}
      - {name: redis-2, host: redis-2.redis.internal, port: 6379}
    wait_timeout: 30
"""

RETURN = r"""
actions:
  description: What was done (or would be done in check mode), one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["REPLICAOF NO ONE on 127.0.0.1:6380", "REPLICAOF 127.0.0.1 6380 on 127.0.0.1:6381"]
before:
  description: Roles before, per node (C(host:port) -> C(master) | C(replica of host:port) | C(down)).
  returned: always
  type: dict
  sample: {"127.0.0.1:6380": "replica of 127.0.0.1:6379"}
after:
  description: Roles after (as observed; in check mode, as it would be).
  returned: always
  type: dict
  sample: {"127.0.0.1:6380": "master"}
not_repointed:
  description: Nodes of O(replicas) that were not re-pointed, and why.
  returned: always
  type: list
  elements: str
  sample: ["127.0.0.1:6379 does not answer: rejoin it as a replica of the new primary when it is back"]
old_primary:
  description: The primary the node replicated from before, and whether it answered.
  returned: always
  type: dict
  sample: {address: "127.0.0.1:6379", answers_as_master: false}
check_mode:
  description: True when this was a dry run (check mode for the whole run, or for this step only).
  returned: always
  type: bool
  sample: false
duration:
  description: Seconds spent waiting for the new state.
  returned: when waited
  type: float
  sample: 0.21
"""

from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule, wait_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.errors import BackendUnavailable, RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.guards import require
from ansible_collections.sre.runbooks.plugins.module_utils.redis_client import (
    HAS_REDIS,
    REDIS_IMPORT_ERROR,
    connect,
    describe_error,
    redis_argument_spec,
    replication,
)
from ansible_collections.sre.runbooks.plugins.module_utils.waiting import wait_for

try:
    from redis import RedisError
except ImportError:
    RedisError = Exception


def address(host, port):
    return f"{host}:{port}"


def role_of(params, host, port):
    """'master', 'replica of h:p' or 'down' for one node, with its replication data."""
    try:
        repl = replication(connect(params, host, port))
    except RedisError as exc:
        return "down", {"error": describe_error(exc)}
    if repl["role"] == "master":
        return "master", repl
    return f"replica of {address(repl['master_host'], repl['master_port'])}", repl


def run_command(params, host, port, *args):
    try:
        connect(params, host, port).execute_command(*args)
    except RedisError as exc:
        command = " ".join(str(a) for a in args)
        raise BackendUnavailable(f"{command} on {address(host, port)} failed: {describe_error(exc)}") from exc


def old_primary_state(params, repl):
    target = address(repl["master_host"], repl["master_port"])
    role = role_of(params, repl["master_host"], repl["master_port"])[0]
    return {"address": target, "answers_as_master": role == "master"}


def wait_role(module, host, port, wanted):
    params = module.params
    ok, state, duration = wait_for(lambda: role_of(params, host, port)[0], lambda r: r == wanted,
                                   params["wait_timeout"], params["wait_sleep"])
    if not ok:
        raise RunbookError(f"{address(host, port)} did not become {wanted!r} within {params['wait_timeout']}s "
                           f"(last seen: {state})")
    return duration


def wait_link_up(module, host, port):
    params = module.params

    def observe():
        return role_of(params, host, port)[1].get("link_status")

    ok, state, duration = wait_for(observe, lambda s: s == "up", params["wait_timeout"], params["wait_sleep"])
    if not ok:
        raise RunbookError(f"{address(host, port)} did not sync with the new primary within "
                           f"{params['wait_timeout']}s (link {state})")
    return duration


def repoint(module, target, announce, port, actions, before, after):
    """Point every other answering replica at the new primary; return what was skipped and why."""
    params = module.params
    wanted = f"replica of {address(announce, port)}"
    not_repointed = []
    for replica in params["replicas"]:
        other = address(replica["host"], replica["port"])
        if other in (target, address(announce, port)):
            continue
        role = role_of(params, replica["host"], replica["port"])[0]
        before[other] = role
        after[other] = role
        if role == "down":
            not_repointed.append(f"{other} does not answer: rejoin it as a replica of the new primary when it is back")
            continue
        if role == "master":
            not_repointed.append(f"{other} answers as master: fence it, then point it at {target}")
            continue
        if role != wanted:
            actions.append(f"REPLICAOF {announce} {port} on {other}")
            if not module.check_mode:
                run_command(params, replica["host"], replica["port"], "REPLICAOF", announce, str(port))
                if params["wait"]:
                    wait_link_up(module, replica["host"], replica["port"])
        after[other] = wanted
    return not_repointed


def promote(module):
    params = module.params
    host, port = params["host"], params["port"]
    target = address(host, port)
    announce = params["announce_host"] or host
    actions, before, after, duration = [], {}, {}, 0.0

    role, repl = role_of(params, host, port)
    require(role != "down", "replica reachable", f"{target} does not answer ({repl.get('error')}).")
    before[target] = role
    old = {"address": None, "answers_as_master": False}
    if role != "master":
        old = old_primary_state(params, repl)
        require(not old["answers_as_master"] or params["force"], "old primary gone",
                f"the old primary {old['address']} still answers as master; promoting {target} now would give "
                "two masters.", override="fence the old primary first, or set force=true")
        actions.append(f"REPLICAOF NO ONE on {target}")
        if not module.check_mode:
            run_command(params, host, port, "REPLICAOF", "NO", "ONE")
            if params["wait"]:
                duration += wait_role(module, host, port, "master")
    after[target] = "master"

    not_repointed = repoint(module, target, announce, port, actions, before, after)
    if not module.check_mode:
        after = {node: role_of(params, node.rsplit(":", 1)[0], int(node.rsplit(":", 1)[1]))[0]
                 for node in after}
    result = {"check_mode": module.check_mode, "changed": bool(actions), "actions": actions, "before": before,
              "after": after, "old_primary": old, "not_repointed": not_repointed}
    if params["wait"] and not module.check_mode:
        result["duration"] = round(duration, 3)
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    module.exit_json(**result)


def main():
    replica_spec = {
        "name": {"type": "str"},
        "host": {"type": "str", "required": True},
        "port": {"type": "int", "default": 6379},
    }
    module = RunbookModule(
        argument_spec={
            "host": {"type": "str", "required": True},
            "port": {"type": "int", "default": 6379},
            "replicas": {"type": "list", "elements": "dict", "default": [], "options": replica_spec},
            "announce_host": {"type": "str"},
            "force": {"type": "bool", "default": False},
        },
        shared=(redis_argument_spec, lambda: wait_argument_spec(60)),
        supports_check_mode=True,
    )
    module.require_library("redis", HAS_REDIS, REDIS_IMPORT_ERROR)
    module.run(promote)


if __name__ == "__main__":
    main()
