# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The asg_info check: argument_spec() and run(params), used by its module and by incident_triage_info."""

from datetime import datetime, timedelta, timezone

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.sre.runbooks.plugins.module_utils.aws_client import (
    BOTO3_IMPORT_ERROR,
    HAS_BOTO3,
    aws_argument_spec,
    call,
    client,
)
from ansible_collections.sre.runbooks.plugins.module_utils.common import check_bounds
from ansible_collections.sre.runbooks.plugins.module_utils.ec2 import group_capacity, read_group
from ansible_collections.sre.runbooks.plugins.module_utils.errors import BackendUnavailable, RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.findings import check_result, finding

FAILED_ACTIVITY = ("Failed", "Cancelled")
BOUNDS = {"max_activities": (1, 100), "failed_within_minutes": (1, None)}

# Passed to AnsibleModule (and to ArgumentSpecValidator) with argument_spec().
SPEC_OPTIONS = {}


def argument_spec():
    """The options of sre.runbooks.asg_info, with the shared aws group."""
    spec = aws_argument_spec()
    spec.update({
        "asg_names": {"type": "list", "elements": "str", "required": True},
        "max_activities": {"type": "int", "default": 10},
        "failed_within_minutes": {"type": "int", "default": 60},
    })
    return spec


def timestamp(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def activity_entry(raw):
    return {"time": timestamp(raw.get("StartTime")), "status": raw.get("StatusCode"),
            "description": raw.get("Description"), "cause": raw.get("Cause"),
            "status_message": raw.get("StatusMessage")}


def group_entry(raw, activities):
    """What asg_info shows of one group: its sizes, counts, instances and latest activities."""
    entry = {"name": raw["AutoScalingGroupName"]}
    entry.update(group_capacity(raw))
    entry["instances"] = sorted(({"id": i["InstanceId"], "lifecycle": i.get("LifecycleState"),
                                  "health": i.get("HealthStatus"), "az": i.get("AvailabilityZone")}
                                 for i in raw.get("Instances", [])), key=lambda i: i["id"])
    entry["activities"] = [activity_entry(a) for a in activities]
    return entry


def capacity_findings(group):
    """asg.capacity_below_desired and asg.at_max of one group entry."""
    name, desired, in_service = group["name"], group["desired"] or 0, group["in_service"]
    found = []
    if in_service < desired:
        severity = "critical" if in_service == 0 else "warning"
        found.append(finding(
            "asg.capacity_below_desired", severity,
            f"{name} has {in_service} of {desired} desired instances in service "
            f"({group['pending']} pending, {group['unhealthy']} unhealthy)",
            {"asg": name, "desired": desired, "in_service": in_service, "pending": group["pending"],
             "unhealthy": group["unhealthy"]}))
    if group["max"] and desired >= group["max"]:
        found.append(finding(
            "asg.at_max", "warning",
            f"{name} is at its maximum size ({desired} desired, max {group['max']}): it cannot scale out",
            {"asg": name, "max": group["max"], "desired": desired}))
    return found


def failed_activity_findings(group, within_minutes, now):
    """asg.scaling_failed for the latest failed or cancelled activity that started within the window."""
    since = now - timedelta(minutes=within_minutes)
    for activity in group["activities"]:
        started = activity["time"]
        started = datetime.fromisoformat(started) if isinstance(started, str) else started
        if activity["status"] in FAILED_ACTIVITY and started is not None and started >= since:
            reason = activity["status_message"] or activity["cause"] or "no reason given"
            return [finding("asg.scaling_failed", "warning",
                            f"{group['name']}: {activity['description']} {activity['status'].lower()}: {reason}",
                            {"asg": group["name"], "time": activity["time"], "status": activity["status"],
                             "description": activity["description"], "cause": activity["cause"],
                             "status_message": activity["status_message"]})]
    return []


def group_findings(group, within_minutes, now=None):
    """Every finding of one group entry (pure: the unit tests feed it entries)."""
    now = now or datetime.now(timezone.utc)
    return capacity_findings(group) + failed_activity_findings(group, within_minutes, now)


def overall_status(findings):
    if any(f["id"] == "asg.not_found" or (f["id"] == "asg.capacity_below_desired" and f["severity"] == "critical")
           for f in findings):
        return "down"
    if any(f["severity"] in ("warning", "critical") for f in findings):
        return "degraded"
    return "ok"


def read_one(autoscaling, name, max_activities):
    """The group entry of name, or None when the group does not exist."""
    try:
        raw = read_group(autoscaling, name)
    except RunbookError as exc:
        if exc.details.get("aws_error_code") != "asg_not_found":
            raise
        return None
    activities = call(autoscaling.describe_scaling_activities, AutoScalingGroupName=name,
                      MaxRecords=max_activities).get("Activities", [])
    return group_entry(raw, activities)


def unreachable_result(params, error):
    unreachable = finding("asg.api_unreachable", "critical", f"the Auto Scaling API does not answer: {error.msg}",
                          {"endpoint_url": params.get("endpoint_url"), "region": params.get("region")})
    return check_result([unreachable], status="unknown", groups=[])


def validate(params):
    """Bad input the argument spec cannot see."""
    names = params.get("asg_names") or []
    if not names or any(not str(n).strip() for n in names):
        raise RunbookError("asg_names must name at least one Auto Scaling group, with no empty name.",
                           option="asg_names")
    check_bounds(params, BOUNDS)


def run(params):
    """Read every group asked for; the result sre.runbooks.asg_info returns."""
    validate(params)
    if not HAS_BOTO3:
        raise RunbookError(missing_required_lib("boto3"), exception=BOTO3_IMPORT_ERROR)
    autoscaling = client(params, "autoscaling")
    groups, findings = [], []
    try:
        for name in dict.fromkeys(params["asg_names"]):
            group = read_one(autoscaling, name, params["max_activities"])
            if group is None:
                findings.append(finding("asg.not_found", "critical", f"Auto Scaling group {name} does not exist",
                                        {"asg": name}))
                continue
            groups.append(group)
            findings.extend(group_findings(group, params["failed_within_minutes"]))
    except BackendUnavailable as exc:
        return unreachable_result(params, exc)
    return check_result(findings, status=overall_status(findings), groups=groups)
