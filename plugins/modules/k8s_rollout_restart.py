#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: k8s_rollout_restart
short_description: Restart the pods of a Deployment, StatefulSet or DaemonSet, as kubectl rollout restart does
version_added: 1.0.0
description:
  - The runbook's "Restart All Services" (P0-1 option 2) and "Rolling restart" of Redis (P0-3 option 1),
    C(kubectl rollout restart) then C(kubectl rollout status), through the Kubernetes API.
  - Sets the pod template annotation C(kubectl.kubernetes.io/restartedAt) to the current time (RFC 3339), as
    kubectl does; the workload's controller then replaces every pod by its update strategy.
  - A restart is never "already done", so every run restarts again - except within O(skip_if_restarted_within)
    seconds of the last restart (by that annotation), so that a retried task or playbook waits for that rollout
    instead of restarting twice in a row. Only when that rollout has finished and pods are not ready again
    (a new failure) does it restart within the window.
  - Refuses, changing nothing, when a Deployment is paused (its pods would not be replaced).
  - Waits until the rollout is complete, by the rule of C(kubectl rollout status) for the kind.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.k8s
  - sre.runbooks.wait
  - sre.runbooks.attributes
attributes:
  check_mode:
    support: full
    details: Reports the restart it would do, with a diff of the restartedAt annotation; patches nothing.
  diff_mode:
    support: full
  idempotent:
    support: partial
    details:
      - A restart is an action, not a state; every run restarts again.
      - Except within O(skip_if_restarted_within) seconds of the last restart, when nothing is done.
options:
  kind:
    description: Kind of the workload.
    type: str
    choices: [Deployment, StatefulSet, DaemonSet]
    default: Deployment
  name:
    description: Name of the workload.
    type: str
    required: true
  skip_if_restarted_within:
    description:
      - Do nothing (C(changed=false)) when the workload's C(kubectl.kubernetes.io/restartedAt) annotation is
        less than this many seconds old. C(0) restarts every time.
    type: int
    default: 120
  wait_timeout:
    description: Seconds to wait for the rollout to complete when O(wait=true).
    type: int
    default: 300
"""

EXAMPLES = r"""
- name: Restart backend pods (P0-1 option 2)
  sre.runbooks.k8s_rollout_restart:
    name: backend
    namespace: pubsec-info-assistant

- name: Rolling restart of the Redis StatefulSet (P0-3 option 1)
  sre.runbooks.k8s_rollout_restart:
    kind: StatefulSet
    name: redis
    wait_timeout: 600
"""

RETURN = r"""
msg:
  description: What was (or would be) done, or why nothing was.
  returned: always
  type: str
  sample: "Restart Deployment backend (last restart: never)."
actions:
  description: What was done (or would be done in check mode), one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["Set kubectl.kubernetes.io/restartedAt=2025-01-31T10:00:00Z on the pod template of Deployment backend"]
before:
  description: C({restarted_at, generation}) of the workload before (C(restarted_at) null when never restarted).
  returned: always
  type: dict
  sample: {restarted_at: null, generation: 1}
after:
  description: The same, after (as observed; in check mode, as it would be).
  returned: always
  type: dict
  sample: {restarted_at: "2025-01-31T10:00:00Z", generation: 2}
check_mode:
  description: True when this was a dry run (check mode for the whole run, or for this step only).
  returned: always
  type: bool
  sample: false
duration:
  description: Seconds spent waiting for the rollout to complete.
  returned: when waited
  type: float
  sample: 2.04
"""

from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule, wait_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.guards import require
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_changes import (
    RESTARTED_AT,
    meta,
    now_rfc3339,
    patch_workload,
    run_change,
    wait_rollout,
)
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_client import k8s_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_workloads import get_workload
from ansible_collections.sre.runbooks.plugins.module_utils.timestamps import seconds_since


def state(workload):
    template = (workload.get("spec") or {}).get("template") or {}
    return {"restarted_at": (meta(template).get("annotations") or {}).get(RESTARTED_AT),
            "generation": meta(workload).get("generation")}


def rollout_finished(workload):
    """The controller has finished rolling out the current template (pods may have failed since)."""
    status, kind = workload.get("status") or {}, workload.get("kind")
    if (status.get("observedGeneration") or 0) < (meta(workload).get("generation") or 0):
        return False
    if kind == "Deployment":
        return any(c.get("type") == "Progressing" and c.get("reason") == "NewReplicaSetAvailable"
                   for c in status.get("conditions") or [])
    if kind == "StatefulSet":
        return bool(status.get("updateRevision")) and status.get("currentRevision") == status.get("updateRevision")
    return status.get("updatedNumberScheduled") == status.get("desiredNumberScheduled")


def all_ready(workload):
    status = workload.get("status") or {}
    if workload.get("kind") == "DaemonSet":
        return status.get("numberReady") == status.get("desiredNumberScheduled")
    return (status.get("readyReplicas") or 0) >= ((workload.get("spec") or {}).get("replicas") or 0)


def restart(module, k8s):
    params = module.params
    kind, name = params["kind"], params["name"]
    workload = get_workload(k8s, kind, name)
    before = state(workload)
    result = {"before": before, "after": before, "actions": []}
    age = seconds_since(before["restarted_at"]) if before["restarted_at"] else None
    window = params["skip_if_restarted_within"]
    failing_again = rollout_finished(workload) and not all_ready(workload)
    if age is not None and 0 <= age < window and not failing_again:
        result["msg"] = (f"{kind} {name} was restarted {int(age)}s ago ({before['restarted_at']}), within "
                         f"skip_if_restarted_within={window}s; not restarted again.")
        wait_rollout(module, k8s, kind, name, result)
        return result
    require(not (workload.get("spec") or {}).get("paused"), "deployment not paused",
            f"{kind} {name} is paused; a restart would not roll out.",
            override="resume it first (spec.paused=false, kubectl rollout resume)")
    stamp = now_rfc3339()
    result["actions"] = [f"Set {RESTARTED_AT}={stamp} on the pod template of {kind} {name}"]
    result["after"] = {"restarted_at": stamp, "generation": (before["generation"] or 0) + 1}
    result["msg"] = f"Restart {kind} {name} (last restart: {before['restarted_at'] or 'never'})."
    if not module.check_mode:
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        patch_workload(k8s, kind, name, patch)
        wait_rollout(module, k8s, kind, name, result)
        result["after"] = state(get_workload(k8s, kind, name))
    return result


def main():
    module = RunbookModule(
        argument_spec={
            "kind": {"type": "str", "choices": ["Deployment", "StatefulSet", "DaemonSet"], "default": "Deployment"},
            "name": {"type": "str", "required": True},
            "skip_if_restarted_within": {"type": "int", "default": 120},
        },
        shared=(k8s_argument_spec, lambda: wait_argument_spec(300)),
        bounds={"skip_if_restarted_within": (0, None)},
        supports_check_mode=True,
    )
    run_change(module, restart)


if __name__ == "__main__":
    main()
