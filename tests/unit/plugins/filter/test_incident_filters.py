from ansible_collections.sre.runbooks.plugins.filter.incident import all_findings, checks_by_name, step, triage_lines


def test_a_check_that_did_not_finish_is_unknown_not_lost():
    results = [
        {"item": {"check": "http"}, "finished": 1, "status": "ok", "findings": []},
        {"item": {"check": "redis"}, "finished": 0},
        {"item": {"check": "k8s"}, "skipped": True},
    ]
    checks = checks_by_name(results)
    assert set(checks) == {"http", "redis"}
    assert checks["redis"]["status"] == "unknown"
    assert [f["id"] for f in all_findings(checks)] == ["triage.check_failed"]
    assert triage_lines(checks)[0] == "http: OK"


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
