"""The shipped diagnosis rules (roles/diagnose/defaults/main.yml) pick the right runbook scenario."""

from pathlib import Path

import pytest
import yaml

from ansible_collections.sre.runbooks.plugins.module_utils.diagnosis import diagnose

RULES = yaml.safe_load((Path(__file__).resolve().parents[3] / "roles/diagnose/defaults/main.yml").read_text())[
    "diagnosis_rules"]


def findings(*ids):
    return [{"id": fid, "severity": "critical", "summary": fid, "evidence": {}} for fid in ids]


@pytest.mark.parametrize("found, scenarios", [
    (["redis.primary_unreachable", "redis.node_unreachable", "redis.replica_link_down", "http.endpoint_error"],
     ["redis-failure"]),
    (["postgres.lock_pileup", "postgres.connections_near_limit", "http.endpoint_error"], ["db-lock-pileup"]),
    (["postgres.idle_in_transaction_leak", "postgres.connections_near_limit", "http.endpoint_error"],
     ["db-connections"]),
    (["postgres.unreachable", "rds.member_failing", "http.endpoint_error"], ["db-writer-failed"]),
    (["postgres.unreachable", "http.endpoint_error"], ["db-unavailable"]),
    (["rds.reader_lagging"], ["rds-degraded"]),
    (["http.endpoint_down"], ["app-down"]),
    (["http.endpoint_error"], ["app-errors"]),
    ([], []),
])
def test_each_outage_is_one_scenario(found, scenarios):
    matched, unexplained = diagnose(findings(*found), RULES, mode="auto")
    assert [s["id"] for s in matched] == scenarios
    assert unexplained == []


def test_auto_mode_runs_guarded_steps_and_waits_for_a_failover_approval():
    decisions = {}
    for ids in (["redis.primary_unreachable"], ["postgres.lock_pileup"], ["postgres.unreachable", "rds.no_writer"]):
        for scenario in diagnose(findings(*ids), RULES, mode="auto")[0]:
            decisions.update({s["id"]: s["decision"] for s in scenario["steps"]})
    assert decisions["redis.promote_replica"] == "run"
    assert decisions["postgres.end_blocking_sessions"] == "run"
    assert decisions["rds.failover"] == "needs_approval"
    assert decisions["app.restart"] == "manual"


def test_every_rule_is_well_formed():
    ids = [rule["id"] for rule in RULES]
    assert len(ids) == len(set(ids))
    for rule in RULES:
        assert rule.get("match_all") or rule.get("match_any"), rule["id"]
        assert rule.get("runbook"), rule["id"]
        for step in rule["steps"]:
            assert step.get("description"), step["id"]
