"""http_probe against the lab's demo application (healthy, app-5xx, app-slow) and real sockets that never answer.

The demo app counts the requests it served by path and code on /metrics; the tests read that count before and
after a probe to show the requests really reached it.
"""

from __future__ import annotations

import re
import urllib.request

import pytest


def served(lab, path: str, code: int) -> int:
    """How many requests for path the demo app answered with code (its /metrics counter)."""
    with urllib.request.urlopen(lab.service("app")["url"] + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    found = re.search(rf'pynomaly_http_requests_total{{path="{re.escape(path)}",code="{code}"}} (\d+)', text)
    return int(found.group(1)) if found else 0


def journey(lab, name: str, *steps: dict) -> dict:
    return {"name": name, "base_url": lab.service("app")["url"], "steps": list(steps)}


def test_healthy_app_ten_requests_no_errors(lab, ansible_module):
    before = served(lab, "/health", 200)
    result = ansible_module("http_probe", {"url": lab.service("app")["health_url"],
                                           "thresholds": {"max_p95_ms": 10000}})
    assert served(lab, "/health", 200) - before >= 10
    assert result["failed"] is False and result["changed"] is False
    assert result["status"] == "ok" and result["passed"] is True and result["findings"] == []
    probe = result["probe"]
    assert result["probes"] == [probe]
    assert (probe["requests"], probe["errors"], probe["error_rate"], probe["answered"]) == (10, 0, 0.0, 10)
    assert probe["status_codes"] == {"200": 10} and probe["error_kinds"] == {}
    assert 0 < probe["p50_ms"] <= probe["p95_ms"] <= probe["max_ms"]
    assert probe["thresholds"] == {"max_error_rate": 0.0, "max_p95_ms": 10000.0, "max_ms": None}
    assert probe["passed"] is True and probe["failed_checks"] == []


def test_every_request_reaches_the_app(lab, ansible_module):
    before = served(lab, "/probe-count", 404)
    result = ansible_module("http_probe", {"urls": [{"name": "count", "url": lab.service("app")["url"] + "/probe-count",
                                                     "expect_status": [404]}], "requests": 7, "concurrency": 3})
    assert served(lab, "/probe-count", 404) - before == 7
    assert result["probes"][0]["requests"] == 7 and result["probes"][0]["errors"] == 0
    assert "probe" in result and result["status"] == "ok"


def test_a_health_endpoints_slow_ms_is_its_p95_ceiling(lab, ansible_module):
    """The app-slow-free lab answers in milliseconds: 1 ms is too tight for its p95, 60 s is not."""
    result = ansible_module("http_probe", {"urls": [
        {"name": "tight", "url": lab.service("app")["health_url"], "slow_ms": 1},
        {"name": "loose", "url": lab.service("app")["health_url"], "slow_ms": 60000}], "requests": 3})
    by_name = {p["name"]: p for p in result["probes"]}
    assert by_name["tight"]["thresholds"]["max_p95_ms"] == 1.0 and by_name["tight"]["failed_checks"] == ["p95_ms"]
    assert by_name["loose"]["passed"] is True
    assert [f["evidence"]["name"] for f in result["findings"]] == ["tight"]


def test_health_endpoints_items_work_as_urls(lab, ansible_module, hanging_port):
    """The inventory's health_endpoints (http_health_info's items) drive the probe too: body_match, timeout."""
    result = ansible_module("http_probe", {"urls": [
        {"name": "api", "url": lab.service("app")["health_url"], "expect_status": [200],
         "body_match": '"status": "ok"'},
        {"name": "maintenance", "url": lab.service("app")["health_url"], "body_match": '"status": "maintenance"'},
        {"name": "hung", "url": f"http://127.0.0.1:{hanging_port}/health", "timeout": 0.5},
    ], "requests": 2, "timeout": 30})
    by_name = {p["name"]: p for p in result["probes"]}
    assert by_name["api"]["passed"] is True
    assert by_name["maintenance"]["error_kinds"] == {"body does not match": 2}
    assert by_name["maintenance"]["status_codes"] == {"200": 2} and by_name["maintenance"]["errors"] == 2
    assert by_name["hung"]["error_kinds"] == {"timed out": 1, "not sent (the first request timed out)": 1}


def test_app_5xx_is_the_error_rate_finding(lab, ansible_module, fault):
    fault("app-5xx")
    before = served(lab, "/health", 500)
    result = ansible_module("http_probe", {"urls": [{"name": "api", "url": lab.service("app")["health_url"]}]})
    assert served(lab, "/health", 500) - before == 10
    assert result["failed"] is False
    assert result["status"] == "down" and result["passed"] is False
    probe = result["probe"]
    assert (probe["errors"], probe["error_rate"], probe["status_codes"]) == (10, 1.0, {"500": 10})
    [found] = result["findings"]
    assert found["id"] == "probe.error_rate" and found["severity"] == "critical"
    assert found["evidence"]["status_codes"] == {"500": 10} and found["evidence"]["name"] == "api"
    assert "10 of 10 requests failed" in found["summary"]


def test_app_slow_is_the_latency_finding(lab, ansible_module, fault):
    fault("app-slow")
    result = ansible_module("http_probe", {"url": lab.service("app")["health_url"], "requests": 3, "concurrency": 3,
                                           "timeout": 20, "thresholds": {"max_p95_ms": 1000}})
    assert result["failed"] is False
    assert result["status"] == "degraded"
    probe = result["probe"]
    assert probe["errors"] == 0 and probe["status_codes"] == {"200": 3}
    assert probe["p95_ms"] > 1000 and probe["failed_checks"] == ["p95_ms"]
    assert [f["id"] for f in result["findings"]] == ["probe.latency"]
    assert result["findings"][0]["evidence"]["p95_ms"] == probe["p95_ms"]


def test_hanging_and_refused_urls_are_errors_a_hanging_one_asked_once(lab, ansible_module, hanging_server):
    before = served(lab, "/health", 200)
    result = ansible_module("http_probe", {"urls": [
        {"name": "hung", "url": f"http://127.0.0.1:{hanging_server.port}/health"},
        {"name": "refused", "url": "http://127.0.0.1:1/health"},
        {"name": "api", "url": lab.service("app")["health_url"]},
    ], "requests": 4, "concurrency": 12, "timeout": 1})
    assert result["failed"] is False
    by_name = {p["name"]: p for p in result["probes"]}
    assert "probe" not in result
    # one timeout, not four: the hung server saw a single connection, the others were never sent
    assert hanging_server.connections == 1
    assert by_name["hung"]["error_kinds"] == {"timed out": 1, "not sent (the first request timed out)": 3}
    assert by_name["hung"]["requests"] == 4 and by_name["hung"]["answered"] == 0
    assert served(lab, "/health", 200) - before >= 4, "an answering URL gets all its requests"
    assert by_name["hung"]["error_rate"] == 1.0 and by_name["hung"]["p95_ms"] is None
    assert by_name["refused"]["error_kinds"] == {"connection refused": 4}
    assert by_name["api"]["passed"] is True
    assert result["status"] == "degraded"
    assert sorted(f["evidence"]["name"] for f in result["findings"]) == ["hung", "refused"]


def test_journeys_pass_and_fail_naming_the_failing_step(lab, ansible_module):
    passing = journey(lab, "detections",
                      {"name": "health", "path": "/health", "expect_json": {"status": "ok", "checks.postgres": "ok"}},
                      {"name": "list", "path": "/api/detections", "expect_body": '"detections"',
                       "expect_body_regex": r'"dataset": "\w+"'})
    failing = journey(lab, "smoke",
                      {"name": "health", "path": "/health"},
                      {"name": "first dataset", "path": "/api/detections",
                       "expect_json": {"detections.0.dataset": "no-such-dataset"}},
                      {"name": "never run", "path": "/health"})
    result = ansible_module("http_probe", {"journeys": [passing, failing]})
    assert result["failed"] is False and result["status"] == "degraded" and result["passed"] is False
    ok, bad = result["journeys"]
    assert ok["passed"] is True and [s["status"] for s in ok["steps"]] == [200, 200] and ok["failed_step"] is None
    assert bad["passed"] is False and [s["name"] for s in bad["steps"]] == ["health", "first dataset"]
    assert bad["steps_total"] == 3
    step = bad["failed_step"]
    assert (step["name"], step["index"], step["path"], step["status"]) == ("first dataset", 1, "/api/detections", 200)
    assert "detections.0.dataset is" in step["error"] and "no-such-dataset" in step["error"]
    [found] = result["findings"]
    assert found["id"] == "journey.failed" and found["evidence"]["journey"] == "smoke"
    assert found["evidence"]["step"]["name"] == "first dataset" and "detections" in found["evidence"]["step"]["body"]
    assert "smoke failed at first dataset" in found["summary"]
    assert result["probes"] == [] and "probe" not in result


def test_journey_fails_at_its_first_step_when_the_app_answers_500(lab, ansible_module, fault):
    fault("app-5xx")
    result = ansible_module("http_probe", {"journeys": [journey(lab, "smoke", {"path": "/health"},
                                                                {"path": "/api/detections"})]})
    assert result["status"] == "down"
    [record] = result["journeys"]
    assert len(record["steps"]) == 1 and record["failed_step"]["name"] == "step 1"
    assert record["failed_step"]["error"] == "answered 500 (expected 200)"


def test_secrets_never_reach_the_output(lab, ansible_module):
    port = lab.service("app")["port"]
    result = ansible_module("http_probe", {
        "url": f"http://ops:hunter2secret@127.0.0.1:{port}/health", "requests": 2,
        "journeys": [{"name": "auth", "base_url": f"http://127.0.0.1:{port}",
                      "headers": {"Authorization": "Bearer journeytoken123"},
                      "steps": [{"url": f"http://127.0.0.1:{port}/health?token=querysecret99"},
                                {"path": "/health", "headers": {"X-Api-Key": "stepkey456"}}]}]})
    assert result["status"] == "ok"
    for secret in ("hunter2secret", "journeytoken123", "querysecret99", "stepkey456"):
        assert secret not in result["_stdout"]
    assert result["probe"]["url"].startswith("http://***@127.0.0.1")


@pytest.mark.parametrize("args, words", [
    ({"url": "ftp://example/health"}, "url must be an http"),
    ({"urls": [{"url": "127.0.0.1/health"}]}, "urls[0].url"),
    ({"url": "http://127.0.0.1/", "requests": 0}, "requests must be between 1 and 1000"),
    ({"url": "http://127.0.0.1/", "thresholds": {"max_error_rate": 2}}, "thresholds.max_error_rate"),
    ({"journeys": [{"name": "j", "steps": [{"path": "/health"}]}]}, "journeys[0].steps[0].path needs a base_url"),
    ({"journeys": [{"name": "j", "steps": [{"url": "http://x/", "expect_body_regex": "("}]}]}, "expect_body_regex"),
    ({"journeys": [{"name": "j", "steps": [{"url": "http://x/", "path": "/y"}]}]}, "mutually exclusive"),
    ({"requests": 3}, "one of the following is required: url, urls, journeys"),
])
def test_bad_arguments_name_the_option(lab, ansible_module, args, words):
    result = ansible_module("http_probe", args)
    assert result["failed"] is True
    assert words in result["msg"]
    assert "Traceback" not in result["msg"] and "exception" not in result
