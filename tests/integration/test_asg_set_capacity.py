"""asg_set_capacity against the lab's moto: the seeded group pynomaly-asg (put back as seeded after every test),
and groups a test makes from the lab's launch template."""

from __future__ import annotations

from asg_helpers import make_group_fixture, seeded_fixture, shape  # noqa: F401 -- fixtures seeded, make_group
from conftest import aws_connection, run_module

from lab import asg_faults, aws


def set_capacity(lab, check=False, **args) -> dict:
    return run_module("asg_set_capacity", {**aws_connection(lab), "wait_timeout": 30, **args}, lab.root,
                      check=check, diff=True)


def test_check_mode_changes_nothing(lab, seeded):
    info, autoscaling = seeded
    before = shape(autoscaling, info["asg_name"])
    result = set_capacity(lab, check=True, asg_name=info["asg_name"], increment=1)
    assert result["failed"] is False and result["changed"] is True and result["check_mode"] is True
    assert result["actions"] == ["Set DesiredCapacity of pynomaly-asg from 3 to 4"]
    assert result["before"] == {"desired": 3, "min": 2, "max": 6, "in_service": 3}
    assert result["after"] == {"desired": 4, "min": 2, "max": 6, "in_service": 4}
    assert '+    "desired": 4' in result["_stdout"] and "duration" not in result
    assert shape(autoscaling, info["asg_name"]) == before


def test_scale_out_restores_lost_capacity_and_waits(lab, seeded):
    info, autoscaling = seeded
    asg_faults.break_asg_capacity_lost(lab)
    result = set_capacity(lab, asg_name=info["asg_name"], increment=1)
    assert result["failed"] is False and result["changed"] is True and result["check_mode"] is False
    assert result["before"] == {"desired": 3, "min": 2, "max": 6, "in_service": 2}
    assert result["after"] == {"desired": 4, "min": 2, "max": 6, "in_service": 4} and "duration" in result
    desired, _min, _max, instances = shape(autoscaling, info["asg_name"])
    in_service = [i for i, lifecycle, health in instances if (lifecycle, health) == ("InService", "Healthy")]
    assert desired == 4 and len(in_service) == 4
    targets = aws.client(info, "elbv2").describe_target_health(TargetGroupArn=info["target_group_arn"])
    assert set(in_service) <= {t["Target"]["Id"] for t in targets["TargetHealthDescriptions"]}
    check = run_module("asg_info", {**aws_connection(lab), "asg_names": [info["asg_name"]]}, lab.root)
    assert check["status"] == "ok" and check["findings"] == []
    again = set_capacity(lab, asg_name=info["asg_name"], desired=4)
    assert again["failed"] is False and again["changed"] is False and again["actions"] == []
    assert "already has desired capacity 4" in again["msg"]
    assert shape(autoscaling, info["asg_name"])[0] == 4


def test_above_max_is_refused_unless_raised_within_the_cap(lab, seeded):
    info, autoscaling = seeded
    before = shape(autoscaling, info["asg_name"])
    above = set_capacity(lab, asg_name=info["asg_name"], desired=7)
    assert above["failed"] is True and above["changed"] is False and above["guard"] == "within max"
    assert "at most 6 instances (MaxSize)" in above["msg"] and "raise_max=true" in above["msg"]
    capped = set_capacity(lab, asg_name=info["asg_name"], desired=8, raise_max=True, max_cap=7)
    assert capped["failed"] is True and capped["changed"] is False and capped["guard"] == "within max_cap"
    assert "max_cap=7" in capped["msg"] and "Traceback" not in capped["_stdout"]
    assert shape(autoscaling, info["asg_name"]) == before


def test_below_in_service_is_refused_without_allow_scale_in(lab, seeded):
    info, autoscaling = seeded
    before = shape(autoscaling, info["asg_name"])
    result = set_capacity(lab, asg_name=info["asg_name"], desired=2)
    assert result["failed"] is True and result["changed"] is False and result["guard"] == "no scale-in"
    assert "has 3 instances in service; desired 2 would terminate 1 of them" in result["msg"]
    assert "allow_scale_in=true" in result["msg"]
    assert shape(autoscaling, info["asg_name"]) == before


