from ansible_collections.sre.runbooks.plugins.filter.incident import all_findings, step, triage_lines


def test_findings_and_lines_of_checks_by_name():
    failed = {"id": "triage.check_failed", "severity": "warning", "summary": "The redis check did not report: hung"}
    checks = {"redis": {"status": "unknown", "findings": [failed]}, "http": {"status": "ok", "findings": []}}
    assert [f["id"] for f in all_findings(checks)] == ["triage.check_failed"]
    assert triage_lines(checks) == ["http: OK", "redis: UNKNOWN: The redis check did not report: hung"]


def test_step_lookup():
    diagnosis = {"steps": [{"id": "redis.promote_replica", "decision": "run"}]}
    assert step(diagnosis, "redis.promote_replica")["decision"] == "run"
    assert step(diagnosis, "other") == {}


def test_recovery_needs_healthy_endpoints_and_nothing_down():
    from ansible_collections.sre.runbooks.plugins.filter.incident import recovery

    degraded_redis = {"status": "degraded", "findings": [{"severity": "warning", "summary": "old primary down"}]}
    assert recovery({"http": {"status": "ok", "findings": []}, "redis": degraded_redis}) == {
        "recovered": True, "problems": ["old primary down"], "statuses": {"http": "ok", "redis": "degraded"}}
    assert recovery({"http": {"status": "ok"}, "postgres": {"status": "down"}})["recovered"] is False
    assert recovery({"http": {"status": "degraded"}})["recovered"] is False
    assert recovery({"http": {"skipped": True}, "redis": {"status": "ok"}})["recovered"] is True
