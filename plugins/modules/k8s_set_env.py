#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: k8s_set_env
short_description: Set or remove environment variables of a Deployment's container, and say how to revert
version_added: 1.0.0
description:
  - The runbook's C(kubectl set env deployment/backend ...) steps - emergency mode C(REDIS_ENABLED=false) (P0-3),
    C(LLM_PROVIDER=anthropic) and C(CACHE_ONLY_MODE=true) (P0-4) - through the Kubernetes API.
  - Changes the C(env) list of one container of the pod template with a strategic merge patch, so the other
    variables and containers stay as they are; the Deployment then rolls out new pods.
  - Returns the values before (C(previous)) and the arguments that put them back (C(revert)).
  - Only literal values are handled; a variable that takes its value from a ConfigMap or Secret (C(valueFrom))
    is refused, changing nothing. Variables that come from C(envFrom) are not seen.
  - Values appear in the output (C(previous), C(actions), the diff); keep secrets in Secrets.
  - Waits until the rollout is complete, by the rule of C(kubectl rollout status).
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.k8s
  - sre.runbooks.wait
  - sre.runbooks.attributes
attributes:
  check_mode:
    support: full
    details: Reports the change it would do, with a diff of the variables; patches nothing.
  diff_mode:
    support: full
  idempotent:
    support: full
    details: Variables that already have the wanted values (or are already absent) are left alone.
options:
  name:
    description: Name of the Deployment.
    type: str
    required: true
  container:
    description: Name of the container. Defaults to the first container of the pod template.
    type: str
  set:
    description:
      - Variables to set, name to value. Values are strings; numbers are turned into strings, booleans are
        refused (YAML reads C(true), C(yes), C(on) as booleans - quote them, as in C("false")).
    type: dict
  remove:
    description: Names of the variables to remove.
    type: list
    elements: str
  wait_timeout:
    description: Seconds to wait for the rollout to complete when O(wait=true).
    type: int
    default: 300
"""

EXAMPLES = r"""
- name: Emergency mode, no cache (P0-3 option 3)
  sre.runbooks.k8s_set_env:
    name: backend
    set:
      REDIS_ENABLED: "false"
  register: emergency

- name: Fall back to Anthropic (P0-4 option 2)
  sre.runbooks.k8s_set_env:
    name: backend
    set:
      LLM_PROVIDER: anthropic

- name: Put the variables back once the incident is over
  sre.runbooks.k8s_set_env: "{{ {'name': 'backend'} | combine(emergency.revert) }}"
"""

RETURN = r"""
msg:
  description: What was (or would be) done, or why nothing was needed.
  returned: always
  type: str
  sample: "Set REDIS_ENABLED=false on container backend of Deployment backend."
container:
  description: The container changed.
  returned: always
  type: str
  sample: backend
previous:
  description: The value of each variable of O(set) and O(remove) before the run; null when it was absent.
  returned: always
  type: dict
  sample: {REDIS_ENABLED: "true"}
revert:
  description: The O(set) and O(remove) arguments that put the previous values back.
  returned: always
  type: dict
  sample: {set: {REDIS_ENABLED: "true"}, remove: []}
actions:
  description: What was done (or would be done in check mode), one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["Set REDIS_ENABLED=false on container backend of Deployment backend (was true)"]
before:
  description: The variables of O(set) and O(remove) before (null when absent).
  returned: always
  type: dict
  sample: {REDIS_ENABLED: "true"}
after:
  description: The same, after (as observed; in check mode, as it would be).
  returned: always
  type: dict
  sample: {REDIS_ENABLED: "false"}
check_mode:
  description: True when this was a dry run (check mode for the whole run, or for this step only).
  returned: always
  type: bool
  sample: false
duration:
  description: Seconds spent waiting for the rollout to complete.
  returned: when waited
  type: float
  sample: 1.6
