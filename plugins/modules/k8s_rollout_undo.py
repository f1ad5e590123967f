#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: k8s_rollout_undo
short_description: Roll a Deployment back to its previous (or a named) revision, as kubectl rollout undo does
version_added: 1.0.0
description:
  - The runbook's P0-1 "Rollback Recent Deployment" (C(kubectl rollout undo) then C(kubectl rollout status)),
    through the Kubernetes API.
  - Does what C(kubectl rollout undo) does, in one JSON patch of the Deployment - the pod template of the
    ReplicaSet of the target revision (without its C(pod-template-hash) label) replaces the Deployment's, and
    the Deployment's annotations take the ReplicaSet's (its C(kubernetes.io/change-cause) among them). The
    Deployment controller then reuses that ReplicaSet under a new revision number.
  - Without O(to_revision), the target is the revision before the newest one, as for kubectl. Each such run
    goes back once more, so a retried playbook should name O(to_revision) (for instance the
    C(previous_revision) of the C(k8s.rollout_failing) finding of M(sre.runbooks.k8s_workload_info)).
  - Refuses, changing nothing, when the revision does not exist and when the Deployment is paused.
  - Waits until the rollout is complete, by the rule of C(kubectl rollout status) - the new generation is
    observed, every replica is updated and available, and no old replica is left.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.k8s
  - sre.runbooks.wait
  - sre.runbooks.attributes
attributes:
  check_mode:
    support: full
    details: Reports the rollback it would do, with a diff of revision, images and change-cause; patches nothing.
  diff_mode:
    support: full
  idempotent:
    support: partial
    details:
      - With O(to_revision), a Deployment that already runs that revision's template is left alone (also after
        the rollback renumbered it; the ReplicaSet's C(deployment.kubernetes.io/revision-history) keeps the old
        number).
      - Without it, every run goes back one revision, as C(kubectl rollout undo) does.
options:
  name:
    description: Name of the Deployment.
    type: str
    required: true
  to_revision:
    description:
      - Revision to roll back to, as C(kubectl rollout history) numbers it.
      - Without it, the revision before the newest one.
    type: int
  wait_timeout:
    description: Seconds to wait for the rollout to complete when O(wait=true).
    type: int
    default: 300
"""

EXAMPLES = r"""
- name: Roll the backend back to its previous revision (P0-1 option 1)
  sre.runbooks.k8s_rollout_undo:
    name: backend
    namespace: pubsec-info-assistant

- name: Roll back to the revision before the failing rollout (idempotent on a retry)
  sre.runbooks.k8s_rollout_undo:
    name: "{{ failing.evidence.workload }}"
    to_revision: "{{ failing.evidence.previous_revision }}"
    wait_timeout: 600
"""

RETURN = r"""
msg:
  description: What was (or would be) done, or why nothing was needed.
  returned: always
  type: str
  sample: "Roll Deployment backend back from revision 2 to the template of revision 1."
to_revision:
  description: The revision rolled back to, as numbered before the rollback.
  returned: always
  type: int
  sample: 1
actions:
  description: What was done (or would be done in check mode), one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["Roll Deployment backend back to revision 1 (backend registry.local/pubsec/backend:1.4.1)"]
before:
  description: C({revision, images, change_cause}) of the Deployment before; C(images) maps container to image.
  returned: always
  type: dict
  sample: {revision: 2, images: {backend: "registry.local/pubsec/backend:1.4.2"},
           change_cause: "release 1.4.2: query cache tuning"}
after:
  description:
    - The same, after (as observed; in check mode, as it would be). The revision rolled back to gets a new
      number, the next one.
  returned: always
  type: dict
  sample: {revision: 3, images: {backend: "registry.local/pubsec/backend:1.4.1"}, change_cause: "release 1.4.1"}
check_mode:
  description: True when this was a dry run (check mode for the whole run, or for this step only).
  returned: always
  type: bool
  sample: false
duration:
  description: Seconds spent waiting for the rollout to complete.
  returned: when waited
  type: float
  sample: 1.52
