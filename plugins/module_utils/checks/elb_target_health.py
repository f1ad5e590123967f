# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The elb_target_health check: argument_spec() and run(params), used by its module and by incident_triage_info."""

import re

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.sre.runbooks.plugins.module_utils import elb
from ansible_collections.sre.runbooks.plugins.module_utils.aws_client import (
    BOTO3_IMPORT_ERROR,
    HAS_BOTO3,
    aws_argument_spec,
    client,
)
from ansible_collections.sre.runbooks.plugins.module_utils.ec2 import select_instances
from ansible_collections.sre.runbooks.plugins.module_utils.errors import BackendUnavailable, RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.findings import check_result, finding, status_from

DOWN_IDS = ("elb.no_healthy_targets", "elb.not_found")
TARGET_GROUP_ARN = re.compile(r"^arn:aws[a-z-]*:elasticloadbalancing:[^:]*:[^:]*:targetgroup/[^/]+/[^/]+$")

# Passed to AnsibleModule (and to ArgumentSpecValidator) with argument_spec().
SPEC_OPTIONS = {"required_one_of": [("load_balancer_name", "target_group_arns", "target_group_names")]}


def argument_spec():
    """The options of sre.runbooks.elb_target_health_info, with the shared aws group."""
    spec = aws_argument_spec()
    spec.update({
        "load_balancer_name": {"type": "str"},
        "target_group_arns": {"type": "list", "elements": "str"},
        "target_group_names": {"type": "list", "elements": "str"},
        "asg_name": {"type": "str"},
    })
    return spec


def validate(params):
    """Bad input the argument spec cannot see."""
    if not (params["load_balancer_name"] or params["target_group_arns"] or params["target_group_names"]):
        raise RunbookError("load_balancer_name, target_group_arns and target_group_names are all empty: "
                           "name a load balancer or at least one target group.", option="load_balancer_name")
    for arn in params["target_group_arns"] or []:
        if not TARGET_GROUP_ARN.match(arn):
            raise RunbookError(f"target_group_arns: {arn!r} is not a target group ARN "
                               "(arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID).",
                               option="target_group_arns")


def missing(kind, resource_id):
    return finding("elb.not_found", "critical", f"{kind} {resource_id} does not exist",
                   {"kind": kind, "id": resource_id})


def read_or_missing(findings, kind, resource_id, read, *args, **kwargs):
    """read(...); None (and an elb.not_found finding) when it does not exist."""
    try:
        return read(*args, **kwargs)
    except RunbookError as exc:
        if not elb.is_not_found(exc):
            raise
    findings.append(missing(kind, resource_id))
    return None


def read_all(params, elbv2, findings):
    """(load_balancer, listeners, target groups) asked for; what does not exist adds an elb.not_found finding."""
    load_balancer, groups = None, {}
    if params["load_balancer_name"]:
        load_balancer = read_or_missing(findings, "load balancer", params["load_balancer_name"],
                                        elb.read_load_balancer, elbv2, name=params["load_balancer_name"])
        if load_balancer:
            groups.update((g["TargetGroupArn"], g) for g in elb.target_groups_of(elbv2, load_balancer["arn"]))
    for option, key in (("target_group_arns", "arn"), ("target_group_names", "name")):
        for value in params[option] or []:
            raw = read_or_missing(findings, "target group", value, elb.read_target_group, elbv2, **{key: value})
            if raw:
                groups.setdefault(raw["TargetGroupArn"], raw)
    owners = {arn for raw in groups.values() for arn in raw.get("LoadBalancerArns") or []}
    if not params["load_balancer_name"] and len(owners) == 1:
        # Asked by target group: show the one load balancer they all belong to.
        load_balancer = read_or_missing(findings, "load balancer", next(iter(owners)), elb.read_load_balancer,
                                        elbv2, arn=next(iter(owners)))
    listeners = elb.read_listeners(elbv2, load_balancer["arn"]) if load_balancer else []
    target_groups = []
    for arn, raw in groups.items():
        targets = read_or_missing(findings, "target group", raw.get("TargetGroupName"), elb.read_targets, elbv2, arn)
        if targets is not None:
            target_groups.append(elb.target_group_entry(raw, targets))
    return load_balancer, listeners, target_groups


def group_findings(group):
    found, name = [], group["name"]
    if group["healthy"] == 0:
        states = elb.count_states(group["targets"])
        seen = ", ".join(f"{count} {state}" for state, count in states.items()) or "none registered"
        found.append(finding("elb.no_healthy_targets", "critical",
                             f"target group {name} has no healthy target ({group['total']} registered: {seen})",
                             {"target_group": name, "target_group_arn": group["arn"], "total": group["total"],
                              "states": states}))
    bad = elb.not_serving(group["targets"], group["health_check_enabled"])
    if bad:
        found.append(finding("elb.targets_unhealthy", "warning",
                             f"{len(bad)} of {group['total']} targets of {name} are not healthy: "
                             f"{elb.describe_targets(bad)}",
                             {"target_group": name, "target_group_arn": group["arn"],
                              "targets": [{"id": t["id"], "state": t["state"], "reason": t["reason"]} for t in bad]}))
    return found


def asg_findings(ec2, autoscaling, asg_name, target_groups):
    """elb.instance_not_registered per target group of the Auto Scaling group that misses a serving instance."""
    try:
        instances, group = select_instances(ec2, autoscaling, asg_name=asg_name)
    except RunbookError as exc:
        if exc.details.get("aws_error_code") != "asg_not_found":
            raise
        return [finding("elb.asg_not_found", "warning", f"Auto Scaling group {asg_name} does not exist",
                        {"asg": asg_name})]
    serving = [i["id"] for i in instances if i["state"] == "running" and i["asg_lifecycle"] == "InService"]
    attached = set(group.get("TargetGroupARNs") or [])
    checked = [g for g in target_groups if g["arn"] in attached] or target_groups
    found = []
    for tg in checked:
        registered = {t["id"] for t in tg["targets"] if t["state"] != "draining"}
        absent = [i for i in serving if i not in registered]
        if absent:
            found.append(finding(
                "elb.instance_not_registered", "warning",
                f"{len(absent)} running InService instance(s) of {asg_name} are not registered in {tg['name']}: "
                f"{', '.join(absent)}",
                {"target_group": tg["name"], "target_group_arn": tg["arn"], "asg": asg_name, "instances": absent}))
    return found


def unreachable_result(params, error):
    unreachable = finding("elb.api_unreachable", "critical",
                          f"the Elastic Load Balancing API does not answer: {error.msg}",
                          {"endpoint_url": params.get("endpoint_url"), "region": params.get("region")})
    return check_result([unreachable], status="unknown", load_balancer=None, listeners=[], target_groups=[])


def run(params):
    """Read the load balancer, its listeners and target groups and their targets; the result of the module."""
    validate(params)
    if not HAS_BOTO3:
        raise RunbookError(missing_required_lib("boto3"), exception=BOTO3_IMPORT_ERROR)
    elbv2, findings = client(params, "elbv2"), []
    try:
        load_balancer, listeners, target_groups = read_all(params, elbv2, findings)
        for group in target_groups:
            findings.extend(group_findings(group))
        if params["asg_name"]:
            findings.extend(asg_findings(client(params, "ec2"), client(params, "autoscaling"), params["asg_name"],
                                         target_groups))
    except BackendUnavailable as exc:
        return unreachable_result(params, exc)
    return check_result(findings, status=status_from(findings, DOWN_IDS), load_balancer=load_balancer,
                        listeners=listeners, target_groups=target_groups)
