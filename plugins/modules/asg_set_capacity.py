#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: asg_set_capacity
short_description: Set the desired capacity of an Auto Scaling group, within its limits, and wait for the instances
version_added: 1.0.0
description:
  - The runbook's Auto Scaling Response
    (C(aws autoscaling set-desired-capacity --auto-scaling-group-name pynomaly-asg --desired-capacity 6)), with its
    guards and its wait.
  - Sets the group's desired capacity to O(desired), or to the current desired capacity plus O(increment).
  - Refuses, changing nothing, above the group's maximum size unless O(raise_max=true); then the maximum is raised
    to O(max_cap) in the same call (so that the group can scale out again), and a desired capacity above
    O(max_cap) is refused.
  - Refuses below the number of instances in service unless O(allow_scale_in=true) (the group would terminate
    serving instances), and below the group's minimum size (AWS would refuse it).
  - Waits until the desired number of instances is in service (lifecycle C(InService), health C(Healthy)); when
    that does not happen within O(wait_timeout), the task fails, with C(changed=true) when the capacity was set.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.aws
  - sre.runbooks.wait
  - sre.runbooks.attributes
attributes:
  check_mode:
    support: full
    details: Reports the capacity (and maximum) it would set, with a diff; calls no changing API.
  diff_mode:
    support: full
  idempotent:
    support: partial
    details:
      - With O(desired), a group whose desired capacity already is O(desired) is left alone.
      - With O(increment), every run adds O(increment) instances again.
options:
  asg_name:
    description: Name of the Auto Scaling group.
    type: str
    required: true
  desired:
    description:
      - Desired capacity to set (0 or more). Exclusive with O(increment); one of them is required.
    type: int
  increment:
    description: Instances to add to the current desired capacity (1 or more).
    type: int
  raise_max:
    description:
      - When the new desired capacity is above the group's maximum size, raise the maximum to O(max_cap) instead
        of refusing. The old maximum is returned in C(before), to put back after the incident.
    type: bool
    default: false
  max_cap:
    description:
      - The maximum size O(raise_max=true) sets, and the highest desired capacity it allows.
        Required with O(raise_max=true).
    type: int
  allow_scale_in:
    description: Allow a desired capacity below the number of instances in service (they are terminated).
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait for the instances to be in service when O(wait=true).
    type: int
    default: 300
"""

EXAMPLES = r"""
- name: Scale up immediately (Auto Scaling Response)
  sre.runbooks.asg_set_capacity:
    asg_name: pynomaly-asg
    increment: 2

- name: Scale up to 6, past the group's maximum if needed, never above 8
  sre.runbooks.asg_set_capacity:
    asg_name: pynomaly-asg
    desired: 6
    raise_max: true
    max_cap: 8
"""

RETURN = r"""
msg:
  description: What was (or would be) done, or why nothing was needed.
  returned: always
  type: str
  sample: "Raise MaxSize of pynomaly-asg from 6 to 8 (to revert, set it back to 6). Set DesiredCapacity of
    pynomaly-asg from 6 to 7."
actions:
  description: What was done (or would be done in check mode), one sentence each; empty when nothing was needed.
  returned: always
  type: list
  elements: str
  sample: ["Set DesiredCapacity of pynomaly-asg from 3 to 4"]
before:
  description: C({desired, min, max, in_service}) of the group before.
  returned: always
  type: dict
  sample: {desired: 3, min: 2, max: 6, in_service: 2}
after:
  description: The same, after (as observed; in check mode, as it would be once the instances are in service).
  returned: always
  type: dict
  sample: {desired: 4, min: 2, max: 6, in_service: 4}
check_mode:
  description: True when this was a dry run (check mode for the whole run, or for this step only).
  returned: always
  type: bool
  sample: false
duration:
  description: Seconds spent waiting for the instances to be in service.
  returned: when waited
  type: float
  sample: 1.52