"""

from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule, wait_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.guards import require
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_changes import (
    REVISION_HISTORY,
    annotations,
    images,
    meta,
    patch_workload,
    run_change,
    template_without_hash,
    wait_rollout,
)
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_client import k8s_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_state import (
    CHANGE_CAUSE,
    REVISION,
    revisions,
    selector_string,
)
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_workloads import get_workload, list_replicasets

# Deployment annotations kept through a rollback; the others come from the ReplicaSet (as kubectl does).
KEPT_ANNOTATIONS = {"kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY,
                    "deployment.kubernetes.io/desired-replicas", "deployment.kubernetes.io/max-replicas",
                    "deprecated.deployment.rollback.to"}


def number(obj):
    value = annotations(obj).get(REVISION, "")
    return int(value) if value.isdigit() else 0


def state(obj, revision, template):
    return {"revision": revision, "images": images(template), "change_cause": annotations(obj).get(CHANGE_CAUSE)}


def numbers(rs):
    """The revision of a ReplicaSet and the numbers it had before (revision-history)."""
    history = annotations(rs).get(REVISION_HISTORY, "")
    return {number(rs)} | {int(n) for n in history.split(",") if n.strip().isdigit()}


def read_history(k8s, deployment):
    """{revision: ReplicaSet} of the Deployment (what kubectl rollout history lists)."""
    found = list_replicasets(k8s, selector_string((deployment.get("spec") or {}).get("selector")))
    by_name = {meta(rs).get("name"): rs for rs in found}
    return {r["revision"]: by_name[r["replicaset"]] for r in revisions(deployment, found)}


def find_target(history, to_revision, name):
    """The ReplicaSet of the target revision; refused when there is none."""
    listed = ", ".join(str(n) for n in sorted(history)) or "none"
    if to_revision is None:
        require(len(history) >= 2, "previous revision exists",
                f"Deployment {name} has no revision before the newest one (revisions: {listed}).")
        return history[sorted(history)[-2]]
    target = next((rs for rs in history.values() if to_revision in numbers(rs)), None)
    require(target is not None, "revision exists", f"Deployment {name} has no revision {to_revision} "
            f"(revisions: {listed}).")
    return target


def rollback_patch(deployment, target, template):
    """The JSON patch of kubectl rollout undo: the target's template and annotations."""
    merged = {k: v for k, v in annotations(deployment).items() if k in KEPT_ANNOTATIONS}
    merged.update({k: v for k, v in annotations(target).items() if k not in KEPT_ANNOTATIONS})
    return [{"op": "replace", "path": "/spec/template", "value": template},
            {"op": "add", "path": "/metadata/annotations", "value": merged}]


def undo(module, k8s):
    params = module.params
    name = params["name"]
    deployment = get_workload(k8s, "Deployment", name)
    spec = deployment.get("spec") or {}
    history = read_history(k8s, deployment)
    current = number(deployment) or max(history, default=0)
    target = find_target(history, params["to_revision"], name)
    wanted = params["to_revision"] or number(target)
    template = template_without_hash(target["spec"].get("template"))
    before = state(deployment, current, spec.get("template"))
    result = {"to_revision": wanted, "before": before, "after": before, "actions": []}
    if template == template_without_hash(spec.get("template")):
        result["msg"] = (f"Deployment {name} already runs the template of revision {wanted} "
                         f"(now revision {number(target)}); nothing to do.")
        wait_rollout(module, k8s, "Deployment", name, result)
        return result
    require(not spec.get("paused"), "deployment not paused", f"Deployment {name} is paused; a rollback "
            "would not roll out.", override="resume it first (spec.paused=false, kubectl rollout resume)")
    shown = ", ".join(f"{c} {i}" for c, i in images(template).items())
    result["actions"] = [f"Roll Deployment {name} back to revision {wanted} ({shown})"]
    result["after"] = state(target, max(history) + 1, template)
    result["msg"] = f"Roll Deployment {name} back from revision {current} to the template of revision {wanted}."
    if not module.check_mode:
        patch_workload(k8s, "Deployment", name, rollback_patch(deployment, target, template))
        wait_rollout(module, k8s, "Deployment", name, result)
        deployment = get_workload(k8s, "Deployment", name)
        result["after"] = state(deployment, number(deployment), deployment["spec"].get("template"))
    return result


def main():
    module = RunbookModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "to_revision": {"type": "int"},
        },
        shared=(k8s_argument_spec, lambda: wait_argument_spec(300)),
        bounds={"to_revision": (1, None)},
        supports_check_mode=True,
    )
    run_change(module, undo)


if __name__ == "__main__":
    main()
