#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: k8s_pod_recreate
short_description: Delete an unhealthy pod that a controller recreates, and wait for its replacement to be Ready
version_added: 1.0.0
description:
  - The runbook's P0-2 "Restart Qdrant Pods" (C(kubectl delete pod qdrant-0) then
    C(kubectl wait --for=condition=ready pod/qdrant-0)), through the Kubernetes API.
  - Deletes the pod only when a controller will replace it - its controlling owner (C(ownerReferences)) is a
    StatefulSet, a ReplicaSet or a DaemonSet. A bare pod, or one owned by anything else, is refused unless
    O(force=true); such a pod is only deleted, nothing replaces it.
  - With O(only_if_unready=true) (the default), a pod that is Ready is left alone.
  - Waits until the replacement is Ready - for a StatefulSet the pod of the same name (a new one), for a
    ReplicaSet or DaemonSet a new pod of the same owner; for a forced bare pod, until it is gone.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.k8s
  - sre.runbooks.wait
  - sre.runbooks.attributes
attributes:
  check_mode:
    support: full
    details: Reports the deletion it would do, with a diff of the pod's state; deletes nothing.
  diff_mode:
    support: full
  idempotent:
    support: partial
    details:
      - With O(only_if_unready=true), a Ready pod (a replacement that came up, for a StatefulSet) is left alone.
      - A pod of a ReplicaSet is replaced under a new name; a second run naming the old pod fails as not found.
      - With O(only_if_unready=false), every run deletes the pod again.
options:
  name:
    description: Name of the pod.
    type: str
    required: true
  only_if_unready:
    description: Leave the pod alone (C(changed=false)) when it is Ready.
    type: bool
    default: true
  force:
    description: Delete the pod even though no StatefulSet, ReplicaSet or DaemonSet will recreate it.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait for the replacement to be Ready when O(wait=true).
    type: int
    default: 300
"""

EXAMPLES = r"""
- name: Delete unhealthy pod qdrant-0 and wait for it to be Ready (P0-2 option 1)
  sre.runbooks.k8s_pod_recreate:
    name: qdrant-0
    namespace: pubsec-info-assistant
    wait_timeout: 300
"""

RETURN = r"""
msg:
  description: What was (or would be) done, or why nothing was.
  returned: always
  type: str
  sample: "Recreate pod qdrant-0 of StatefulSet qdrant (not Ready: CrashLoopBackOff)."
owner:
  description: The pod's controlling owner (C({kind, name})), or null for a bare pod.
  returned: always
  type: dict
  sample: {kind: StatefulSet, name: qdrant}
actions:
  description: What was done (or would be done in check mode), one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["Delete pod qdrant-0 (uid 3f1c...) of StatefulSet qdrant"]
before:
  description: C({name, uid, phase, ready, reasons, restarts}) of the pod before.
  returned: always
  type: dict
  sample: {name: qdrant-0, uid: 3f1c6a2e-0000-4000-8000-000000000000, phase: Running, ready: false,
           reasons: [CrashLoopBackOff], restarts: 7}
after:
  description:
    - The same, of the replacement (as observed; in check mode, as it would be, without uid). Null for a forced
      bare pod, or when O(wait=false) and no replacement was seen yet.
  returned: always
  type: dict
  sample: {name: qdrant-0, uid: 9b2d4c1e-0000-4000-8000-000000000000, phase: Running, ready: true, reasons: [],
           restarts: 0}
check_mode:
  description: True when this was a dry run (check mode for the whole run, or for this step only).
  returned: always
  type: bool
  sample: false
duration:
  description: Seconds spent waiting for the replacement to be Ready.
  returned: when waited
  type: float
  sample: 1.3
