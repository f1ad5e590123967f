"""ec2_instance_recover against the lab's moto: the seeded Auto Scaling group's instances (stopped by a test and
started again after it), and a scratch instance outside the service (terminated after).

Where the lab's moto (5.2, server mode) differs from AWS, found by calling it: start_instances makes an instance
``running`` at once, with both status checks ``ok`` (AWS goes through ``pending`` and ``initializing`` checks);
reboot_instances leaves no trace (state, launch time and status checks stay as they were), so a reboot is
asserted through what the module reports and the instance still running with checks ok; no API makes a status
check ``impaired``, so reboot-on-impaired is covered by unit tests of decide()
(tests/unit/plugins/modules/test_ec2_instance_recover_plan.py). The Auto Scaling group keeps a stopped instance
InService and never replaces it.
"""

from __future__ import annotations

import pytest
from conftest import aws_connection, run_module

from lab import aws

SERVICE = {"Service": "pynomaly"}


def recover(lab, check=False, **args) -> dict:
    return run_module("ec2_instance_recover", {**aws_connection(lab), "wait_timeout": 30, **args}, lab.root,
                      check=check, diff=True)


def states(ec2, instance_ids) -> dict:
    return {i["InstanceId"]: i["State"]["Name"]
            for r in ec2.describe_instances(InstanceIds=instance_ids)["Reservations"] for i in r["Instances"]}


def checks(ec2, instance_id) -> tuple:
    (status,) = ec2.describe_instance_status(InstanceIds=[instance_id], IncludeAllInstances=True)["InstanceStatuses"]
    return status["InstanceState"]["Name"], status["SystemStatus"]["Status"], status["InstanceStatus"]["Status"]


@pytest.fixture
def estate(lab):
    """(info, ec2, stop): stop(*numbers) stops seeded instances; all three are running again after the test."""
    info = lab.service("aws")
    ec2 = aws.client(info, "ec2")
    ids = info["instance_ids"]
    assert set(states(ec2, ids).values()) == {"running"}

    def stop(*numbers):
        stopped = [ids[n] for n in numbers]
        ec2.stop_instances(InstanceIds=stopped)
        assert set(states(ec2, stopped).values()) == {"stopped"}
        return stopped

    try:
        yield info, ec2, stop
    finally:
        ec2.start_instances(InstanceIds=ids)
        ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 20})


