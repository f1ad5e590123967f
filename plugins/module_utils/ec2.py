# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reads of EC2 instances and Auto Scaling groups that the load balancer, instance and capacity modules share.

An instance is selected by id, by tags, or as a member of an Auto Scaling group; every module
that takes "the service's instances" takes them through select_instances(), so they are the same
instances whatever module asks.
"""

from ansible_collections.sre.runbooks.plugins.module_utils.aws_client import call, paginate
from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError

NOT_FOUND_CODES = ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed")
SELECTORS = ("instance_ids", "tags", "asg_name")


def selection_argument_spec():
    """The options that select instances: instance_ids, tags, asg_name (any combination, ANDed)."""
    return {
        "instance_ids": {"type": "list", "elements": "str"},
        "tags": {"type": "dict"},
        "asg_name": {"type": "str"},
    }


def validate_selection(params, tag_options=("tags",)):
    """RunbookError naming the option for a selection the argument spec cannot judge: every selector empty,
    an instance id that is not one (i-...), a tag without key or value (in each option of tag_options)."""
    if not any(params.get(option) for option in SELECTORS):
        raise RunbookError("instance_ids, tags and asg_name are all empty: select at least one instance.",
                           option="instance_ids")
    malformed = [str(i) for i in params.get("instance_ids") or [] if not str(i).startswith("i-")]
    if malformed:
        raise RunbookError(f"instance_ids must be EC2 instance ids (i-...), not {', '.join(malformed)}.",
                           option="instance_ids")
    for option in tag_options:
        for key, value in (params.get(option) or {}).items():
            if not key or value is None or str(value) == "":
                raise RunbookError(f"{option} needs a key and a value for every tag; {key or 'a tag'} has "
                                   f"{'no key' if not key else 'no value'}.", option=option)


def describe_selection(instance_ids=None, tags=None, asg_name=None):
    """The selection in words: 'instance_ids i-1, i-2; tags Service=pynomaly; asg_name pynomaly-asg'."""
    parts = []
    if instance_ids:
        parts.append(f"instance_ids {', '.join(instance_ids)}")
    if tags:
        parts.append(f"tags {', '.join(f'{k}={v}' for k, v in tags.items())}")
    if asg_name:
        parts.append(f"asg_name {asg_name}")
    return "; ".join(parts)


def read_group(autoscaling, name):
    """One Auto Scaling group as AWS returns it; RunbookError (asg_not_found) when it does not exist."""
    groups = call(autoscaling.describe_auto_scaling_groups, AutoScalingGroupNames=[name])["AutoScalingGroups"]
    if not groups:
        raise RunbookError(f"Auto Scaling group {name} does not exist.", option="asg_name",
                           aws_error_code="asg_not_found")
    return groups[0]


def tag_dict(tags):
    return {t["Key"]: t["Value"] for t in tags or []}


def instance_entry(raw, members):
    """What the modules show of one instance; members: {id: ASG instance entry} of the selected group."""
    tags = tag_dict(raw.get("Tags"))
    member = members.get(raw["InstanceId"], {})
    placement = raw.get("Placement") or {}
    return {
        "id": raw["InstanceId"], "name": tags.get("Name"), "state": (raw.get("State") or {}).get("Name"),
        "state_reason": (raw.get("StateReason") or {}).get("Message") or None, "type": raw.get("InstanceType"),
        "az": placement.get("AvailabilityZone"), "vpc_id": raw.get("VpcId"), "subnet_id": raw.get("SubnetId"),
        "private_ip": raw.get("PrivateIpAddress"),
        "security_groups": [g["GroupId"] for g in raw.get("SecurityGroups", [])],
        "launch_time": str(raw["LaunchTime"]) if raw.get("LaunchTime") else None,
        "tags": tags, "asg": tags.get("aws:autoscaling:groupName") or (member and member.get("group")) or None,
        "asg_lifecycle": member.get("LifecycleState"), "asg_health": member.get("HealthStatus"),
    }


def select_instances(ec2, autoscaling, instance_ids=None, tags=None, asg_name=None):
    """(instances, group): the instances matching every selector given, sorted by id, and the raw group or None.

    Terminated instances are left out (AWS keeps listing them for an hour). With asg_name, an instance
    is selected when the group lists it; the group's own entry (lifecycle, health) is merged in.
    """
    if not (instance_ids or tags or asg_name):
        raise RunbookError("No instances selected: give instance_ids, tags or asg_name.", option="instance_ids")
    group, members = None, {}
    if asg_name:
        group = read_group(autoscaling, asg_name)
        members = {m["InstanceId"]: dict(m, group=asg_name) for m in group.get("Instances", [])}
        if not members:
            return [], group
    filters = [{"Name": f"tag:{key}", "Values": [str(value)]} for key, value in (tags or {}).items()]
    filters.append({"Name": "instance-state-name",
                    "Values": ["pending", "running", "shutting-down", "stopping", "stopped"]})
    ids = sorted(set(instance_ids or []) & set(members) if instance_ids and asg_name
                 else instance_ids or members)
    if (instance_ids and asg_name) and not ids:
        return [], group
    kwargs = {"Filters": filters}
    if ids:
        kwargs["InstanceIds"] = list(ids)
    try:
        reservations = paginate(ec2.describe_instances, "Reservations", **kwargs)
    except RunbookError as exc:
        if exc.details.get("aws_error_code") in NOT_FOUND_CODES:
            raise RunbookError(f"An instance of instance_ids does not exist: {exc.msg}",
                               option="instance_ids", aws_error_code=exc.details["aws_error_code"]) from exc
        raise
    found = [instance_entry(raw, members) for res in reservations for raw in res.get("Instances", [])]
    return sorted(found, key=lambda i: i["id"]), group


def status_checks(ec2, instance_ids):
    """{id: {state, system, instance, events}} of describe-instance-status (running or not).

    system and instance are the check statuses: ok, impaired, initializing, insufficient-data, or
    not-applicable (an instance that is not running).
    """
    if not instance_ids:
        return {}
    statuses = paginate(ec2.describe_instance_status, "InstanceStatuses",
                        InstanceIds=list(instance_ids), IncludeAllInstances=True)
    return {s["InstanceId"]: {
        "state": (s.get("InstanceState") or {}).get("Name"),
        "system": (s.get("SystemStatus") or {}).get("Status"),
        "instance": (s.get("InstanceStatus") or {}).get("Status"),
        "events": [{"code": e.get("Code"), "description": e.get("Description"),
                    "not_before": str(e["NotBefore"]) if e.get("NotBefore") else None}
                   for e in s.get("Events", [])],
    } for s in statuses}


IN_SERVICE = "InService"


def group_capacity(group):
    """{desired, min, max, in_service, pending, unhealthy} of one group as read_group returns it.

    An instance is in service when its lifecycle state is InService and its health Healthy: an Unhealthy
    one is about to be replaced and serves nothing. pending counts the Pending* lifecycle states.
    """
    instances = group.get("Instances", [])
    return {
        "desired": group.get("DesiredCapacity"), "min": group.get("MinSize"), "max": group.get("MaxSize"),
        "in_service": sum(1 for i in instances
                          if i.get("LifecycleState") == IN_SERVICE and i.get("HealthStatus") == "Healthy"),
        "pending": sum(1 for i in instances if str(i.get("LifecycleState", "")).startswith("Pending")),
        "unhealthy": sum(1 for i in instances if i.get("HealthStatus") == "Unhealthy"),
    }
