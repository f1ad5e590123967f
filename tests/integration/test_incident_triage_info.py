"""incident_triage_info: the four checks at once, in one module process, against the lab."""


import pytest
from conftest import run_module

from lab import redis_pair


@pytest.fixture
def checks(lab):
    """Arguments of all four checks, pointed at the healthy lab."""
    aws, postgres, redis = lab.service("aws"), lab.service("postgres"), lab.service("redis")
    return {
        "http": {"module": "http_health_info",
                 "args": {"endpoints": [{"name": "api", "url": lab.service("app")["health_url"]}]}},
        "redis": {"module": "redis_info", "args": {"nodes": redis["nodes"], "password": redis_pair.PASSWORD}},
        "postgres": {"module": "postgres_info",
                     "args": {"login_host": postgres["host"], "login_port": postgres["port"],
                              "login_user": postgres["admin_user"], "login_db": postgres["database"]}},
        "rds": {"module": "rds_info",
                "args": {"cluster_ids": [aws["rds_cluster_id"]], "region": aws["region"],
                         "endpoint_url": aws["endpoint_url"], "access_key": aws["access_key"],
                         "secret_key": aws["secret_key"]}},
    }


def test_healthy_lab_reports_ok_for_every_check(lab, checks):
    result = run_module("incident_triage_info", {"checks": checks}, lab.root)
    assert result["status"] == "ok" and result["changed"] is False
    assert {name: check["status"] for name, check in result["checks"].items()} == dict.fromkeys(checks, "ok")
    assert result["findings"] == []
    assert set(result["durations"]) == set(checks)
    assert result["checks"]["redis"]["primary"] is not None


def test_hanging_check_is_unknown_and_the_others_still_report(lab, checks, hanging_port):
    checks["http"]["args"] = {"endpoints": [{"name": "hung", "url": f"http://127.0.0.1:{hanging_port}/health"}],
                              "timeout": 30}
    result = run_module("incident_triage_info", {"checks": checks, "timeout": 2}, lab.root)
    assert result["checks"]["http"]["status"] == "unknown"
    assert [f["id"] for f in result["findings"]] == ["triage.check_failed"]
    assert result["findings"][0]["evidence"] == {"check": "http"}
    assert "no answer within 2 seconds" in result["findings"][0]["summary"]
    assert {result["checks"][name]["status"] for name in ("redis", "postgres", "rds")} == {"ok"}
    assert result["status"] == "unknown"


def test_bad_argument_fails_naming_the_check_and_option(lab, checks):
    checks["redis"]["args"]["nodes"] = [{"host": "127.0.0.1", "port": "six"}]
    result = run_module("incident_triage_info", {"checks": checks}, lab.root)
    assert result["failed"] is True
    assert "redis" in result["msg"] and "port" in result["msg"]
    assert "checks" not in result and "durations" not in result


@pytest.mark.parametrize("name, check, option", [
    ("logs", {"module": "k8s_pod_logs_info", "args": {"deployment": "backend", "tail_lines": 0}}, "tail_lines"),
    ("http", {"module": "http_health_info", "args": {"endpoints": [{"url": "ftp://example"}]}}, "endpoints[0].url"),
    ("rds", {"module": "rds_info", "args": {}}, "cluster_ids"),
])
def test_input_only_a_check_can_judge_fails_the_task_before_any_check_runs(lab, checks, name, check, option):
    """Bounds, URLs and cross-option rules are checked with the arguments, not as a failed check later."""
    checks[name] = check
    result = run_module("incident_triage_info", {"checks": checks}, lab.root)
    assert result["failed"] is True
    assert result["msg"].startswith(f"check {name} ({check['module']}): ") and option in result["msg"]
    assert "checks" not in result and "durations" not in result


def test_passwords_never_reach_output(lab, checks):
    checks["postgres"]["args"]["login_password"] = "pg-oncall-secret-42"
    result = run_module("incident_triage_info", {"checks": checks}, lab.root)
    assert result["checks"]["redis"]["status"] == "ok"
    assert redis_pair.PASSWORD not in result["_stdout"]
    assert "pg-oncall-secret-42" not in result["_stdout"]
