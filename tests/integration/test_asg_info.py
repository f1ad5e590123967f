"""asg_info against the lab's moto: the seeded group pynomaly-asg (restored after every test that breaks it),
and groups a test makes from the lab's launch template."""

from __future__ import annotations

from asg_helpers import make_group_fixture, seeded_fixture, shape  # noqa: F401 -- fixtures seeded, make_group
from conftest import aws_connection, run_module

from lab import asg_faults, aws


def asg_info(lab, **args) -> dict:
    return run_module("asg_info", {**aws_connection(lab), **args}, lab.root)


def ids(result) -> list[str]:
    return sorted(f["id"] for f in result["findings"])


def test_healthy_group_shows_sizes_instances_and_activities(lab, seeded):
    info, _autoscaling = seeded
    result = asg_info(lab, asg_names=[info["asg_name"]])
    assert result["failed"] is False and result["changed"] is False
    assert result["status"] == "ok" and result["findings"] == []
    (group,) = result["groups"]
    assert {k: group[k] for k in ("name", "desired", "min", "max", "in_service", "pending", "unhealthy")} == {
        "name": "pynomaly-asg", "desired": 3, "min": 2, "max": 6, "in_service": 3, "pending": 0, "unhealthy": 0}
    assert [(i["id"], i["lifecycle"], i["health"]) for i in group["instances"]] == [
        (i, "InService", "Healthy") for i in info["instance_ids"]]
    assert {i["az"] for i in group["instances"]} == {"us-east-1a"}  # moto starts them all in the first subnet
    assert group["activities"] == []  # moto's DescribeScalingActivities always answers an empty list


def test_lost_capacity_is_a_warning_with_the_numbers(lab, seeded):
    info, autoscaling = seeded
    asg_faults.break_asg_capacity_lost(lab)
    assert shape(autoscaling, info["asg_name"])[0] == 3
    result = asg_info(lab, asg_names=[info["asg_name"]])
    assert result["failed"] is False and result["status"] == "degraded"
    (lost,) = result["findings"]
    assert lost["id"] == "asg.capacity_below_desired" and lost["severity"] == "warning"
    assert lost["evidence"] == {"asg": "pynomaly-asg", "desired": 3, "in_service": 2, "pending": 0, "unhealthy": 0}
    assert lost["summary"] == "pynomaly-asg has 2 of 3 desired instances in service (0 pending, 0 unhealthy)"
    (group,) = result["groups"]
    assert [i["lifecycle"] for i in group["instances"] if i["id"] == info["instance_ids"][-1]] == ["Standby"]
    asg_faults.heal_asg_capacity_lost(lab)
    asg_faults.heal_asg_capacity_lost(lab)  # safe twice
    assert asg_info(lab, asg_names=[info["asg_name"]])["status"] == "ok"


def test_at_max_nothing_in_service_and_missing_groups(lab, make_group):
    autoscaling = aws.client(lab.service("aws"), "autoscaling")
    full = make_group(1, 2, 2)
    dead = make_group(0, 2, 1)
    (instance,) = autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=[dead])["AutoScalingGroups"][0]["Instances"]
    autoscaling.set_instance_health(InstanceId=instance["InstanceId"], HealthStatus="Unhealthy")
    result = asg_info(lab, asg_names=[full, dead, "no-such-asg"])
    assert result["failed"] is False and result["status"] == "down"
    by_id = {f["id"]: f for f in result["findings"]}
    assert ids(result) == ["asg.at_max", "asg.capacity_below_desired", "asg.not_found"]
    assert by_id["asg.at_max"]["evidence"] == {"asg": full, "max": 2, "desired": 2}
    assert by_id["asg.at_max"]["severity"] == "warning"
    assert by_id["asg.capacity_below_desired"]["severity"] == "critical"
    assert by_id["asg.capacity_below_desired"]["evidence"] == {"asg": dead, "desired": 1, "in_service": 0,
                                                               "pending": 0, "unhealthy": 1}
    assert by_id["asg.not_found"]["evidence"] == {"asg": "no-such-asg"}
    assert [g["name"] for g in result["groups"]] == [full, dead]
    assert result["groups"][1]["instances"][0]["health"] == "Unhealthy"


def test_group_at_max_of_the_lab_fault(lab, seeded):
    info, autoscaling = seeded
    asg_faults.break_asg_at_max(lab)
    assert shape(autoscaling, info["asg_name"])[:3] == (3, 2, 3)
    result = asg_info(lab, asg_names=[info["asg_name"]])
    assert result["status"] == "degraded" and ids(result) == ["asg.at_max"]
    assert result["findings"][0]["evidence"] == {"asg": "pynomaly-asg", "max": 3, "desired": 3}


def test_unreachable_endpoint_is_a_finding_not_a_failure(lab):
    args = {**aws_connection(lab), "endpoint_url": "http://127.0.0.1:1", "max_attempts": 1}
    result = run_module("asg_info", {**args, "asg_names": ["pynomaly-asg"]}, lab.root)
    assert result["failed"] is False and result["status"] == "unknown" and result["groups"] == []
    assert ids(result) == ["asg.api_unreachable"]
    assert result["findings"][0]["evidence"]["endpoint_url"] == "http://127.0.0.1:1"
    assert "Traceback" not in result["_stdout"]


def test_bad_arguments_name_the_option(lab):
    empty = asg_info(lab, asg_names=[])
    assert empty["failed"] is True and "asg_names" in empty["msg"] and "Traceback" not in empty["_stdout"]
    too_many = asg_info(lab, asg_names=["pynomaly-asg"], max_activities=500)
    assert too_many["failed"] is True and "max_activities must be between 1 and 100" in too_many["msg"]