def test_raise_max_within_the_cap_lets_a_group_at_max_scale_out(lab, seeded):
    info, autoscaling = seeded
    asg_faults.break_asg_at_max(lab)
    raised = set_capacity(lab, asg_name=info["asg_name"], increment=1, raise_max=True, max_cap=6)
    assert raised["failed"] is False and raised["changed"] is True
    assert raised["actions"] == ["Raise MaxSize of pynomaly-asg from 3 to 6 (to revert, set it back to 3)",
                                 "Set DesiredCapacity of pynomaly-asg from 3 to 4"]
    assert raised["before"] == {"desired": 3, "min": 2, "max": 3, "in_service": 3}
    assert raised["after"] == {"desired": 4, "min": 2, "max": 6, "in_service": 4}
    desired, _min, max_size, instances = shape(autoscaling, info["asg_name"])
    assert (desired, max_size, len(instances)) == (4, 6, 4)
    check = run_module("asg_info", {**aws_connection(lab), "asg_names": [info["asg_name"]]}, lab.root)
    assert check["status"] == "ok" and check["findings"] == []


def test_scale_in_when_allowed(lab, make_group):
    autoscaling = aws.client(lab.service("aws"), "autoscaling")
    name = make_group(1, 3, 3)
    shrunk = set_capacity(lab, asg_name=name, desired=1, allow_scale_in=True)
    assert shrunk["failed"] is False and shrunk["changed"] is True
    assert shrunk["actions"] == [f"Set DesiredCapacity of {name} from 3 to 1"]
    assert shrunk["after"] == {"desired": 1, "min": 1, "max": 3, "in_service": 1}
    assert shape(autoscaling, name)[0] == 1 and len(shape(autoscaling, name)[3]) == 1


def test_bad_arguments_name_the_option(lab, seeded):
    info, autoscaling = seeded
    before = shape(autoscaling, info["asg_name"])
    both = set_capacity(lab, asg_name=info["asg_name"], desired=4, increment=1)
    assert both["failed"] is True and "desired" in both["msg"] and "increment" in both["msg"]
    negative = set_capacity(lab, asg_name=info["asg_name"], increment=-1)
    assert negative["failed"] is True and "increment must be 1 or more, not -1" in negative["msg"]
    uncapped = set_capacity(lab, asg_name=info["asg_name"], desired=8, raise_max=True)
    assert uncapped["failed"] is True and "max_cap" in uncapped["msg"]
    missing = set_capacity(lab, asg_name="no-such-asg", increment=1)
    assert missing["failed"] is True and missing["msg"] == "Auto Scaling group no-such-asg does not exist."
    assert not any("Traceback" in r["_stdout"] for r in (both, negative, uncapped, missing))
    assert shape(autoscaling, info["asg_name"]) == before


def test_a_wait_that_times_out_fails_with_changed_true(lab, make_group):
    autoscaling = aws.client(lab.service("aws"), "autoscaling")
    name = make_group(1, 4, 2)
    first = shape(autoscaling, name)[3][0][0]
    # moto never replaces an Unhealthy instance, and counts it when it launches: 3 desired, 2 Healthy ever.
    autoscaling.set_instance_health(InstanceId=first, HealthStatus="Unhealthy")
    result = set_capacity(lab, asg_name=name, increment=1, wait_timeout=2, wait_sleep=0.2)
    assert result["failed"] is True and result["changed"] is True, result
    assert result["msg"] == (f"{name} did not get 3 instances in service within 2s "
                             "(last seen: 2 in service, desired 3); the capacity was set.")
    assert result["actions"] == [f"Set DesiredCapacity of {name} from 2 to 3"]
    assert shape(autoscaling, name)[0] == 3
