"""aws_health_info against the lab's AWS Health stand-in (lab/aws_health_server.py: moto lacks the Health API).

The seeded account shows a closed EC2 issue of two days ago and an upcoming RDS scheduled change; the fault
aws-event adds an open EC2 issue in us-east-1. Tests that add events restore the seeded state file.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest
from conftest import aws_connection, run_module

from lab import aws_health_server as health


@pytest.fixture(scope="module")
def stand_in(lab):
    """The stand-in of the session lab (started here unless the lab runs it already)."""
    started = not (lab.alive(health.PROCESS) and lab.service(health.SERVICE))
    info = health.up(lab)
    lab.set_service(health.SERVICE, info)
    yield info
    if started:
        health.down(lab)
        state = lab.load()
        state["services"].pop(health.SERVICE, None)
        lab.save(state)


@pytest.fixture
def seeded(lab, stand_in):
    """The state file as seeded before and after the test."""
    path = Path(stand_in["state_file"])
    before = path.read_text()
    assert [e["statusCode"] for e in json.loads(before)["events"]] == ["closed", "upcoming"]
    yield stand_in
    health.heal_aws_event(lab)
    health.set_subscription(lab, True)
    for event in json.loads(path.read_text())["events"]:
        if event["arn"] not in before:
            health.remove_event(lab, event["arn"])
    assert json.loads(path.read_text()) == json.loads(before)


def health_info(lab, stand_in, **args) -> dict:
    return run_module("aws_health_info", {**aws_connection(lab), "endpoint_url": stand_in["endpoint_url"], **args},
                      lab.root)


def ids(result) -> list[str]:
    return sorted(f["id"] for f in result["findings"])


def test_no_open_event_is_ok(lab, seeded):
    result = health_info(lab, seeded, regions=["us-east-1"], services=["ec2", "RDS"])
    assert result["failed"] is False and result["changed"] is False
    assert (result["status"], result["findings"], result["events"]) == ("ok", [], [])
    assert result["filter"] == {"eventStatusCodes": ["open"], "eventTypeCategories": ["issue"],
                                "regions": ["global", "us-east-1"], "services": ["EC2", "RDS"]}
    assert result["subscription_required"] is False


def test_open_ec2_issue_is_critical_until_healed(lab, seeded):
    health.break_aws_event(lab)
    stored = next(e for e in health.read_state(lab)["events"] if e["arn"] == health.FAULT_ARN)
    result = health_info(lab, seeded, regions=["us-east-1"], services=["EC2", "ELASTICLOADBALANCING"])
    assert result["failed"] is False and result["status"] == "degraded"
    (found,) = result["findings"]
    assert (found["id"], found["severity"]) == ("aws_health.open_event", "critical")
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stored["startTime"]))
    assert {k: found["evidence"][k] for k in ("arn", "service", "region", "category", "start_time")} == {
        "arn": health.FAULT_ARN, "service": "EC2", "region": "us-east-1", "category": "issue", "start_time": start}
    assert found["evidence"]["description"] == stored["description"]
    assert found["summary"] == f"AWS Health: open EC2 issue in us-east-1 since {start} (AWS_EC2_OPERATIONAL_ISSUE)"
    assert [e["arn"] for e in result["events"]] == [health.FAULT_ARN]
    health.heal_aws_event(lab)
    health.heal_aws_event(lab)  # twice is safe
    assert health.FAULT_ARN not in {e["arn"] for e in health.read_state(lab)["events"]}
    assert health_info(lab, seeded, regions=["us-east-1"], services=["EC2"])["status"] == "ok"


def test_closed_unlisted_and_other_region_events_are_ignored(lab, seeded):
    now = time.time()
    for args in (("CLOSED_2", "EC2", "AWS_EC2_OPERATIONAL_ISSUE", "issue", "closed", "us-east-1", now - 600),
                 ("CF_1", "CLOUDFRONT", "AWS_CLOUDFRONT_OPERATIONAL_ISSUE", "issue", "open", "us-east-1", now - 300),
                 ("EU_1", "EC2", "AWS_EC2_OPERATIONAL_ISSUE", "issue", "open", "eu-west-1", now - 300),
                 ("R53_1", "ROUTE53", "AWS_ROUTE53_OPERATIONAL_ISSUE", "issue", "open", "global", now - 200)):
        health.put_event(lab, health.event(*args, description=f"lab event {args[0]}"))
    result = health_info(lab, seeded, regions=["us-east-1"], services=["EC2"])
    assert (result["status"], result["findings"]) == ("ok", [])
    # without services: every service of the aws group's region (us-east-1) and the global ones
    result = health_info(lab, seeded)
    assert result["status"] == "degraded" and ids(result) == ["aws_health.open_event", "aws_health.open_event"]
    assert [(e["service"], e["region"]) for e in result["events"]] == [("ROUTE53", "global"),
                                                                       ("CLOUDFRONT", "us-east-1")]
    result = health_info(lab, seeded, regions=["eu-west-1", "us-east-1"], max_events=2)
    assert result["truncated"] is True and len(result["events"]) == 2


def test_stand_in_pages_like_aws(lab, seeded):
    for n in range(25):
        health.put_event(lab, health.event(f"PAGE_{n}", "EC2", "AWS_EC2_OPERATIONAL_ISSUE", "issue", "open",
                                           "us-east-1", time.time() - n, "paged"))
    client = boto3.client("health", endpoint_url=seeded["endpoint_url"], region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    pages = list(client.get_paginator("describe_events").paginate(filter={"eventStatusCodes": ["open"]}))
    assert [len(p["events"]) for p in pages] == [10, 10, 5]
    result = health_info(lab, seeded, services=["EC2"])
    assert len(result["events"]) == 25 and len(result["findings"]) == 25 and result["truncated"] is False


def test_no_subscription_is_an_info_finding_not_a_failure(lab, seeded):
    health.set_subscription(lab, False)
    result = health_info(lab, seeded, regions=["us-east-1"])
    assert result["failed"] is False and result["status"] == "unknown"
    (found,) = result["findings"]
    assert (found["id"], found["severity"]) == ("aws_health.subscription_required", "info")
    assert "SubscriptionRequiredException" in found["evidence"]["error"]
    assert result["subscription_required"] is True and result["events"] == []


def test_unreachable_endpoint_is_a_finding_not_a_failure(lab, stand_in):
    result = health_info(lab, {"endpoint_url": "http://127.0.0.1:1"}, max_attempts=1)
    assert result["failed"] is False and result["status"] == "unknown"
    assert ids(result) == ["aws_health.api_unreachable"]
    assert result["findings"][0]["evidence"]["endpoint_url"] == "http://127.0.0.1:1"


@pytest.mark.parametrize(("args", "option"), [
    ({"event_type_categories": ["outage"]}, "event_type_categories"),
    ({"max_events": 0}, "max_events"),
])
def test_bad_arguments_name_the_option(lab, stand_in, args, option):
    result = health_info(lab, stand_in, **args)
    assert result["failed"] is True and option in result["msg"]
    assert "Traceback" not in result["_stdout"]
