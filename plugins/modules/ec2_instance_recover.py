#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: ec2_instance_recover
short_description: Start stopped application servers and reboot impaired ones, only the service's own
version_added: 1.0.0
description:
  - The runbook's Infrastructure Issues step for the application servers, after C(aws ec2 describe-instance-status)
    showed an instance stopped or failing its status checks. Acts on the instances selected by O(instance_ids),
    O(tags) and O(asg_name) (an instance must match all that are given).
  - With O(action=auto), starts the stopped instances and reboots the running ones whose system or instance
    status check is C(impaired). With O(action=start), only starts; with O(action=reboot), reboots every selected
    running instance. Never stops or terminates an instance.
  - Instances it leaves alone are listed in RV(skipped_instances) with the reason (C(running, checks ok);
    C(pending); C(stopping), to be started by a later run once stopped).
  - Refuses, changing nothing, when an instance of the selection (or of O(instance_ids)) is not the service's
    (it lacks one of O(service_tags), or is not an instance of O(asg_name)), when it would start or reboot more
    than O(max_instances) instances, and, with O(keep_healthy), when the reboots would leave the service with no
    running instance whose checks pass.
  - Waits until started instances are C(running) with their status checks C(ok) (a check AWS does not report is
    not waited for) and rebooted ones are C(running); when that does not happen within O(wait_timeout), the task
    fails with C(changed=true).
  - A failing system status check is a problem of the host; a reboot may not cure it, a stop and start (which
    moves the instance to another host) usually does. An Auto Scaling group whose health check counts a stopped
    instance as unhealthy replaces it; starting it then races that replacement.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.aws
  - sre.runbooks.wait
  - sre.runbooks.attributes
attributes:
  check_mode:
    support: full
    details: Lists what it would start and reboot, with a diff of the states; calls no changing API.
  diff_mode:
    support: full
  idempotent:
    support: partial
    details:
      - With O(action=auto) and O(action=start), a second run finds the instances running and changes nothing.
      - O(action=reboot) reboots the selected running instances on every run.
options:
  instance_ids:
    description: Instances to recover (EC2 instance ids, C(i-...)). Each of them must be selected and the service's.
    type: list
    elements: str
  tags:
    description: Recover the instances carrying every one of these tags (tag key to value).
    type: dict
  asg_name:
    description:
      - The service's Auto Scaling group. Selects its instances, and refuses any instance that is not one of them.
      - At least one of O(instance_ids), O(tags) and O(asg_name) is required, and one of O(service_tags) and
        O(asg_name).
    type: str
  service_tags:
    description: Tags (key to value) every instance of the service carries; an instance without them is refused.
    type: dict
  action:
    description:
      - C(auto) starts stopped instances and reboots running ones whose status checks are impaired.
      - C(start) only starts stopped instances; C(reboot) reboots every selected running instance.
    type: str
    choices: [auto, start, reboot]
    default: auto
  max_instances:
    description: Refuse when more than this many instances would be started or rebooted in this run.
    type: int
    default: 3
  keep_healthy:
    description:
      - Refuse reboots that would leave no instance of the service (O(service_tags), O(asg_name)) running with
        its status checks passing. Set to false to reboot the last healthy one anyway.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the new state when O(wait=true).
    type: int
    default: 300
"""

EXAMPLES = r"""
- name: Start the stopped and reboot the impaired application servers (Infrastructure Issues)
  sre.runbooks.ec2_instance_recover:
    asg_name: pynomaly-asg
    service_tags:
      Service: pynomaly
  register: recovered

- name: Reboot one application server that hangs
  sre.runbooks.ec2_instance_recover:
    instance_ids: [i-1234567890abcdef0]
    asg_name: pynomaly-asg
    action: reboot
"""

RETURN = r"""
msg:
  description: What was (or would be) done, and what was left alone.
  returned: always
  type: str
  sample: "Start i-0a1b2c3d4e5f60718 (pynomaly-app-1). Left alone 2: i-0b (pynomaly-app-2) running, checks ok; ..."
actions:
  description: What was done (or would be done in check mode), one sentence each; empty when nothing was to do.
  returned: always
  type: list
  elements: str
  sample: ["StartInstances i-0a1b2c3d4e5f60718 (pynomaly-app-1): stopped"]
started:
  description: Ids of the instances started (or to be started in check mode).
  returned: always
  type: list
  elements: str
  sample: [i-0a1b2c3d4e5f60718]
rebooted:
  description: Ids of the instances rebooted (or to be rebooted in check mode).
  returned: always
  type: list
  elements: str
  sample: []
skipped_instances:
  description:
    - The selected instances left alone, each with C(id), C(name), C(state) and C(reason).
    - Not named C(skipped), which Ansible reads as "the task was skipped".
  returned: always
  type: list
  elements: dict
  sample: [{id: i-0b1c2d3e4f5a60718, name: pynomaly-app-2, state: running, reason: "running, checks ok"}]
