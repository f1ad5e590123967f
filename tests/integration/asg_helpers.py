"""Shared by the tests of asg_info and asg_set_capacity: the seeded group pynomaly-asg, put back as seeded after
every test that changes it, and Auto Scaling groups of a test's own made from the lab's launch template."""

from __future__ import annotations

import uuid

import pytest

from lab import asg_faults, aws


def shape(autoscaling, name) -> tuple:
    """(desired, min, max, [(instance, lifecycle, health)]) of one group, as the backend has it."""
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return (group["DesiredCapacity"], group["MinSize"], group["MaxSize"],
            sorted((i["InstanceId"], i["LifecycleState"], i["HealthStatus"]) for i in group["Instances"]))


@pytest.fixture(name="seeded")
def seeded_fixture(lab):
    """(aws info, boto3 autoscaling): the seeded group as seeded before the test, and put back as seeded after."""
    info = lab.service("aws")
    autoscaling = aws.client(info, "autoscaling")
    as_seeded = (3, 2, 6, [(i, "InService", "Healthy") for i in info["instance_ids"]])
    assert shape(autoscaling, info["asg_name"]) == as_seeded
    try:
        yield info, autoscaling
    finally:
        asg_faults.restore_group(lab)
    assert shape(autoscaling, info["asg_name"]) == as_seeded


@pytest.fixture(name="make_group")
def make_group_fixture(lab):
    """make(min, max, desired) -> name of a group of the test's own; deleted, with its instances, after."""
    info = lab.service("aws")
    autoscaling = aws.client(info, "autoscaling")
    made = []

    def make(min_size, max_size, desired):
        name = f"scratch-asg-{uuid.uuid4().hex[:8]}"
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name, MinSize=min_size, MaxSize=max_size, DesiredCapacity=desired,
            LaunchTemplate={"LaunchTemplateId": info["launch_template_id"], "Version": "$Latest"},
            VPCZoneIdentifier=",".join(info["subnet_ids"]))
        made.append(name)
        return name

    yield make
    for name in made:
        autoscaling.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
