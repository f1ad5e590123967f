#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: elb_register_targets
short_description: Register the service's running instances in a target group, safely
version_added: 1.0.0
description:
  - The runbook's Load Balancer Issues step C(aws elbv2 register-targets), with its guards and its wait.
  - Registers the selected instances (O(instance_ids), O(tags), O(asg_name), ANDed) that are running, in the
    target group's VPC, C(InService) in O(asg_name) when it is given (not C(Standby) or leaving the group), and
    not registered yet on the port. The others are listed in RV(skipped_instances) with the reason.
  - With O(deregister_unhealthy), also deregisters the group's targets that are C(unhealthy), or C(unused)
    because their instance is stopped (C(Target.InvalidState)), after registering the new ones.
  - Refuses, changing nothing, when the target group does not exist or does not take instance targets, and when
    deregistering would leave the group with no registered target.
  - Waits until every new target has left C(initial) (its first health checks are done); when that does not
    happen within O(wait_timeout), the task fails with C(changed=true), the targets having been registered.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.aws
  - sre.runbooks.wait
  - sre.runbooks.attributes
attributes:
  check_mode:
    support: full
    details: Lists what it would register and deregister, with a diff of the targets; calls no changing API.
  diff_mode:
    support: full
  idempotent:
    support: full
    details: Instances already registered are left alone; a second run changes nothing.
options:
  target_group_arn:
    description: Target group to register the instances in, by ARN. Exclusive with O(target_group_name).
    type: str
  target_group_name:
    description: Target group to register the instances in, by name. One of it and O(target_group_arn) is required.
    type: str
  instance_ids:
    description: Instances to register, by id.
    type: list
    elements: str
  tags:
    description: Instances to register, by tags (every tag must match).
    type: dict
  asg_name:
    description:
      - Instances to register, as the members of this Auto Scaling group.
      - At least one of O(instance_ids), O(tags) and O(asg_name) is required; given together, an instance must
        match them all.
    type: str
  port:
    description: Port the targets receive traffic on. Defaults to the target group's port.
    type: int
  deregister_unhealthy:
    description:
      - Also deregister the group's targets that are C(unhealthy), or C(unused) because their instance is stopped.
      - Never leaves the group with no registered target.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait for the new targets to leave C(initial) when O(wait=true).
    type: int
    default: 300
"""

EXAMPLES = r"""
- name: Register the Auto Scaling group's running instances that are missing (Load Balancer Issues)
  sre.runbooks.elb_register_targets:
    target_group_name: pynomaly-tg
    asg_name: pynomaly-asg
  register: registration

- name: Register one instance, as in the runbook, and drop the targets whose instance is stopped
  sre.runbooks.elb_register_targets:
    target_group_arn: "{{ target_group_arn }}"
    instance_ids: [i-1234567890abcdef0]
    deregister_unhealthy: true
"""

RETURN = r"""
msg:
  description: What was (or would be) registered, deregistered and skipped, and why.
  returned: always
  type: str
  sample: "Registered 2 instance(s) in pynomaly-tg on port 8000 (i-0a1, i-0b2). Skipped i-0c3: stopped, not running
    (start it first, with sre.runbooks.ec2_instance_recover)."