"""

from functools import partial

from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule, wait_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.guards import require
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_changes import (
    confirm,
    delete_pod,
    meta,
    pod_state,
    read_pod,
    run_change,
)
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_client import k8s_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_state import controller_ref, pod_summary
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_workloads import list_pods

RECREATING_OWNERS = ("StatefulSet", "ReplicaSet", "DaemonSet")


def alive(pod):
    return not meta(pod).get("deletionTimestamp")


def of_owner(pod, owner):
    return (controller_ref(pod) or {}).get("uid") == owner["uid"] and alive(pod)


def replacement(k8s, name, owner, known):
    """{done, message, pod}: the pod that replaces pod `name`, Ready."""
    if owner["kind"] == "StatefulSet":
        candidates = [p for p in list_pods(k8s) if meta(p).get("name") == name]
    else:
        candidates = [p for p in list_pods(k8s) if of_owner(p, owner)]
    new = [p for p in candidates if meta(p).get("uid") not in known and alive(p)]
    ready = [p for p in new if pod_summary(p)["ready"]]
    chosen = pod_state((ready or new)[0]) if new else None
    if chosen is None:
        message = "no replacement yet"
    else:
        message = f"replacement {chosen['name']}: {chosen['phase']}, ready {chosen['ready']}"
        message += f" ({', '.join(chosen['reasons'])})" if chosen["reasons"] else ""
    return {"done": bool(ready), "message": message, "pod": chosen}


def gone(k8s, uid):
    still = [p for p in list_pods(k8s) if meta(p).get("uid") == uid]
    return {"done": not still, "message": "still there" if still else "gone", "pod": None}


def recreate(module, k8s):
    params = module.params
    name = params["name"]
    pod = read_pod(k8s, name)
    owner = controller_ref(pod)
    before = pod_state(pod)
    result = {"owner": {"kind": owner["kind"], "name": owner["name"]} if owner else None, "before": before,
              "after": before, "actions": []}
    if before["ready"] and params["only_if_unready"]:
        result["msg"] = f"Pod {name} is Ready; left alone (only_if_unready=true)."
        return result
    recreated = owner is not None and owner.get("kind") in RECREATING_OWNERS
    owned_by = f"{owner['kind']} {owner['name']}" if owner else "nothing"
    require(recreated or params["force"], "pod has a controller",
            f"pod {name} is owned by {owned_by}; no StatefulSet, ReplicaSet or DaemonSet would recreate it.",
            override="force=true deletes it anyway, for good")
    reasons = ", ".join(before["reasons"])
    why = "Ready" if before["ready"] else f"not Ready: {reasons}" if reasons else "not Ready"
    result["actions"] = [f"Delete pod {name} (uid {before['uid']}) of {owned_by}"]
    result["msg"] = (f"Recreate pod {name} of {owned_by} ({why})." if recreated
                     else f"Delete pod {name}, which nothing recreates ({why}).")
    result["after"] = None
    if recreated:
        # a StatefulSet recreates the same name; the others make a pod of a new name
        new_name = name if owner["kind"] == "StatefulSet" else None
        result["after"] = dict(before, name=new_name, uid=None, phase="Running", ready=True, reasons=[], restarts=0)
    if module.check_mode:
        return result
    known = {meta(p).get("uid") for p in list_pods(k8s) if recreated and of_owner(p, owner)} | {before["uid"]}
    delete_pod(k8s, name, before["uid"])
    observe = partial(replacement, k8s, name, owner, known) if recreated else partial(gone, k8s, before["uid"])
    what = f"pod {name} was deleted, but " + ("no Ready replacement came" if recreated else "it was not gone")
    if params["wait"]:
        result["duration"] = confirm(module, observe, what, result)
    result["after"] = observe()["pod"]
    return result


def main():
    module = RunbookModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "only_if_unready": {"type": "bool", "default": True},
            "force": {"type": "bool", "default": False},
        },
        shared=(k8s_argument_spec, lambda: wait_argument_spec(300)),
        supports_check_mode=True,
    )
    run_change(module, recreate)


if __name__ == "__main__":
    main()
