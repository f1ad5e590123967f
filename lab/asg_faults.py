"""The lab faults of the Auto Scaling group ``pynomaly-asg``: ``asg-capacity-lost`` and ``asg-at-max``.

``asg-capacity-lost``: the group has fewer instances in service than desired (desired 3, 2 in service).
break points the group at a launch template whose security group does not exist, puts the seeded
instance ``pynomaly-app-3`` in Standby without decrementing the desired capacity (the group has to
launch a replacement, and that launch fails), then points the group back at the seeded launch template.
That is the AWS story of a bad launch template version rolled back while an instance was out of service;
AWS would retry the launch within minutes, moto never does (below), so the group stays one short until
its desired capacity changes: ``asg_set_capacity`` scaling out (desired + N) launches every missing
instance at once, and ``asg_info`` then shows as many in service as desired.

``asg-at-max``: the group's MaxSize is lowered to its desired capacity (3): it cannot scale out.

heal (either fault) puts the group back as seeded: the seeded launch template, the seeded three
instances InService and Healthy, desired 3, min 2, max 6; every other instance of the group (a scale-out's)
is detached, deregistered from ``pynomaly-tg`` and terminated; the broken launch template is deleted.
Safe to call twice, and after a remediation.

What moto (5.2, server mode, reached over HTTP through boto3) does with Auto Scaling, as found by calling it
(and reading moto/autoscaling/models.py):

- Capacity is recomputed only inside a call that changes it (SetDesiredCapacity, UpdateAutoScalingGroup
  with a size, EnterStandby, ExitStandby, DetachInstances, TerminateInstanceInAutoScalingGroup, EC2
  TerminateInstances of a member): moto then launches or terminates at once until the instances in the
  lifecycle state InService equal the desired capacity. Nothing runs in the background: no health checks,
  no retries, no Pending state (new instances are InService and Healthy on return).
- So the faults AWS shows cannot be made with one call: Standby or detach without decrementing, and an
  EC2 termination of a member, get their replacement launched in the same call; SetInstanceHealth
  Unhealthy only marks the instance (moto never replaces it and still counts it InService when it
  computes how many to launch, so a scale-out would never bring as many Healthy instances as desired).
  A launch that fails (here: the launch template's security group does not exist) is the way to leave
  the group short: moto has already stored the new desired capacity and the Standby state when the launch
  raises, and answers the call with that error (InvalidGroup.NotFound), which break expects.
- Scale-in terminates the first instances of the group's list (the oldest, whatever their lifecycle
  state), hence heal removes the extra instances by detaching them with decrement instead.
- DescribeScalingActivities always answers an empty list, so no failed activity can be shown.
- The group registers its instances in its target groups at each capacity change, but never deregisters:
  an instance in Standby stays registered (AWS deregisters it), and an instance the group terminates stays
  registered (and reads ``healthy``); heal deregisters the instances it removes.
- MaxSize is not enforced: SetDesiredCapacity above it is accepted (asg_set_capacity guards it).
"""

from __future__ import annotations

import botocore.exceptions

from lab import aws
from lab.core import Lab, LabError

BROKEN_TEMPLATE = "pynomaly-app-broken"
MISSING_SECURITY_GROUP = "sg-0deadbeef0000000"  # does not exist: every launch from the template fails
SEEDED = {"MinSize": 2, "MaxSize": 6, "DesiredCapacity": 3}


def _clients(lab: Lab):
    info = lab.service("aws")
    if not info.get("endpoint_url"):
        raise LabError("the lab's AWS (moto) is not up: run `lab up` first")
    return info, aws.client(info, "autoscaling"), aws.client(info, "ec2"), aws.client(info, "elbv2")


def _group(autoscaling, name: str) -> dict:
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    if not groups:
        raise LabError(f"Auto Scaling group {name} does not exist")
    return groups[0]


def _in_service(group: dict) -> list[str]:
    return [i["InstanceId"] for i in group["Instances"]
            if i["LifecycleState"] == "InService" and i["HealthStatus"] == "Healthy"]


def _broken_template_id(ec2) -> str | None:
    try:
        found = ec2.describe_launch_templates(LaunchTemplateNames=[BROKEN_TEMPLATE])["LaunchTemplates"]
    except botocore.exceptions.ClientError:
        return None
    return found[0]["LaunchTemplateId"] if found else None


