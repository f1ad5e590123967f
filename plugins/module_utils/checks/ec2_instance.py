# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ec2_instance_info check: argument_spec() and run(params), used by its module and by incident_triage_info."""

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.sre.runbooks.plugins.module_utils.aws_client import (
    BOTO3_IMPORT_ERROR,
    HAS_BOTO3,
    aws_argument_spec,
    client,
)
from ansible_collections.sre.runbooks.plugins.module_utils.ec2 import (
    SELECTORS,
    describe_selection,
    select_instances,
    selection_argument_spec,
    status_checks,
    validate_selection,
)
from ansible_collections.sre.runbooks.plugins.module_utils.errors import BackendUnavailable, RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.findings import check_result, finding

NOT_RUNNING = ("stopping", "stopped", "shutting-down")
# AWS keeps a finished or cancelled scheduled event listed, its description starting with one of these.
PAST_EVENT_PREFIXES = ("[Completed]", "[Canceled]")

# Passed to AnsibleModule (and to ArgumentSpecValidator) with argument_spec().
SPEC_OPTIONS = {"required_one_of": [SELECTORS]}


def argument_spec():
    """The options of sre.runbooks.ec2_instance_info, with the shared aws group."""
    spec = aws_argument_spec()
    spec.update(selection_argument_spec())
    return spec


def validate(params):
    """Bad input the argument spec cannot see."""
    validate_selection(params)


def selection_of(params):
    return {option: params.get(option) for option in SELECTORS if params.get(option)}


def healthy(instance):
    """Running with no status check failing (initializing checks are not failing)."""
    checks = instance["status_checks"]
    return instance["state"] == "running" and "impaired" not in (checks["system"], checks["instance"])


def instance_findings(instance):
    """The findings of one instance entry (with its status_checks and events)."""
    found, name = [], instance["name"] or instance["id"]
    label = f"{instance['id']} ({instance['name']})" if instance["name"] else instance["id"]
    checks = instance["status_checks"]
    if instance["state"] in NOT_RUNNING:
        found.append(finding("ec2.instance_stopped", "critical", f"instance {label} is {instance['state']}",
                             {"instance": instance["id"], "name": instance["name"], "state": instance["state"],
                              "asg": instance["asg"]}))
    elif instance["state"] == "running" and not healthy(instance):
        failing = " and ".join(kind for kind in ("system", "instance") if checks[kind] == "impaired")
        found.append(finding("ec2.status_check_failed", "critical",
                             f"instance {label} fails its {failing} status check",
                             {"instance": instance["id"], "system": checks["system"],
                              "instance_status": checks["instance"]}))
    for event in instance["events"]:
        if (event.get("description") or "").startswith(PAST_EVENT_PREFIXES):
            continue
        when = f" not before {event['not_before']}" if event.get("not_before") else ""
        found.append(finding("ec2.scheduled_event", "warning", f"{name} has a scheduled {event['code']}{when}",
                             {"instance": instance["id"], "name": instance["name"], "code": event["code"],
                              "description": event.get("description"), "not_before": event.get("not_before")}))
    return found


def no_instances(params, reason):
    return finding("ec2.no_instances", "critical", reason, {**selection_of(params), "reason": reason})


def overall_status(instances, findings):
    """down when nothing selected is running with passing checks; degraded on any other problem."""
    if not instances or not any(healthy(i) for i in instances):
        return "down"
    return "degraded" if any(f["severity"] in ("warning", "critical") for f in findings) else "ok"


def read(params, ec2, autoscaling):
    """(instances with status_checks and events, findings) of the selection."""
    try:
        instances, _group = select_instances(ec2, autoscaling, params.get("instance_ids"), params.get("tags"),
                                             params.get("asg_name"))
    except RunbookError as exc:
        if exc.details.get("aws_error_code") != "asg_not_found":
            raise
        return [], [no_instances(params, exc.msg)]
    if not instances:
        described = describe_selection(params.get("instance_ids"), params.get("tags"), params.get("asg_name"))
        return [], [no_instances(params, f"no pending, running or stopped instance matches {described}")]
    checks = status_checks(ec2, [i["id"] for i in instances])
    findings = []
    for instance in instances:
        seen = checks.get(instance["id"], {})
        instance["status_checks"] = {"system": seen.get("system"), "instance": seen.get("instance")}
        instance["events"] = seen.get("events", [])
        findings.extend(instance_findings(instance))
    return instances, findings


def run(params):
    """Read the selected instances and their status checks; the result sre.runbooks.ec2_instance_info returns."""
    validate(params)
    if not HAS_BOTO3:
        raise RunbookError(missing_required_lib("boto3"), exception=BOTO3_IMPORT_ERROR)
    try:
        instances, findings = read(params, client(params, "ec2"), client(params, "autoscaling"))
    except BackendUnavailable as exc:
        unreachable = finding("ec2.api_unreachable", "critical", f"the EC2 API does not answer: {exc.msg}",
                              {"endpoint_url": params.get("endpoint_url"), "region": params.get("region")})
        return check_result([unreachable], status="unknown", instances=[])
    return check_result(findings, status=overall_status(instances, findings), instances=instances)