"""

from ansible_collections.sre.runbooks.plugins.module_utils.aws_client import (
    BOTO3_IMPORT_ERROR,
    HAS_BOTO3,
    aws_argument_spec,
    call,
    client,
)
from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule, wait_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.ec2 import group_capacity, read_group
from ansible_collections.sre.runbooks.plugins.module_utils.errors import NotConfirmed
from ansible_collections.sre.runbooks.plugins.module_utils.guards import require
from ansible_collections.sre.runbooks.plugins.module_utils.waiting import wait_for

SHOWN = ("desired", "min", "max", "in_service")


def state(autoscaling, name):
    capacity = group_capacity(read_group(autoscaling, name))
    return {key: capacity[key] for key in SHOWN}


def target_of(params, before):
    return params["desired"] if params["desired"] is not None else before["desired"] + params["increment"]


def plan(params, before, target):
    """The new maximum size (None: keep it); refused when a guard does not hold."""
    name, new_max = params["asg_name"], None
    if target > before["max"]:
        require(params["raise_max"], "within max",
                f"{name} allows at most {before['max']} instances (MaxSize); desired {target} is above it.",
                override=f"set raise_max=true with max_cap {target} or more, or ask for fewer instances")
        require(target <= params["max_cap"], "within max_cap",
                f"desired {target} would raise MaxSize of {name} above max_cap={params['max_cap']}.",
                override="raise max_cap, or ask for fewer instances")
        new_max = params["max_cap"]
    require(target >= before["min"], "within min",
            f"{name} keeps at least {before['min']} instances (MinSize); desired {target} is below it.")
    if target < before["in_service"]:
        require(params["allow_scale_in"], "no scale-in",
                f"{name} has {before['in_service']} instances in service; desired {target} would terminate "
                f"{before['in_service'] - target} of them.", override="set allow_scale_in=true")
    return new_max


def actions_of(name, before, target, new_max):
    actions = []
    if new_max is not None:
        actions.append(f"Raise MaxSize of {name} from {before['max']} to {new_max} "
                       f"(to revert, set it back to {before['max']})")
    if target != before["desired"]:
        actions.append(f"Set DesiredCapacity of {name} from {before['desired']} to {target}")
    return actions


def apply(autoscaling, name, target, new_max):
    if new_max is not None:
        call(autoscaling.update_auto_scaling_group, AutoScalingGroupName=name, MaxSize=new_max,
             DesiredCapacity=target)
    else:
        call(autoscaling.set_desired_capacity, AutoScalingGroupName=name, DesiredCapacity=target,
             HonorCooldown=False)


def confirm(module, autoscaling, target, scale_in, result):
    """Wait until target instances are in service (at most target when scaling in)."""
    params = module.params
    ok, seen, duration = wait_for(lambda: state(autoscaling, params["asg_name"]),
                                  lambda s: s["in_service"] <= target if scale_in else s["in_service"] >= target,
                                  params["wait_timeout"], params["wait_sleep"])
    if not ok:
        last = seen.get("error") or f"{seen['in_service']} in service, desired {seen['desired']}"
        done = ("the capacity was set" if result["actions"]
                else f"nothing was changed: the desired capacity already was {target}")
        raise NotConfirmed(f"{params['asg_name']} did not get {target} instances in service within "
                           f"{params['wait_timeout']}s (last seen: {last}); {done}.",
                           changed=bool(result["actions"]), **result)
    return duration


def set_capacity(module):
    params = module.params
    name = params["asg_name"]
    autoscaling = client(params, "autoscaling")
    before = state(autoscaling, name)
    target = target_of(params, before)
    result = {"before": before, "after": before, "actions": []}
    if target == before["desired"] and target <= before["max"]:
        result["msg"] = (f"{name} already has desired capacity {target} ({before['in_service']} in service); "
                         "nothing to do.")
    else:
        new_max = plan(params, before, target)
        result["actions"] = actions_of(name, before, target, new_max)
        result["after"] = dict(before, desired=target, max=new_max or before["max"], in_service=target)
        result["msg"] = ". ".join(result["actions"]) + "."
        if not module.check_mode:
            apply(autoscaling, name, target, new_max)
    if params["wait"] and not module.check_mode:
        result["duration"] = confirm(module, autoscaling, target, target < before["in_service"], result)
    if not module.check_mode:
        result["after"] = state(autoscaling, name)
    return result


def main():
    module = RunbookModule(
        argument_spec={
            "asg_name": {"type": "str", "required": True},
            "desired": {"type": "int"},
            "increment": {"type": "int"},
            "raise_max": {"type": "bool", "default": False},
            "max_cap": {"type": "int"},
            "allow_scale_in": {"type": "bool", "default": False},
        },
        shared=(aws_argument_spec, lambda: wait_argument_spec(300)),
        mutually_exclusive=[("desired", "increment")],
        required_one_of=[("desired", "increment")],
        required_if=[("raise_max", True, ("max_cap",))],
        bounds={"desired": (0, None), "increment": (1, None), "max_cap": (1, None), "wait_timeout": (0, None)},
        supports_check_mode=True,
    )
    module.require_library("boto3", HAS_BOTO3, BOTO3_IMPORT_ERROR)
    module.run_change(set_capacity)


if __name__ == "__main__":
    main()
