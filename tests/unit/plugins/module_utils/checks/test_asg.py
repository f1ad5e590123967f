"""The rules of asg_info: what is in service, and which group states are findings."""

from datetime import UTC, datetime, timedelta

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.checks.asg import group_entry, group_findings, overall_status
from ansible_collections.sre.runbooks.plugins.module_utils.ec2 import group_capacity

NOW = datetime(2024, 5, 1, 3, 15, tzinfo=UTC)


def raw_group(desired=3, max_size=6, states=(("InService", "Healthy"),) * 3):
    return {"AutoScalingGroupName": "web", "DesiredCapacity": desired, "MinSize": 1, "MaxSize": max_size,
            "Instances": [{"InstanceId": f"i-{n}", "LifecycleState": lifecycle, "HealthStatus": health,
                           "AvailabilityZone": "us-east-1a"} for n, (lifecycle, health) in enumerate(states)]}


def activity(minutes_ago, status="Failed"):
    return {"StartTime": NOW - timedelta(minutes=minutes_ago), "StatusCode": status,
            "Description": "Launching a new EC2 instance", "Cause": "capacity from 2 to 3",
            "StatusMessage": "The security group 'sg-1' does not exist."}


def test_only_healthy_in_service_instances_count():
    states = (("InService", "Healthy"), ("InService", "Unhealthy"), ("Pending", "Healthy"),
              ("Pending:Wait", "Healthy"), ("Standby", "Healthy"), ("Terminating", "Healthy"))
    assert group_capacity(raw_group(desired=4, states=states)) == {
        "desired": 4, "min": 1, "max": 6, "in_service": 1, "pending": 2, "unhealthy": 1}


@pytest.mark.parametrize(("desired", "max_size", "states", "expected"), [
    (3, 6, (("InService", "Healthy"),) * 3, []),
    (3, 6, (("InService", "Healthy"),) * 2 + (("Standby", "Healthy"),), [("asg.capacity_below_desired", "warning")]),
    (2, 6, (("InService", "Unhealthy"),) * 2, [("asg.capacity_below_desired", "critical")]),
    (0, 6, (), []),
    (3, 3, (("InService", "Healthy"),) * 3, [("asg.at_max", "warning")]),
])
def test_capacity_findings(desired, max_size, states, expected):
    found = group_findings(group_entry(raw_group(desired, max_size, states), []), 60, NOW)
    assert [(f["id"], f["severity"]) for f in found] == expected


def test_a_recent_failed_activity_is_a_finding_an_old_one_is_not():
    recent = group_findings(group_entry(raw_group(), [activity(5), activity(10)]), 60, NOW)
    assert [f["id"] for f in recent] == ["asg.scaling_failed"]
    assert recent[0]["evidence"]["status_message"] == "The security group 'sg-1' does not exist."
    assert recent[0]["evidence"]["time"] == (NOW - timedelta(minutes=5)).isoformat()
    assert group_findings(group_entry(raw_group(), [activity(90)]), 60, NOW) == []
    assert group_findings(group_entry(raw_group(), [activity(5, "Successful")]), 60, NOW) == []


def test_status_is_down_when_nothing_serves_or_a_group_is_missing():
    warning = {"id": "asg.capacity_below_desired", "severity": "warning"}
    assert overall_status([]) == "ok"
    assert overall_status([warning]) == "degraded"
    assert overall_status([dict(warning, severity="critical")]) == "down"
    assert overall_status([{"id": "asg.not_found", "severity": "critical"}]) == "down"
