"""ec2_instance_info against the lab's moto: the seeded Auto Scaling group's three instances, one stopped by a test.

What the lab's moto (5.2, server mode) shows, found by calling it: describe_instance_status with
IncludeAllInstances reports a running instance's system and instance checks as ``ok`` (reachability
passed) and a stopped one's as ``not-applicable``; without IncludeAllInstances it leaves stopped instances
out. No API makes a check ``impaired`` and no instance ever has a scheduled event, so
ec2.status_check_failed and ec2.scheduled_event are covered by unit tests
(tests/unit/plugins/module_utils/checks/test_ec2_instance.py). stop_instances and start_instances take
effect at once (no ``stopping`` or ``pending`` in between). The Auto Scaling group keeps a stopped
instance InService and Healthy and never replaces it, where AWS would count it unhealthy and replace it.
"""

from __future__ import annotations

import pytest
from conftest import aws_connection, run_module

from lab import aws


def ec2_info(lab, **args) -> dict:
    return run_module("ec2_instance_info", {**aws_connection(lab), **args}, lab.root)


def states(ec2, instance_ids) -> dict:
    return {i["InstanceId"]: i["State"]["Name"]
            for r in ec2.describe_instances(InstanceIds=instance_ids)["Reservations"] for i in r["Instances"]}


@pytest.fixture
def ec2(lab):
    """boto3 EC2 of the lab; the seeded instances are running before and after the test."""
    info = lab.service("aws")
    client = aws.client(info, "ec2")
    assert set(states(client, info["instance_ids"]).values()) == {"running"}
    yield client
    client.start_instances(InstanceIds=info["instance_ids"])
    client.get_waiter("instance_running").wait(InstanceIds=info["instance_ids"],
                                               WaiterConfig={"Delay": 1, "MaxAttempts": 20})


def test_healthy_group_has_three_running_instances_and_no_findings(lab, ec2):
    info = lab.service("aws")
    result = ec2_info(lab, asg_name=info["asg_name"])
    assert result["failed"] is False and result["changed"] is False
    assert result["status"] == "ok" and result["findings"] == []
    assert [i["id"] for i in result["instances"]] == info["instance_ids"]
    for number, instance in enumerate(result["instances"], start=1):
        assert (instance["name"], instance["state"], instance["asg"]) == (f"pynomaly-app-{number}", "running",
                                                                          "pynomaly-asg")
        assert instance["status_checks"] == {"system": "ok", "instance": "ok"} and instance["events"] == []
        assert (instance["asg_lifecycle"], instance["asg_health"]) == ("InService", "Healthy")
        assert instance["vpc_id"] == info["vpc_id"] and instance["security_groups"] == [info["security_group_id"]]
        assert instance["tags"]["Service"] == "pynomaly"


def test_stopped_instance_is_a_critical_finding(lab, ec2):
    info = lab.service("aws")
    stopped = info["instance_ids"][0]
    ec2.stop_instances(InstanceIds=[stopped])
    assert states(ec2, [stopped]) == {stopped: "stopped"}
    result = ec2_info(lab, tags={"Service": "pynomaly"})
    assert result["failed"] is False and result["status"] == "degraded"
    (found,) = result["findings"]
    assert (found["id"], found["severity"]) == ("ec2.instance_stopped", "critical")
    assert found["evidence"] == {"instance": stopped, "name": "pynomaly-app-1", "state": "stopped",
                                 "asg": "pynomaly-asg"}
    assert "pynomaly-app-1" in found["summary"]
    shown = {i["id"]: i for i in result["instances"]}
    assert shown[stopped]["status_checks"] == {"system": "not-applicable", "instance": "not-applicable"}
    assert shown[stopped]["state_reason"] == "Client.UserInitiatedShutdown: User initiated shutdown"
    # All of the selection down: the service is down.
    alone = ec2_info(lab, instance_ids=[stopped])
    assert alone["status"] == "down" and [f["id"] for f in alone["findings"]] == ["ec2.instance_stopped"]


def test_selection_matching_nothing_is_a_finding(lab):
    result = ec2_info(lab, tags={"Service": "no-such-service"})
    assert result["failed"] is False and result["status"] == "down" and result["instances"] == []
    (found,) = result["findings"]
    assert (found["id"], found["severity"]) == ("ec2.no_instances", "critical")
    assert found["evidence"]["tags"] == {"Service": "no-such-service"}
    assert "tags Service=no-such-service" in found["summary"]
    missing = ec2_info(lab, asg_name="no-such-asg")
    assert missing["failed"] is False and [f["id"] for f in missing["findings"]] == ["ec2.no_instances"]
    assert missing["findings"][0]["summary"] == "Auto Scaling group no-such-asg does not exist."


def test_unreachable_endpoint_is_a_finding_not_a_failure(lab):
    args = {**aws_connection(lab), "endpoint_url": "http://127.0.0.1:1", "max_attempts": 1}
    result = run_module("ec2_instance_info", {**args, "asg_name": "pynomaly-asg"}, lab.root)
    assert result["failed"] is False and result["status"] == "unknown" and result["instances"] == []
    assert [f["id"] for f in result["findings"]] == ["ec2.api_unreachable"]
    assert result["findings"][0]["evidence"]["endpoint_url"] == "http://127.0.0.1:1"
    assert "Traceback" not in result["_stdout"]


@pytest.mark.parametrize(("args", "option", "words"), [
    ({}, "instance_ids", "one of the following is required"),
    ({"instance_ids": ["web-1"]}, "instance_ids", "must be EC2 instance ids (i-...), not web-1"),
    ({"instance_ids": ["i-0123456789abcdef0"]}, "instance_ids", "does not exist"),
    ({"tags": {"Service": None}}, "tags", "has no value"),
])
def test_bad_selection_names_the_option(lab, args, option, words):
    result = ec2_info(lab, **args)
    assert result["failed"] is True and option in result["msg"] and words in result["msg"]
    assert "Traceback" not in result["_stdout"]
