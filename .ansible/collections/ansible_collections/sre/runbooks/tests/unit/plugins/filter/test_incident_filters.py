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
