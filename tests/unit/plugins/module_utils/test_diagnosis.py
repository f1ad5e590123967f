import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.diagnosis import decide, diagnose, summarize

RULES = [
    {"id": "redis-failure", "title": "Redis primary down", "match_all": ["redis.primary_unreachable"],
     "explains": ["http.endpoint_error"],
     "steps": [{"id": "redis.promote_replica", "risk": "high", "auto": True}]},
    {"id": "app-errors", "title": "App errors", "match_any": ["http.endpoint_error"],
     "steps": [{"id": "app.inspect", "automated": False}]},
    {"id": "db", "title": "Database", "match_any": ["postgres.unreachable"],
     "steps": [{"id": "rds.failover", "risk": "high"}, {"id": "app.restart", "risk": "low"}]},
]


def f(fid):
    return {"id": fid, "severity": "critical", "summary": fid, "evidence": {}}


def test_a_scenario_consumes_the_findings_it_explains():
    scenarios, unexplained = diagnose([f("redis.primary_unreachable"), f("http.endpoint_error")], RULES)
    assert [s["id"] for s in scenarios] == ["redis-failure"]
    assert unexplained == []


def test_later_rule_fires_on_its_own_findings():
    scenarios = diagnose([f("http.endpoint_error")], RULES)[0]
    assert [s["id"] for s in scenarios] == ["app-errors"]
    assert scenarios[0]["matched"][0]["id"] == "http.endpoint_error"


def test_unmatched_findings_are_reported():
    scenarios, unexplained = diagnose([f("something.new")], RULES)
    assert scenarios == [] and [u["id"] for u in unexplained] == ["something.new"]
    assert "not explained" in summarize(scenarios, unexplained)


def test_no_findings_means_healthy():
    assert summarize(*diagnose([], RULES)) == "No problem found: every check is healthy."


@pytest.mark.parametrize("step, mode, check, approved, decision", [
    ({"id": "a", "risk": "low"}, "auto", False, (), "run"),
    ({"id": "a", "risk": "high"}, "auto", False, (), "needs_approval"),
    ({"id": "a", "risk": "high", "auto": True}, "auto", False, (), "run"),
    ({"id": "a", "risk": "high", "auto": True}, "auto", True, (), "plan"),
    ({"id": "a", "risk": "low"}, "plan", False, (), "plan"),
    ({"id": "a", "risk": "low"}, "approve", False, (), "needs_approval"),
    ({"id": "a", "risk": "high"}, "approve", False, {"a"}, "run"),
    ({"id": "a", "automated": False}, "auto", False, {"a"}, "manual"),
])
def test_step_decisions(step, mode, check, approved, decision):
    assert decide(step, mode, check, set(approved)) == decision


def test_high_risk_without_auto_waits_in_auto_mode():
    scenarios = diagnose([f("postgres.unreachable")], RULES, mode="auto")[0]
    assert {s["id"]: s["decision"] for s in scenarios[0]["steps"]} == {"rds.failover": "needs_approval",
                                                                       "app.restart": "run"}


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="remediation_mode"):
        diagnose([], RULES, mode="yolo")


def pods(workload):
    return {"id": "k8s.pods_crashlooping", "severity": "critical", "summary": workload,
            "evidence": {"workload": workload, "kind": "StatefulSet"}}


EVIDENCE_RULES = [
    {"id": "qdrant-down", "title": "Qdrant down", "match_all": ["qdrant.unreachable"],
     "explains": [{"id": "k8s.pods_crashlooping", "evidence": {"workload": "qdrant"}}]},
    {"id": "redis-pods", "title": "Redis pods", "match_all": [{"id": "k8s.pods_crashlooping",
                                                               "evidence": {"workload": "redis"}}]},
    {"id": "pods", "title": "Some pods", "match_any": ["k8s.pods_crashlooping"]},
]


def test_evidence_matcher_selects_only_the_findings_about_that_workload():
    scenarios, unexplained = diagnose([pods("redis"), pods("backend")], EVIDENCE_RULES)
    assert [s["id"] for s in scenarios] == ["redis-pods", "pods"]
    assert [m["evidence"]["workload"] for m in scenarios[0]["matched"]] == ["redis"]
    assert [m["evidence"]["workload"] for m in scenarios[1]["matched"]] == ["backend"]
    assert unexplained == []


def test_explains_with_evidence_consumes_only_those_findings():
    scenarios = diagnose([f("qdrant.unreachable"), pods("qdrant"), pods("backend")], EVIDENCE_RULES)[0]
    assert [s["id"] for s in scenarios] == ["qdrant-down", "pods"]
    assert [m["evidence"]["workload"] for m in scenarios[1]["matched"]] == ["backend"]


def test_evidence_matcher_without_a_matching_finding_does_not_fire():
    scenarios, unexplained = diagnose([pods("frontend")], EVIDENCE_RULES[:2])
    assert scenarios == [] and len(unexplained) == 1
