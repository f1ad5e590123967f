"""route53_weighted_failover against the lab's moto: the seeded weighted record api.pynomaly.internal. (primary 100,
secondary 0), put back as seeded (weights and health) after every test."""

from __future__ import annotations

import pytest
from conftest import aws_connection, run_module

from lab import aws, dns_faults

RECORD = {"zone_name": "pynomaly.internal", "record_name": "api.pynomaly.internal"}
PAIR = {"primary": "primary", "secondary": "secondary"}


def failover(lab, check=False, **args) -> dict:
    return run_module("route53_weighted_failover", {**aws_connection(lab), **RECORD, "wait_timeout": 30, **args},
                      lab.root, check=check, diff=True)


def record_sets(route53, info) -> list[dict]:
    return route53.list_resource_record_sets(HostedZoneId=info["hosted_zone_id"])["ResourceRecordSets"]


def weights(route53, info) -> dict:
    return {s["SetIdentifier"]: s["Weight"] for s in record_sets(route53, info) if "Weight" in s}


@pytest.fixture
def dns(lab):
    """boto3 Route 53 of the lab; weights 100/0 and both health checks healthy before and after the test."""
    info = lab.service("aws")
    route53 = aws.client(info, "route53")
    assert weights(route53, info) == {"primary": 100, "secondary": 0}
    try:
        yield info, route53
    finally:
        dns_faults.heal_region_primary_down(lab)
    assert weights(route53, info) == {"primary": 100, "secondary": 0}


def test_check_mode_changes_nothing(lab, dns):
    info, route53 = dns
    dns_faults.break_region_primary_down(lab)
    before = record_sets(route53, info)
    result = failover(lab, check=True, **PAIR)
    assert result["failed"] is False and result["changed"] is True and result["check_mode"] is True
    assert result["before"] == {"primary": 100, "secondary": 0} and result["after"] == {"primary": 0, "secondary": 100}
    assert result["previous_weights"] == {"primary": 100, "secondary": 0} and "change_id" not in result
    assert result["health"]["secondary"]["health"] == "healthy"
    assert '+    "secondary": 100' in result["_stdout"]
    assert record_sets(route53, info) == before


def test_fails_over_waits_insync_and_fails_back(lab, dns):
    info, route53 = dns
    dns_faults.break_region_primary_down(lab)
    result = failover(lab, state="failover", **PAIR)
    assert result["failed"] is False and result["changed"] is True and result["check_mode"] is False
    assert result["actions"] == ["Set the weight of api.pynomaly.internal. primary from 100 to 0",
                                 "Set the weight of api.pynomaly.internal. secondary from 0 to 100"]
    assert result["previous_weights"] == {"primary": 100, "secondary": 0}
    assert result["change_id"] and "duration" in result
    assert weights(route53, info) == {"primary": 0, "secondary": 100}
    assert route53.get_change(Id=result["change_id"])["ChangeInfo"]["Status"] == "INSYNC"

    again = failover(lab, **PAIR)
    assert again["failed"] is False and again["changed"] is False and again["actions"] == []
    assert "already failed over" in again["msg"] and weights(route53, info) == {"primary": 0, "secondary": 100}

    dns_faults.heal_health_checks(lab)  # the primary region is healthy again: fail back
    back = failover(lab, state="failback", weights=result["previous_weights"])
    assert back["failed"] is False and back["changed"] is True and back["after"] == {"primary": 100, "secondary": 0}
    assert back["health"]["primary"]["health"] == "healthy"
    assert weights(route53, info) == {"primary": 100, "secondary": 0}
    assert failover(lab, state="failback", weights={"primary": 100, "secondary": 0})["changed"] is False


def test_refuses_when_the_secondary_is_unhealthy(lab, dns):
    info, route53 = dns
    dns_faults.break_region_primary_down(lab)
    secondary_check = dns_faults.break_health_check(lab, "secondary")
    before = record_sets(route53, info)
    result = failover(lab, **PAIR)
    assert result["failed"] is True and result["changed"] is False and result["guard"] == "target healthy"
    assert secondary_check in result["msg"] and "is unhealthy" in result["msg"] and "force=true" in result["msg"]
    assert "Traceback" not in result["_stdout"]
    assert record_sets(route53, info) == before
    forced = failover(lab, force=True, **PAIR)
    assert forced["failed"] is False and forced["changed"] is True
    assert forced["health"]["secondary"]["health"] == "unhealthy"
    assert weights(route53, info) == {"primary": 0, "secondary": 100}


def test_unknown_record_is_refused(lab, dns):
    info, route53 = dns
    before = record_sets(route53, info)
    result = failover(lab, **PAIR, record_name="nope.pynomaly.internal")
    assert result["failed"] is True and result["changed"] is False and result["guard"] == "record exists"
    assert "route53.record_not_found" in result["msg"] and "nope.pynomaly.internal." in result["msg"]
    assert record_sets(route53, info) == before


def test_bad_options_name_the_option(lab, dns):
    info, route53 = dns
    before = record_sets(route53, info)
    no_weights = failover(lab, state="failback")
    assert no_weights["failed"] is True and "weights" in no_weights["msg"]
    stranger = failover(lab, primary="primary", secondary="tertiary")
    assert stranger["failed"] is True and "secondary 'tertiary' is not a set" in stranger["msg"]
    bad_weight = failover(lab, state="failback", weights={"primary": 100, "ghost": 0})
    assert bad_weight["failed"] is True and "weights 'ghost'" in bad_weight["msg"]
    too_heavy = failover(lab, state="failback", weights={"primary": 256})
    assert too_heavy["failed"] is True and "weights" in too_heavy["msg"] and "255" in too_heavy["msg"]
    assert all("Traceback" not in r["_stdout"] for r in (no_weights, stranger, bad_weight, too_heavy))
    assert record_sets(route53, info) == before
