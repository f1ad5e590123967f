"""route53_record_info against the lab's moto: the seeded weighted record api.pynomaly.internal. (primary 100,
secondary 0), with the lab's region-primary-down fault (an alarm on the primary's HealthCheckStatus)."""

from __future__ import annotations

import pytest
from conftest import aws_connection, run_module

from lab import aws, dns_faults

SEEDED = [("primary", 100, ["10.20.1.10"]), ("secondary", 0, ["10.30.1.10"])]


def record_info(lab, **args) -> dict:
    return run_module("route53_record_info", {**aws_connection(lab), "record_name": "api.pynomaly.internal",
                                              **args}, lab.root)


def ids(result) -> list[str]:
    return sorted(f["id"] for f in result["findings"])


@pytest.fixture
def dns(lab):
    """The seeded record, healthy before and after the test."""
    info = lab.service("aws")
    try:
        yield info
    finally:
        dns_faults.heal_region_primary_down(lab)


def test_seeded_record_is_healthy(lab, dns):
    result = record_info(lab, zone_name="pynomaly.internal")
    assert result["failed"] is False and result["changed"] is False
    assert result["status"] == "ok" and result["findings"] == []
    assert result["zone"] == {"id": dns["hosted_zone_id"], "name": "pynomaly.internal."}
    assert [(r["set_identifier"], r["weight"], r["values"]) for r in result["records"]] == SEEDED
    for record in result["records"]:
        assert record["health"] == "healthy" and "checkers" in record["health_source"]
        assert record["health_check_id"] and record["ttl"] == 60 and record["failover"] is None


def test_primary_down_is_critical_while_it_takes_traffic(lab, dns):
    check_id = dns_faults.break_health_check(lab, "primary")
    result = record_info(lab, hosted_zone_id=dns["hosted_zone_id"])
    assert result["failed"] is False and result["status"] == "down"
    (failing,) = result["findings"]
    assert failing["id"] == "route53.health_check_failing" and failing["severity"] == "critical"
    assert failing["evidence"] == {"record": "api.pynomaly.internal.", "set_identifier": "primary", "weight": 100,
                                   "health_check_id": check_id, "source": "cloudwatch_alarm"}
    primary, secondary = result["records"]
    assert primary["health"] == "unhealthy" and secondary["health"] == "healthy"
    assert any("lab-route53-primary-health is ALARM" in r for r in primary["health_reasons"])
    dns_faults.heal_region_primary_down(lab)
    assert record_info(lab, hosted_zone_id=dns["hosted_zone_id"])["status"] == "ok"


def test_every_weighted_record_failing(lab, dns):
    dns_faults.break_region_primary_down(lab)
    dns_faults.break_health_check(lab, "secondary")
    result = record_info(lab, zone_name="pynomaly.internal.")
    assert result["status"] == "down"
    assert ids(result) == ["route53.health_check_failing", "route53.health_check_failing",
                           "route53.no_healthy_weighted_record"]
    severities = {f["evidence"].get("set_identifier"): f["severity"] for f in result["findings"]
                  if f["id"] == "route53.health_check_failing"}
    assert severities == {"primary": "critical", "secondary": "warning"}  # the secondary takes no traffic


def test_missing_record_and_zone_are_findings(lab, dns):
    missing = record_info(lab, zone_name="pynomaly.internal", record_name="nope.pynomaly.internal")
    assert missing["failed"] is False and missing["status"] == "down" and ids(missing) == ["route53.record_not_found"]
    assert missing["findings"][0]["evidence"]["record"] == "nope.pynomaly.internal." and missing["records"] == []
    aaaa = record_info(lab, zone_name="pynomaly.internal", record_type="AAAA")
    assert ids(aaaa) == ["route53.record_not_found"]
    zone = record_info(lab, zone_name="nowhere.internal")
    assert zone["failed"] is False and zone["status"] == "down" and ids(zone) == ["route53.zone_not_found"]


def test_unreachable_endpoint_is_a_finding_not_a_failure(lab):
    args = {**aws_connection(lab), "endpoint_url": "http://127.0.0.1:1", "max_attempts": 1}
    result = run_module("route53_record_info", {**args, "zone_name": "pynomaly.internal",
                                                "record_name": "api.pynomaly.internal"}, lab.root)
    assert result["failed"] is False and result["status"] == "unknown"
    assert ids(result) == ["route53.api_unreachable"]


def test_bad_arguments_name_the_option(lab, dns):
    no_zone = record_info(lab)
    assert no_zone["failed"] is True and "hosted_zone_id" in no_zone["msg"] and "zone_name" in no_zone["msg"]
    outside = record_info(lab, zone_name="pynomaly.internal", record_name="api.example.com")
    assert outside["failed"] is True and "record_name" in outside["msg"] and "Traceback" not in outside["_stdout"]
    route53 = aws.client(dns, "route53")
    assert route53.get_hosted_zone(Id=dns["hosted_zone_id"])["HostedZone"]["ResourceRecordSetCount"] == 4