def break_asg_capacity_lost(lab: Lab) -> None:
    """Leave pynomaly-asg with 2 of its 3 desired instances in service: a replacement launch failed."""
    info, autoscaling, ec2, _elb = _clients(lab)
    name, seeded = info["asg_name"], info["instance_ids"]
    group = _group(autoscaling, name)
    if group["DesiredCapacity"] - len(_in_service(group)) >= 1:
        return  # already short
    data = ec2.describe_launch_template_versions(LaunchTemplateId=info["launch_template_id"],
                                                 Versions=["$Latest"])["LaunchTemplateVersions"][0]
    template_id = _broken_template_id(ec2) or ec2.create_launch_template(
        LaunchTemplateName=BROKEN_TEMPLATE,
        LaunchTemplateData={"ImageId": data["LaunchTemplateData"]["ImageId"],
                            "InstanceType": data["LaunchTemplateData"]["InstanceType"],
                            "SecurityGroupIds": [MISSING_SECURITY_GROUP]},
    )["LaunchTemplate"]["LaunchTemplateId"]
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=name,
                                          LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Latest"})
    try:
        autoscaling.enter_standby(AutoScalingGroupName=name, InstanceIds=[seeded[-1]],
                                  ShouldDecrementDesiredCapacity=False)
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] != "InvalidGroup.NotFound":
            raise
    finally:
        autoscaling.update_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateId": info["launch_template_id"], "Version": "$Latest"})
        ec2.delete_launch_template(LaunchTemplateId=template_id)
    group = _group(autoscaling, name)
    if (group["DesiredCapacity"], len(_in_service(group))) != (3, 2):
        raise LabError(f"{name} should have 2 of 3 desired instances in service, has "
                       f"{len(_in_service(group))} of {group['DesiredCapacity']}: moto launched the replacement?")


def heal_asg_capacity_lost(lab: Lab) -> None:
    """Put pynomaly-asg back as seeded (see restore_group)."""
    restore_group(lab)


def break_asg_at_max(lab: Lab) -> None:
    """Lower pynomaly-asg's MaxSize to its desired capacity: it cannot scale out."""
    info, autoscaling, _ec2, _elb = _clients(lab)
    group = _group(autoscaling, info["asg_name"])
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=info["asg_name"], MaxSize=group["DesiredCapacity"])


def heal_asg_at_max(lab: Lab) -> None:
    """Put pynomaly-asg back as seeded (see restore_group)."""
    restore_group(lab)


def restore_group(lab: Lab) -> None:
    """pynomaly-asg as seeded: its launch template, the seeded instances InService and Healthy, 3/2/6, no other
    instance (the others are detached, deregistered from the group's target groups and terminated)."""
    info, autoscaling, ec2, elb = _clients(lab)
    name, seeded = info["asg_name"], set(info["instance_ids"])
    group = _group(autoscaling, name)
    missing = seeded - {i["InstanceId"] for i in group["Instances"]}
    if missing:
        raise LabError(f"seeded instances {', '.join(sorted(missing))} left {name}; restart the lab's AWS")
    # MinSize 0 first: the desired capacity passes below 2 while extra instances are detached.
    autoscaling.update_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=0,
        LaunchTemplate={"LaunchTemplateId": info["launch_template_id"], "Version": "$Latest"})
    # desired = what is in service now, so that moto launches nothing when Standby instances come back.
    in_service = [i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"]
    autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=len(in_service))
    standby = [i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "Standby"]
    if standby:
        autoscaling.exit_standby(AutoScalingGroupName=name, InstanceIds=standby)
    extras = sorted({i["InstanceId"] for i in group["Instances"]} - seeded)
    if extras:
        autoscaling.detach_instances(AutoScalingGroupName=name, InstanceIds=extras,
                                     ShouldDecrementDesiredCapacity=True)
        for target_group_arn in group.get("TargetGroupARNs", []):
            registered = {t["Target"]["Id"] for t in elb.describe_target_health(
                TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]}
            leaving = [{"Id": i} for i in extras if i in registered]
            if leaving:
                elb.deregister_targets(TargetGroupArn=target_group_arn, Targets=leaving)
        ec2.terminate_instances(InstanceIds=extras)
    for instance in group["Instances"]:
        if instance["InstanceId"] in seeded and instance["HealthStatus"] != "Healthy":
            autoscaling.set_instance_health(InstanceId=instance["InstanceId"], HealthStatus="Healthy")
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, **SEEDED)
    template_id = _broken_template_id(ec2)
    if template_id:
        ec2.delete_launch_template(LaunchTemplateId=template_id)
    group = _group(autoscaling, name)
    shape = (sorted(_in_service(group)), group["DesiredCapacity"], group["MinSize"], group["MaxSize"])
    if shape != (sorted(seeded), 3, 2, 6):
        raise LabError(f"{name} is not back as seeded: in service, desired, min, max = {shape}")