"""

import json

from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule, wait_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.guards import require
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_changes import patch_workload, run_change, wait_rollout
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_client import k8s_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_workloads import get_workload


def wanted_values(params):
    """O(set) as strings, checked; refused when a name is in both set and remove."""
    wanted = {}
    for key, value in (params["set"] or {}).items():
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise RunbookError(f"set: the value of {key} must be a string, not {type(value).__name__} {value!r}; "
                               f"quote it ({key}: \"{str(value).lower()}\").")
        wanted[str(key)] = str(value)
    both = sorted(set(wanted) & set(params["remove"] or []))
    if both:
        raise RunbookError(f"set and remove both name {', '.join(both)}; name each variable in one of them.")
    return wanted


def pick_container(deployment, name, wanted):
    containers = ((deployment.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    if wanted is None and containers:
        return containers[0]
    found = next((c for c in containers if c.get("name") == wanted), None)
    if found is None:
        raise RunbookError(f"container: Deployment {name} has no container {wanted} "
                           f"(containers: {', '.join(c.get('name') for c in containers) or 'none'}).")
    return found


def shown(value):
    return "absent" if value is None else value


def env_patch(container, changes, removed):
    env = [{"name": key, "value": value, "valueFrom": None} for key, value in changes.items()]
    env += [{"name": key, "$patch": "delete"} for key in removed]
    return {"spec": {"template": {"spec": {"containers": [{"name": container, "env": env}]}}}}


def describe(changes, removed, place):
    parts = ([f"set {', '.join(f'{k}={v}' for k, v in changes.items())}"] if changes else []) + (
        [f"remove {', '.join(removed)}"] if removed else [])
    text = f"{' and '.join(parts)} {place}."
    return text[0].upper() + text[1:]


def set_env(module, k8s):
    params = module.params
    name = params["name"]
    wanted = wanted_values(params)
    container = pick_container(get_workload(k8s, "Deployment", name), name, params["container"])
    place = f"on container {container['name']} of Deployment {name}"
    current = {e.get("name"): e for e in container.get("env") or []}
    names = list(wanted) + [n for n in params["remove"] or [] if n not in wanted]
    for key in names:
        source = current.get(key, {}).get("valueFrom")
        require(source is None, "literal value", f"{key} {place} takes its value from {json.dumps(source)}; this "
                "module sets literal values only.", override="change that ConfigMap or Secret instead")
    before = {key: current[key].get("value", "") if key in current else None for key in names}
    changes = {key: value for key, value in wanted.items() if before[key] != value}
    removed = [key for key in params["remove"] or [] if key in current]
    result = {"container": container["name"], "previous": before, "before": before, "after": before,
              "revert": {"set": {k: v for k, v in before.items() if v is not None},
                         "remove": [k for k, v in before.items() if v is None]},
              "actions": [f"Set {key}={value} {place} (was {shown(before[key])})" for key, value in changes.items()]
              + [f"Remove {key} {place} (was {shown(before[key])})" for key in removed]}
    if not result["actions"]:
        result["msg"] = f"The variables {place} already are as asked; nothing to do."
    else:
        result["after"] = dict(before, **changes, **{key: None for key in removed})
        result["msg"] = describe(changes, removed, place)
        if not module.check_mode:
            patch_workload(k8s, "Deployment", name, env_patch(container["name"], changes, removed))
    wait_rollout(module, k8s, "Deployment", name, result)
    if result["actions"] and not module.check_mode:
        container = pick_container(get_workload(k8s, "Deployment", name), name, container["name"])
        observed = {e.get("name"): e.get("value", "") for e in container.get("env") or []}
        result["after"] = {key: observed.get(key) for key in names}
    return result


def main():
    module = RunbookModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "container": {"type": "str"},
            "set": {"type": "dict"},
            "remove": {"type": "list", "elements": "str"},
        },
        shared=(k8s_argument_spec, lambda: wait_argument_spec(300)),
        required_one_of=[("set", "remove")],
        supports_check_mode=True,
    )
    run_change(module, set_env)


if __name__ == "__main__":
    main()
