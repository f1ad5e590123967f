"""elb_register_targets against the lab's moto: the seeded target group pynomaly-tg and ASG pynomaly-asg,
healthy and under the lab fault targets-unhealthy (healed after every test), and a scratch VPC of a test's own."""

from __future__ import annotations

import pytest
from conftest import aws_connection, group_members, run_module, target_states

from lab import aws


def register(lab, check=False, **args) -> dict:
    return run_module("elb_register_targets", {**aws_connection(lab), "wait_timeout": 30, **args}, lab.root,
                      check=check, diff=True)


@pytest.fixture
def stranger(lab):
    """A running instance in a scratch VPC of the test's own; terminated and deleted afterwards."""
    ec2 = aws.client(lab.service("aws"), "ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.99.1.0/24")["Subnet"]["SubnetId"]
    image_id = min(i["ImageId"] for i in ec2.describe_images(Owners=["amazon"])["Images"])
    instance_id = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, SubnetId=subnet_id,
                                    InstanceType="t3.small")["Instances"][0]["InstanceId"]
    try:
        yield instance_id, vpc_id
    finally:
        ec2.terminate_instances(InstanceIds=[instance_id])
        ec2.get_waiter("instance_terminated").wait(InstanceIds=[instance_id], WaiterConfig={"Delay": 1})
        ec2.delete_subnet(SubnetId=subnet_id)
        ec2.delete_vpc(VpcId=vpc_id)


def test_healthy_estate_has_nothing_to_register(lab, seeded_targets):
    result = register(lab, target_group_name=seeded_targets["target_group_name"], asg_name=seeded_targets["asg_name"])
    assert result["failed"] is False and result["changed"] is False
    assert (result["registered"], result["deregistered"], result["skipped_instances"], result["actions"]) == (
        [], [], [], [])
    assert result["before"] == result["after"] == dict.fromkeys(group_members(lab), "healthy")
    assert result["msg"].startswith("Nothing to do")


def test_check_mode_lists_what_it_would_register_and_changes_nothing(lab, targets_unhealthy):
    info = lab.service("aws")
    deregistered, stopped = targets_unhealthy
    before = target_states(lab)
    result = register(lab, check=True, target_group_arn=info["target_group_arn"], asg_name=info["asg_name"])
    assert result["failed"] is False and result["changed"] is True and result["check_mode"] is True
    assert result["registered"] == deregistered and result["deregistered"] == []
    assert result["after"] == {stopped: "unused", **dict.fromkeys(deregistered, "initial")}
    assert f'+    "{deregistered[0]}": "initial"' in result["_stdout"]
    assert target_states(lab) == before == {stopped: "unused"}


def test_registers_the_running_instances_then_changes_nothing(lab, targets_unhealthy):
    info = lab.service("aws")
    deregistered, stopped = targets_unhealthy
    args = {"target_group_name": info["target_group_name"], "asg_name": info["asg_name"]}
    result = register(lab, **args)
    assert result["failed"] is False and result["changed"] is True and result["check_mode"] is False
    assert result["registered"] == deregistered and "duration" in result
    (skipped,) = result["skipped_instances"]
    assert skipped["id"] == stopped and skipped["reason"].startswith("stopped, not running")
    assert result["actions"] == [f"Register {', '.join(deregistered)} in pynomaly-tg on port 8000"]
    assert target_states(lab) == {stopped: "unused", **dict.fromkeys(deregistered, "healthy")}
    assert result["after"] == target_states(lab)
    again = register(lab, **args)
    assert again["failed"] is False and again["changed"] is False and again["registered"] == []
    assert [s["id"] for s in again["skipped_instances"]] == [stopped]
    # The remediation path: the stopped instance is started (ec2_instance_recover), it was never deregistered.
    ec2 = aws.client(info, "ec2")
    ec2.start_instances(InstanceIds=[stopped])
    ec2.get_waiter("instance_running").wait(InstanceIds=[stopped], WaiterConfig={"Delay": 1})
    health = run_module("elb_target_health_info", {**aws_connection(lab), "load_balancer_name": "pynomaly-alb",
                                                   "asg_name": info["asg_name"]}, lab.root)
    assert health["status"] == "ok" and health["target_groups"][0]["healthy"] == 3


def test_instance_of_another_vpc_is_skipped(lab, seeded_targets, stranger):
    instance_id, vpc_id = stranger
    result = register(lab, target_group_name=seeded_targets["target_group_name"], instance_ids=[instance_id])
    assert result["failed"] is False and result["changed"] is False and result["registered"] == []
    assert result["skipped_instances"] == [{"id": instance_id, "reason": f"in {vpc_id}, not in the target group's VPC "
                                                                           f"{seeded_targets['vpc_id']}"}]
    assert instance_id not in target_states(lab)


def test_deregister_unhealthy_never_leaves_the_group_empty(lab, targets_unhealthy):
    info = lab.service("aws")
    deregistered, stopped = targets_unhealthy
    refused = register(lab, target_group_name=info["target_group_name"], instance_ids=[stopped],
                       deregister_unhealthy=True)
    assert refused["failed"] is True and refused["changed"] is False and refused["guard"] == "targets left"
    assert "no registered target" in refused["msg"] and stopped in refused["msg"]
    assert "Traceback" not in refused["_stdout"]
    assert target_states(lab) == {stopped: "unused"}
    result = register(lab, target_group_name=info["target_group_name"], asg_name=info["asg_name"],
                      deregister_unhealthy=True)
    assert result["failed"] is False and result["changed"] is True
    assert (result["registered"], result["deregistered"]) == (deregistered, [stopped])
    assert target_states(lab) == dict.fromkeys(deregistered, "healthy")


def test_bad_arguments_name_the_option_and_change_nothing(lab, seeded_targets):
    before = target_states(lab)
    both = register(lab, target_group_arn=seeded_targets["target_group_arn"], target_group_name="pynomaly-tg",
                    asg_name=seeded_targets["asg_name"])
    assert both["failed"] is True and "target_group_arn" in both["msg"] and "target_group_name" in both["msg"]
    nothing = register(lab, target_group_name="pynomaly-tg")
    assert nothing["failed"] is True
    assert all(option in nothing["msg"] for option in ("instance_ids", "tags", "asg_name"))
    unknown = register(lab, target_group_name="no-such-tg", asg_name=seeded_targets["asg_name"])
    assert unknown["failed"] is True and unknown["changed"] is False and unknown["guard"] == "target group exists"
    assert "no-such-tg does not exist" in unknown["msg"]
    for result in (both, nothing, unknown):
        assert "Traceback" not in result["_stdout"]
    assert target_states(lab) == before
