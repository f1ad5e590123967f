#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: k8s_scale
short_description: Scale a Deployment or StatefulSet, capped, and keep its HorizontalPodAutoscaler from undoing it
version_added: 1.0.0
description:
  - The runbook's "Scale Up Emergency Capacity" (P0-1 option 3, C(kubectl scale deployment/backend --replicas=10))
    and the Qdrant stop/start of P0-2 option 2 (C(kubectl scale statefulset/qdrant --replicas=0), then back).
  - Sets the replicas through the C(scale) subresource, as C(kubectl scale) does.
  - Refuses, changing nothing, above O(max_replicas).
  - An HPA that targets the workload would undo a plain scale on its next sync. With O(hpa_policy=raise_min),
    the HPA's C(minReplicas) is raised to O(replicas) first (returned in C(before)/C(after), to be put back
    once the incident is over); a scale above the HPA's C(maxReplicas), or below its C(minReplicas) (other than
    to 0, which pauses the HPA), is refused. O(hpa_policy=raise_limits) does the same, and raises the HPA's
    C(maxReplicas) to O(replicas) too when it is below (an emergency scale past the autoscaler's maximum).
    With O(hpa_policy=refuse), any scale of a workload an HPA targets is refused.
  - Scaling down below the replicas that are ready is allowed (a Qdrant restore scales to 0); the pods above
    O(replicas) are removed.
  - Waits until the workload has O(replicas) pods and all of them are ready.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.k8s
  - sre.runbooks.wait
  - sre.runbooks.attributes
attributes:
  check_mode:
    support: full
    details: Reports the scale (and HPA change) it would do, with a diff of replicas; patches nothing.
  diff_mode:
    support: full
  idempotent:
    support: full
    details: A workload already at O(replicas), whose HPA already allows them, is left alone.
options:
  kind:
    description: Kind of the workload.
    type: str
    choices: [Deployment, StatefulSet]
    default: Deployment
  name:
    description: Name of the workload.
    type: str
    required: true
  replicas:
    description: Number of replicas wanted (0 or more).
    type: int
    required: true
  max_replicas:
    description: Refuse to scale above this many replicas.
    type: int
    default: 20
  hpa_policy:
    description:
      - What to do when a HorizontalPodAutoscaler targets the workload.
      - C(raise_min) raises the HPA's C(minReplicas) to O(replicas) (never past its C(maxReplicas)), so that it
        keeps at least that many.
      - C(raise_limits) does the same, and also raises the HPA's C(maxReplicas) to O(replicas) when it is below
        (never past O(max_replicas), which still refuses).
      - C(refuse) changes nothing and fails.
    type: str
    choices: [raise_min, raise_limits, refuse]
    default: raise_min
  wait_timeout:
    description: Seconds to wait for the replicas to be ready when O(wait=true).
    type: int
    default: 300
"""

EXAMPLES = r"""
- name: Scale up emergency capacity (P0-1 option 3)
  sre.runbooks.k8s_scale:
    name: backend
    replicas: 10
    namespace: pubsec-info-assistant

- name: Scale up emergency capacity past the autoscaler's maximum (P0-1 option 3)
  sre.runbooks.k8s_scale:
    name: backend
    replicas: 10
    max_replicas: 20
    hpa_policy: raise_limits

- name: Stop Qdrant before the restore (P0-2 option 2)
  sre.runbooks.k8s_scale:
    kind: StatefulSet
    name: qdrant
    replicas: 0
"""

RETURN = r"""
msg:
  description: What was (or would be) done, or why nothing was needed.
  returned: always
  type: str
  sample: "Raise minReplicas of HPA backend from 2 to 10 and maxReplicas from 4 to 10 (to revert, set them back
    to 2 and 4). Scale Deployment backend from 4 to 10 replicas."
actions:
  description: What was done (or would be done in check mode), one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["Raise minReplicas of HPA backend from 2 to 10 and maxReplicas from 4 to 10 (to revert, set them
             back to 2 and 4)", "Scale Deployment backend from 4 to 10 replicas"]
before:
  description:
    - C({replicas, ready, hpa}) before; C(hpa) is C({name, min_replicas, max_replicas}) of the HPA that targets
      the workload, or null; its limits are the ones to put back once the incident is over.
  returned: always
  type: dict
  sample: {replicas: 4, ready: 4, hpa: {name: backend, min_replicas: 2, max_replicas: 4}}
after:
  description: The same, after (as observed; in check mode, as it would be).
  returned: always
  type: dict
  sample: {replicas: 10, ready: 10, hpa: {name: backend, min_replicas: 10, max_replicas: 10}}
check_mode:
  description: True when this was a dry run (check mode for the whole run, or for this step only).
  returned: always
  type: bool
  sample: false
duration:
  description: Seconds spent waiting for the replicas to be ready.
  returned: when waited
  type: float
  sample: 1.8