before:
  description: State of every selected instance before, as a dict of instance id to state.
  returned: always
  type: dict
  sample: {i-0a1b2c3d4e5f60718: stopped, i-0b1c2d3e4f5a60718: running}
after:
  description: The same, after (as observed; in check mode, as it would be).
  returned: always
  type: dict
  sample: {i-0a1b2c3d4e5f60718: running, i-0b1c2d3e4f5a60718: running}
check_mode:
  description: True when this was a dry run.
  returned: always
  type: bool
  sample: false
duration:
  description: Seconds spent waiting for the new state.
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
from ansible_collections.sre.runbooks.plugins.module_utils.ec2 import (
    SELECTORS,
    describe_selection,
    select_instances,
    selection_argument_spec,
    status_checks,
    validate_selection,
)
from ansible_collections.sre.runbooks.plugins.module_utils.errors import NotConfirmed, RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.guards import require
from ansible_collections.sre.runbooks.plugins.module_utils.waiting import wait_for


def decide(state, system, instance, action):
    """(what, reason) for one instance: what is 'start', 'reboot' or None (left alone; reason says why).

    system, instance: its status checks (ok, impaired, initializing, insufficient-data, not-applicable, None).
    The lab's moto never reports a check impaired, so reboot-on-impaired is covered by unit tests of this function.
    """
    impaired = " and ".join(kind for kind, status in (("system", system), ("instance", instance))
                            if status == "impaired")
    if state == "stopped":
        if action == "reboot":
            return None, "stopped; a stopped instance cannot be rebooted (action=start starts it)"
        return "start", "stopped"
    if state == "running":
        if action == "reboot":
            return "reboot", f"running, {impaired} status check impaired" if impaired else "running, action=reboot"
        if impaired:
            if action == "auto":
                return "reboot", f"running, {impaired} status check impaired"
            return None, f"running, {impaired} status check impaired; action=start does not reboot"
        if system == "ok" and instance == "ok":
            return None, "running, checks ok"
        return None, f"running, checks not passed yet (system {system}, instance {instance})"
    if state == "pending":
        return None, "pending: already starting"
    if state == "stopping":
        return None, "stopping: run again once it is stopped"
    return None, f"{state}: it cannot be started"


def passing(checks):
    return checks.get("state") == "running" and checks.get("system") == "ok" and checks.get("instance") == "ok"


def label(entry):
    return f"{entry['id']} ({entry['name']})" if entry.get("name") else entry["id"]


def why_outside(entry, params, members):
    """Why one instance is not the service's, as a phrase."""
    reasons = []
    if params["asg_name"] and entry["id"] not in members:
        reasons.append(f"not in Auto Scaling group {params['asg_name']}")
    reasons += [f"no tag {key}={value}" for key, value in (params["service_tags"] or {}).items()
                if entry["tags"].get(key) != str(value)]
    return ", ".join(reasons) or f"does not match {describe_selection(tags=params['tags'])}"


def check_membership(ec2, autoscaling, params, selected, service, group):
    """Refuse unless every selected instance, and every id of instance_ids, is selected and the service's."""
    members = {m["InstanceId"] for m in (group or {}).get("Instances", [])}
    service_ids = {s["id"] for s in service}
    outside = [e for e in selected if e["id"] not in service_ids]
    unselected = sorted(set(params["instance_ids"] or []) - {e["id"] for e in selected})
    if unselected:
        found, _group = select_instances(ec2, autoscaling, instance_ids=unselected)
        outside += found
        outside += [{"id": i, "name": None, "tags": {}, "gone": True}
                    for i in unselected if i not in {e["id"] for e in found}]
    seen = "; ".join(f"{label(e)}: " + ("terminated" if e.get("gone") else why_outside(e, params, members))
                     for e in sorted(outside, key=lambda e: e["id"]))
    wanted = ", ".join([f"tag {k}={v}" for k, v in (params["service_tags"] or {}).items()]
                       + ([f"in {params['asg_name']}"] if params["asg_name"] else []))
    require(not outside, "service membership",
            f"{len(outside)} instance(s) are not among the service's selected instances (service: {wanted}): {seen}.")


def check_healthy_left(params, service, checks, to_reboot):
    healthy = {s["id"] for s in service if passing(checks.get(s["id"], {}))}
    rebooting = {e["id"] for e in to_reboot}
    require(not params["keep_healthy"] or not healthy & rebooting or healthy - rebooting,
            "service keeps a healthy instance",
            f"rebooting {', '.join(label(e) for e in to_reboot)} would leave the service with no running instance "
            f"whose status checks pass (healthy now: {', '.join(sorted(healthy))}).",
            override="reboot fewer instances at a time, or set keep_healthy=false")


def plan(params, selected, checks):
    """(to_start, to_reboot, left_alone) of the selected instances."""
    to_start, to_reboot, left_alone = [], [], []
    for entry in selected:
        seen = checks.get(entry["id"], {})
        what, reason = decide(entry["state"], seen.get("system"), seen.get("instance"), params["action"])
        entry["reason"] = reason
        if what == "start":
            to_start.append(entry)
        elif what == "reboot":
            to_reboot.append(entry)
        else:
            left_alone.append({"id": entry["id"], "name": entry["name"], "state": entry["state"], "reason": reason})
    return to_start, to_reboot, left_alone