registered:
  description: Ids of the instances registered (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [i-0a1, i-0b2]
deregistered:
  description: Ids of the targets deregistered (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: []
skipped_instances:
  description:
    - Selected instances that were not registered, C({id, reason}) each.
    - Not named C(skipped), a key Ansible reads as "the task was skipped".
  returned: always
  type: list
  elements: dict
  sample: [{id: i-0c3, reason: "stopped, not running (start it first, with sre.runbooks.ec2_instance_recover)"}]
actions:
  description: What was done (or would be done in check mode), one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["Register i-0a1, i-0b2 in pynomaly-tg on port 8000"]
before:
  description:
    - The state of each registered target of the group before, by target id; a target registered on another port
      than the group's is keyed C(id:port).
  returned: always
  type: dict
  sample: {i-0c3: unused}
after:
  description: The same, after (as observed; in check mode, as it would be, new targets C(initial)).
  returned: always
  type: dict
  sample: {i-0a1: healthy, i-0b2: healthy, i-0c3: unused}
check_mode:
  description: True when this was a dry run (check mode for the whole run, or for this step only).
  returned: always
  type: bool
  sample: false
duration:
  description: Seconds spent waiting for the new targets to leave C(initial).
  returned: when waited
  type: float
  sample: 0.02
"""

from ansible_collections.sre.runbooks.plugins.module_utils import elb
from ansible_collections.sre.runbooks.plugins.module_utils.aws_client import (
    BOTO3_IMPORT_ERROR,
    HAS_BOTO3,
    aws_argument_spec,
    call,
    client,
)
from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule, wait_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.ec2 import select_instances, selection_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.errors import NotConfirmed, RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.guards import require
from ansible_collections.sre.runbooks.plugins.module_utils.waiting import wait_for


def read_group(elbv2, params):
    """The target group as AWS returns it; refused (nothing done) when it does not exist or takes no instances."""
    wanted = params["target_group_arn"] or params["target_group_name"]
    try:
        raw = elb.read_target_group(elbv2, arn=params["target_group_arn"], name=params["target_group_name"])
    except RunbookError as exc:
        require(not elb.is_not_found(exc), "target group exists", f"target group {wanted} does not exist.")
        raise
    kind = raw.get("TargetType") or "instance"
    require(kind == "instance", "instance targets",
            f"target group {raw['TargetGroupName']} takes targets of type {kind}; this module registers instances.")
    return raw


def skip_reason(instance, vpc_id):
    """Why a selected instance cannot be registered, or None."""
    if instance["state"] != "running":
        return f"{instance['state']}, not running (start it first, with sre.runbooks.ec2_instance_recover)"
    if instance["vpc_id"] != vpc_id:
        return f"in {instance['vpc_id']}, not in the target group's VPC {vpc_id}"
    if instance["asg_lifecycle"] not in (None, "InService"):
        return f"{instance['asg_lifecycle']} in Auto Scaling group {instance['asg']}, not InService"
    return None


def plan(params, raw, instances, targets):
    """(register ids, skipped, targets to deregister, port) for this run."""
    port = params["port"] or raw["Port"]
    registered = {(t["id"], t["port"]) for t in targets if t["state"] != "draining"}
    register, skipped = [], []
    for instance in instances:
        reason = skip_reason(instance, raw.get("VpcId"))
        if reason:
            skipped.append({"id": instance["id"], "reason": reason})
        elif (instance["id"], port) not in registered:
            register.append(instance["id"])
    deregister = []
    if params["deregister_unhealthy"]:
        deregister = [t for t in targets if t["state"] == "unhealthy"
                      or (t["state"] == "unused" and t["reason"] == "Target.InvalidState")]
    left = registered - {(t["id"], t["port"]) for t in deregister} | {(i, port) for i in register}
    require(left or not deregister, "targets left",
            f"deregistering {elb.describe_targets(deregister)} would leave {raw['TargetGroupName']} with no "
            "registered target, and no selected instance can be registered in their place. Start the instances "
            "(sre.runbooks.ec2_instance_recover) or select running ones to register.")
    return register, skipped, deregister, port


def summary(name, selected, register, deregister, skipped, port, check_mode):
    parts = []
    if register:
        verb = "Would register" if check_mode else "Registered"
        parts.append(f"{verb} {len(register)} instance(s) in {name} on port {port} ({', '.join(register)}).")
    if deregister:
        verb = "Would deregister" if check_mode else "Deregistered"
        parts.append(f"{verb} {len(deregister)} target(s) from {name}: {elb.describe_targets(deregister)}.")
    if not parts and not selected:
        parts.append("Nothing to do: no instance matches the selection (instance_ids, tags, asg_name).")
    elif not parts:
        parts.append(f"Nothing to do: every selected instance that can be registered is registered in {name}.")
    if skipped:
        parts.append("Skipped " + "; ".join(f"{s['id']}: {s['reason']}" for s in skipped) + ".")
    return " ".join(parts)


def joined(targets, wanted):
    """True when every wanted (id, port) is registered and has left initial."""
    states = {(t["id"], t["port"]): t["state"] for t in targets}
    return all(states.get(key, "initial") != "initial" for key in wanted)


def apply(module, elbv2, arn, register, deregister, port, result):
    """Register, then deregister (never the other way round), then wait; (targets now, seconds waited or None)."""
    params = module.params
    if register:
        call(elbv2.register_targets, TargetGroupArn=arn, Targets=[{"Id": i, "Port": port} for i in register])
    try:
        if deregister:
            call(elbv2.deregister_targets, TargetGroupArn=arn,
                 Targets=[{"Id": t["id"], "Port": t["port"]} for t in deregister])
    except RunbookError as exc:
        raise NotConfirmed(f"Registered {', '.join(register) or 'nothing'}, but deregistering failed: {exc.msg}",
                           **result) from exc
    if not (register and params["wait"]):
        return elb.read_targets(elbv2, arn), None
    wanted = {(i, port) for i in register}
    ok, state, duration = wait_for(lambda: elb.read_targets(elbv2, arn), lambda t: joined(t, wanted),
                                   params["wait_timeout"], params["wait_sleep"])
    if not ok:
        seen = (elb.describe_targets([t for t in state if (t["id"], t["port"]) in wanted])
                if isinstance(state, list) else state.get("error"))
        raise NotConfirmed(f"{', '.join(register)} did not leave initial within {params['wait_timeout']}s "
                           f"(last seen: {seen or 'not registered'}).", **dict(result, duration=duration))
    return state, duration


def register_targets(module):
    params = module.params
    elbv2 = client(params, "elbv2")
    raw = read_group(elbv2, params)
    name, arn = raw["TargetGroupName"], raw["TargetGroupArn"]
    instances, _group = select_instances(client(params, "ec2"), client(params, "autoscaling"),
                                         params["instance_ids"], params["tags"], params["asg_name"])
    targets = elb.read_targets(elbv2, arn)
    register, skipped, deregister, port = plan(params, raw, instances, targets)
    before = elb.state_map(targets, raw["Port"])
    gone = {elb.target_key(t, raw["Port"]) for t in deregister}
    after = {key: state for key, state in before.items() if key not in gone}
    after.update((elb.target_key({"id": i, "port": port}, raw["Port"]), "initial") for i in register)
    actions = [f"Register {', '.join(register)} in {name} on port {port}"] if register else []
    actions += [f"Deregister {', '.join(sorted(gone))} from {name}"] if deregister else []
    result = {"registered": register, "deregistered": sorted(gone), "skipped_instances": skipped, "actions": actions,
              "before": before, "after": after,
              "msg": summary(name, len(instances), register, deregister, skipped, port, module.check_mode)}
    if actions and not module.check_mode:
        now, duration = apply(module, elbv2, arn, register, deregister, port, result)
        if duration is not None:
            result["duration"] = duration
        result["after"] = elb.state_map(now, raw["Port"])
        slow = [t for t in now if (t["id"] in register and t["port"] == port and not elb.serving(t))]
        if slow:
            result["msg"] += f" Not healthy yet: {elb.describe_targets(slow)}."
    return result


def main():
    module = RunbookModule(
        argument_spec={
            "target_group_arn": {"type": "str"},
            "target_group_name": {"type": "str"},
            "port": {"type": "int"},
            "deregister_unhealthy": {"type": "bool", "default": False},
        },
        shared=(aws_argument_spec, lambda: wait_argument_spec(300), selection_argument_spec),
        mutually_exclusive=[("target_group_arn", "target_group_name")],
        required_one_of=[("target_group_arn", "target_group_name"), ("instance_ids", "tags", "asg_name")],
        bounds={"port": (1, 65535), "wait_timeout": (0, None)},
        supports_check_mode=True,
    )
    module.require_library("boto3", HAS_BOTO3, BOTO3_IMPORT_ERROR)
    module.run_change(register_targets)


if __name__ == "__main__":
    main()