@pytest.fixture
def scratch(estate):
    """A stopped instance of the test's own in the service's subnet, without the Service tag; terminated after."""
    info, ec2, _stop = estate
    image_id = min(i["ImageId"] for i in ec2.describe_images(Owners=["amazon"])["Images"])
    instance_id = ec2.run_instances(
        ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t3.micro", SubnetId=info["subnet_ids"][0],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "scratch"}]}],
    )["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[instance_id])
    yield instance_id
    ec2.terminate_instances(InstanceIds=[instance_id])


def test_check_mode_lists_the_start_and_changes_nothing(lab, estate):
    info, ec2, stop = estate
    (stopped,) = stop(0)
    result = recover(lab, check=True, asg_name=info["asg_name"], service_tags=SERVICE)
    assert result["failed"] is False and result["changed"] is True and result["check_mode"] is True
    assert result["started"] == [stopped] and result["rebooted"] == []
    assert result["actions"] == [f"StartInstances {stopped} (pynomaly-app-1): stopped"]
    assert result["before"][stopped] == "stopped" and result["after"][stopped] == "running"
    assert [(s["id"], s["reason"]) for s in result["skipped_instances"]] == [
        (i, "running, checks ok") for i in info["instance_ids"][1:]]
    assert f'+    "{stopped}": "running"' in result["_stdout"]
    assert states(ec2, [stopped]) == {stopped: "stopped"}


def test_starts_the_stopped_instance_then_changes_nothing(lab, estate):
    info, ec2, stop = estate
    (stopped,) = stop(0)
    result = recover(lab, asg_name=info["asg_name"], service_tags=SERVICE)
    assert result["failed"] is False and result["changed"] is True and result["check_mode"] is False
    assert result["started"] == [stopped] and "duration" in result
    assert result["after"] == {i: "running" for i in info["instance_ids"]}
    assert result["msg"].startswith(f"Start {stopped} (pynomaly-app-1). Left alone 2:")
    assert checks(ec2, stopped) == ("running", "ok", "ok")
    elb = aws.client(info, "elbv2")
    health = elb.describe_target_health(TargetGroupArn=info["target_group_arn"], Targets=[{"Id": stopped}])
    assert health["TargetHealthDescriptions"][0]["TargetHealth"]["State"] == "healthy"  # "unused" while stopped
    again = recover(lab, asg_name=info["asg_name"], service_tags=SERVICE)
    assert again["failed"] is False and again["changed"] is False and again["actions"] == []
    assert again["started"] == [] and again["rebooted"] == [] and again["msg"].startswith("Nothing to do:")
    assert {s["reason"] for s in again["skipped_instances"]} == {"running, checks ok"}


def test_instance_outside_the_service_is_refused(lab, estate, scratch):
    info, ec2, stop = estate
    (stopped,) = stop(0)
    result = recover(lab, instance_ids=[scratch, stopped], asg_name=info["asg_name"], service_tags=SERVICE)
    assert result["failed"] is True and result["changed"] is False and result["guard"] == "service membership"
    assert (f"{scratch} (scratch): not in Auto Scaling group pynomaly-asg, no tag Service=pynomaly"
            in result["msg"]) and stopped not in result["msg"] and "Nothing was changed" in result["msg"]
    assert states(ec2, [scratch, stopped]) == {scratch: "stopped", stopped: "stopped"}
    by_tag = recover(lab, tags={"Name": "scratch"}, service_tags=SERVICE)
    assert by_tag["failed"] is True and by_tag["guard"] == "service membership" and scratch in by_tag["msg"]
    assert states(ec2, [scratch]) == {scratch: "stopped"}


def test_reboot_of_a_running_instance(lab, estate):
    info, ec2, _stop = estate
    target = info["instance_ids"][1]
    result = recover(lab, instance_ids=[target], asg_name=info["asg_name"], action="reboot")
    assert result["failed"] is False and result["changed"] is True
    assert result["rebooted"] == [target] and result["started"] == [] and result["skipped_instances"] == []
    assert result["actions"] == [f"RebootInstances {target} (pynomaly-app-2): running, action=reboot"]
    assert result["before"] == result["after"] == {target: "running"} and "duration" in result
    assert checks(ec2, target) == ("running", "ok", "ok")


def test_reboot_of_every_healthy_instance_is_refused(lab, estate):
    info, ec2, _stop = estate
    result = recover(lab, asg_name=info["asg_name"], action="reboot")
    assert result["failed"] is True and result["changed"] is False
    assert result["guard"] == "service keeps a healthy instance" and "keep_healthy=false" in result["msg"]
    assert set(states(ec2, info["instance_ids"]).values()) == {"running"}


def test_more_than_max_instances_is_refused(lab, estate):
    info, ec2, stop = estate
    stopped = stop(0, 1)
    result = recover(lab, asg_name=info["asg_name"], service_tags=SERVICE, max_instances=1)
    assert result["failed"] is True and result["changed"] is False and result["guard"] == "at most max_instances"
    assert "would start 2 and reboot 0 instance(s), 2 in all, above max_instances 1" in result["msg"]
    assert set(states(ec2, stopped).values()) == {"stopped"}


@pytest.mark.parametrize(("args", "option"), [
    ({"asg_name": "pynomaly-asg", "action": "terminate"}, "action"),
    ({"tags": SERVICE}, "service_tags"),
    ({"asg_name": "pynomaly-asg", "max_instances": 0}, "max_instances"),
])
def test_bad_arguments_name_the_option(lab, estate, args, option):
    _info, ec2, stop = estate
    (stopped,) = stop(0)
    result = recover(lab, **args)
    assert result["failed"] is True and result["changed"] is False and option in result["msg"]
    assert "Traceback" not in result["_stdout"]
    assert states(ec2, [stopped]) == {stopped: "stopped"}
