"""The lab fault ``targets-unhealthy``: the load balancer is left with no healthy target.

break deregisters two of the three instances of ASG ``pynomaly-asg`` from
target group ``pynomaly-tg`` (the first two by id) and stops the third, which
stays registered: ``describe_target_health`` then lists one target, ``unused``
with reason ``Target.InvalidState`` ("Target is in the stopped state"), and the
ALB has nothing to send traffic to. heal starts the stopped instances of the
group and registers every instance of the group that is not registered, as
seeded; it is safe to call twice.

What moto (5.2, server mode, reached over HTTP through boto3) does here, as
found by calling it:

- A registered target is ``healthy`` as soon as it is registered (no
  ``initial`` state, no health check is ever probed), ``unused`` /
  ``Target.InvalidState`` while its instance is stopped, ``healthy`` again once
  it is started. No target ever reads ``unhealthy`` or ``initial``.
- ``deregister_targets`` removes a target at once (no ``draining``); asked about
  by id, it then reads ``unused`` / ``Target.NotRegistered``.
- The Auto Scaling group does not notice: the stopped instance stays
  ``InService``/``Healthy`` in the group and is never replaced (moto runs no
  health checks), and the deregistered ones stay ``InService``. Desired
  capacity stays 3.
- But every call that makes moto's group re-sync its target groups
  (``set_desired_capacity``, ``update_auto_scaling_group`` with a capacity,
  ``attach_instances``) registers the group's instances again, one by one, and
  while one of them is stopped that call fails with ``InvalidTarget`` ("not in
  a running state") once it reaches it: after the capacity has been changed
  and with some of the others registered again. AWS does neither. So under
  this fault, a capacity change re-registers targets behind the runbook's back
  and reports an error; start the stopped instance first.
- ``register_targets`` refuses a stopped instance (``InvalidTarget``), as AWS
  does; it accepts an instance of another VPC and an id that does not exist
  (AWS refuses both), and keys targets by id only: registering an id on another
  port replaces its registration instead of adding one.
"""

from __future__ import annotations

from lab import aws
from lab.core import Lab, LabError


def _clients(lab: Lab):
    info = lab.service("aws")
    if not info.get("endpoint_url"):
        raise LabError("the lab's AWS (moto) is not up: run `lab up` first")
    return info, aws.client(info, "ec2"), aws.client(info, "elbv2"), aws.client(info, "autoscaling")


def _group_instances(autoscaling, asg_name: str) -> list[str]:
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[asg_name])["AutoScalingGroups"][0]
    return sorted(i["InstanceId"] for i in group["Instances"])


def _states(ec2, instance_ids: list[str]) -> dict[str, str]:
    reservations = ec2.describe_instances(InstanceIds=instance_ids)["Reservations"]
    return {i["InstanceId"]: i["State"]["Name"] for r in reservations for i in r["Instances"]}


def _registered(elbv2, target_group_arn: str) -> set[str]:
    health = elbv2.describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]
    return {t["Target"]["Id"] for t in health}


def break_targets_unhealthy(lab: Lab) -> None:
    """Deregister two of the group's instances from the target group and stop the third."""
    info, ec2, elbv2, autoscaling = _clients(lab)
    instance_ids = _group_instances(autoscaling, info["asg_name"])
    if len(instance_ids) < 3:
        raise LabError(f"{info['asg_name']} has {len(instance_ids)} instances, not the 3 seeded: heal first")
    out, stopped = instance_ids[:2], instance_ids[2]
    registered = _registered(elbv2, info["target_group_arn"])
    gone = [{"Id": i} for i in out if i in registered]
    if gone:
        elbv2.deregister_targets(TargetGroupArn=info["target_group_arn"], Targets=gone)
    if _states(ec2, [stopped])[stopped] != "stopped":
        ec2.stop_instances(InstanceIds=[stopped])
        ec2.get_waiter("instance_stopped").wait(InstanceIds=[stopped], WaiterConfig={"Delay": 1, "MaxAttempts": 30})


def heal_targets_unhealthy(lab: Lab) -> None:
    """Start the group's stopped instances; register every instance of the group that is not registered."""
    info, ec2, elbv2, autoscaling = _clients(lab)
    instance_ids = _group_instances(autoscaling, info["asg_name"])
    stopped = [i for i, state in _states(ec2, instance_ids).items() if state in ("stopping", "stopped")]
    if stopped:
        ec2.get_waiter("instance_stopped").wait(InstanceIds=stopped, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        ec2.start_instances(InstanceIds=stopped)
        ec2.get_waiter("instance_running").wait(InstanceIds=stopped, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    missing = [{"Id": i} for i in instance_ids if i not in _registered(elbv2, info["target_group_arn"])]
    if missing:
        elbv2.register_targets(TargetGroupArn=info["target_group_arn"], Targets=missing)