"""

from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule, wait_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.guards import require
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_changes import (
    confirm,
    patch_hpa,
    replicas_progress,
    run_change,
    scale_workload,
)
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_client import k8s_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_workloads import get_workload, workload_hpa


def state(k8s, kind, name):
    workload = get_workload(k8s, kind, name)
    hpa = workload_hpa(k8s, kind, name)
    spec, status = workload.get("spec") or {}, workload.get("status") or {}
    return {"replicas": 1 if spec.get("replicas") is None else spec["replicas"],
            "ready": status.get("readyReplicas") or 0,
            "hpa": {"name": hpa["name"], "min_replicas": hpa["min"], "max_replicas": hpa["max"]} if hpa else None}


def hpa_limits(params, kind, name, hpa, current):
    """The {min_replicas, max_replicas} to give the HPA first (None: leave it); refused when it would undo the scale."""
    replicas = params["replicas"]
    if hpa is None:
        return None
    where = f"HPA {hpa['name']} (min {hpa['min_replicas']}, max {hpa['max_replicas']}) targets {kind} {name}"
    if params["hpa_policy"] == "refuse":
        require(current == replicas, "no HPA", f"{where} and would undo a scale to {replicas}.",
                override="hpa_policy=raise_min, or change the HPA instead")
        return None
    if replicas == 0 or hpa["min_replicas"] == replicas:
        return None
    require(replicas <= hpa["max_replicas"] or params["hpa_policy"] == "raise_limits", "within HPA maximum",
            f"{where}; {replicas} replicas is above its maxReplicas.",
            override="hpa_policy=raise_limits, or ask for fewer replicas")
    require(replicas > hpa["min_replicas"], "within HPA minimum",
            f"{where}; it would scale {replicas} back up to its minReplicas.",
            override="lower the HPA's minReplicas first, or ask for more replicas")
    return {"min_replicas": replicas, "max_replicas": max(replicas, hpa["max_replicas"])}


def hpa_action(hpa, limits):
    """The HPA's limits raised, and how to revert them, in one sentence."""
    what = f"Raise minReplicas of HPA {hpa['name']} from {hpa['min_replicas']} to {limits['min_replicas']}"
    if limits["max_replicas"] == hpa["max_replicas"]:
        return f"{what} (to revert, set it back to {hpa['min_replicas']})"
    return (f"{what} and maxReplicas from {hpa['max_replicas']} to {limits['max_replicas']} "
            f"(to revert, set them back to {hpa['min_replicas']} and {hpa['max_replicas']})")


def scale(module, k8s):
    params = module.params
    kind, name, replicas = params["kind"], params["name"], params["replicas"]
    before = state(k8s, kind, name)
    result = {"before": before, "after": before, "actions": []}
    limits = hpa_limits(params, kind, name, before["hpa"], before["replicas"])
    if before["replicas"] == replicas and limits is None:
        result["msg"] = f"{kind} {name} already has {replicas} replicas; nothing to do."
    else:
        require(replicas <= params["max_replicas"], "replica cap",
                f"{replicas} replicas is above max_replicas={params['max_replicas']}.", override="raise max_replicas")
        after = dict(before, replicas=replicas, ready=replicas)
        if limits is not None:
            result["actions"].append(hpa_action(before["hpa"], limits))
            after["hpa"] = dict(before["hpa"], **limits)
        if before["replicas"] != replicas:
            result["actions"].append(f"Scale {kind} {name} from {before['replicas']} to {replicas} replicas")
        result["after"] = after
        result["msg"] = ". ".join(result["actions"]) + "."
        if not module.check_mode:
            apply(k8s, kind, name, replicas if before["replicas"] != replicas else None, before["hpa"], limits)
    if params["wait"] and not module.check_mode:
        result["duration"] = confirm(module, lambda: replicas_progress(get_workload(k8s, kind, name), replicas),
                                     f"{kind} {name} did not get {replicas} ready replicas", result)
    if not module.check_mode:
        result["after"] = state(k8s, kind, name)
    return result


def apply(k8s, kind, name, replicas, hpa, limits):
    """Raise the HPA's limits first, in one patch (so that it does not scale back in between), then scale."""
    if limits:
        spec = {"minReplicas": limits["min_replicas"]}
        if limits["max_replicas"] != hpa["max_replicas"]:
            spec["maxReplicas"] = limits["max_replicas"]
        patch_hpa(k8s, hpa["name"], {"spec": spec})
    if replicas is not None:
        scale_workload(k8s, kind, name, replicas)


def main():
    module = RunbookModule(
        argument_spec={
            "kind": {"type": "str", "choices": ["Deployment", "StatefulSet"], "default": "Deployment"},
            "name": {"type": "str", "required": True},
            "replicas": {"type": "int", "required": True},
            "max_replicas": {"type": "int", "default": 20},
            "hpa_policy": {"type": "str", "choices": ["raise_min", "raise_limits", "refuse"], "default": "raise_min"},
        },
        shared=(k8s_argument_spec, lambda: wait_argument_spec(300)),
        bounds={"replicas": (0, None), "max_replicas": (0, None)},
        supports_check_mode=True,
    )
    run_change(module, scale)


if __name__ == "__main__":
    main()