def act(module, ec2, to_start, to_reboot, result):
    """Start, reboot, and wait; the observed states {id: state} of the instances acted on."""
    params, acted = module.params, [e["id"] for e in to_start + to_reboot]
    try:
        if to_start:
            call(ec2.start_instances, InstanceIds=[e["id"] for e in to_start])
        if to_reboot:
            call(ec2.reboot_instances, InstanceIds=[e["id"] for e in to_reboot])
    except RunbookError as exc:
        if not to_start or not to_reboot:
            raise
        raise NotConfirmed(f"Started {', '.join(result['started'])}, then the reboot failed: {exc.msg}",
                           **result) from exc
    started = set(result["started"])
    if params["wait"]:
        ok, state, duration = wait_for(
            lambda: status_checks(ec2, acted),
            lambda seen: all(seen.get(i, {}).get("state") == "running" and (
                i not in started or {seen[i].get("system"), seen[i].get("instance")} <= {"ok", None}) for i in acted),
            params["wait_timeout"], params["wait_sleep"])
        result["duration"] = duration
        if not ok:
            if "error" not in state:
                result["after"] = dict(result["after"], **{i: seen.get("state") for i, seen in state.items()})
            raise NotConfirmed(f"Not running with checks ok within {params['wait_timeout']}s (last seen: {state})",
                               **result)
    return {i: seen.get("state") for i, seen in status_checks(ec2, acted).items()}


def summary(to_start, to_reboot, left_alone):
    parts = [f"{verb} {', '.join(label(e) for e in group)}" for verb, group in
             (("Start", to_start), ("Reboot", to_reboot)) if group]
    alone = "; ".join(f"{label(s)} {s['reason']}" for s in left_alone)
    if not parts:
        return f"Nothing to do: {alone}."
    return ". ".join(parts) + (f". Left alone {len(left_alone)}: {alone}." if left_alone else ".")


def recover(module):
    params = module.params
    validate_selection(params, tag_options=("tags", "service_tags"))
    if not (params["service_tags"] or params["asg_name"]):
        raise RunbookError("service_tags and asg_name are both empty: say which instances are the service's.",
                           option="service_tags")
    ec2, autoscaling = client(params, "ec2"), client(params, "autoscaling")
    selected, _group = select_instances(ec2, autoscaling, params["instance_ids"], params["tags"], params["asg_name"])
    service, group = select_instances(ec2, autoscaling, tags=params["service_tags"], asg_name=params["asg_name"])
    check_membership(ec2, autoscaling, params, selected, service, group)
    require(selected, "instances selected", "no pending, running or stopped instance matches "
            f"{describe_selection(params['instance_ids'], params['tags'], params['asg_name'])}.")
    checks = status_checks(ec2, sorted({e["id"] for e in selected + service}))
    to_start, to_reboot, left_alone = plan(params, selected, checks)
    count = len(to_start) + len(to_reboot)
    require(count <= params["max_instances"], "at most max_instances",
            f"this run would start {len(to_start)} and reboot {len(to_reboot)} instance(s), {count} in all, "
            f"above max_instances {params['max_instances']}.",
            override="raise max_instances, or select fewer instances")
    check_healthy_left(params, service, checks, to_reboot)
    before = {e["id"]: e["state"] for e in selected}
    result = {"started": [e["id"] for e in to_start], "rebooted": [e["id"] for e in to_reboot],
              "skipped_instances": left_alone, "before": before,
              "msg": summary(to_start, to_reboot, left_alone),
              "actions": [f"{call_name} {label(e)}: {e['reason']}" for call_name, group in
                          (("StartInstances", to_start), ("RebootInstances", to_reboot)) for e in group],
              "after": dict(before, **{e["id"]: "running" for e in to_start + to_reboot})}
    if count and not module.check_mode:
        result["after"] = dict(before, **act(module, ec2, to_start, to_reboot, result))
    return result


def main():
    module = RunbookModule(
        argument_spec={
            "service_tags": {"type": "dict"},
            "action": {"type": "str", "choices": ["auto", "start", "reboot"], "default": "auto"},
            "max_instances": {"type": "int", "default": 3},
            "keep_healthy": {"type": "bool", "default": True},
        },
        shared=(aws_argument_spec, selection_argument_spec, lambda: wait_argument_spec(300)),
        required_one_of=[SELECTORS, ("service_tags", "asg_name")],
        bounds={"max_instances": (1, None), "wait_timeout": (0, None), "wait_sleep": (0, None)},
        supports_check_mode=True,
    )
    module.require_library("boto3", HAS_BOTO3, BOTO3_IMPORT_ERROR)
    module.run_change(recover)


if __name__ == "__main__":
    main()
