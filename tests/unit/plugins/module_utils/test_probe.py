"""The pure parts of the http_probe check: figures, thresholds, journey judging, validation."""

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils import probe
from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError

TARGET = {"name": "api", "url": "http://ops:pw@127.0.0.1:8000/health?token=abc", "method": "GET",
          "expect_status": [200]}
THRESHOLDS = {"max_error_rate": 0.1, "max_p95_ms": 100.0, "max_ms": None}


def answer(code, ms, body=""):
    return {"status_code": code, "latency_ms": ms, "error": None, "body": body, "headers": {}}


def no_answer(error="timed out", ms=1000.0):
    return {"status_code": None, "latency_ms": ms, "error": error, "body": "", "headers": {}}


def params(**options):
    base = {"url": None, "urls": None, "requests": 10, "concurrency": 5, "timeout": 5.0, "validate_certs": True,
            "thresholds": {"max_error_rate": 0.0, "max_p95_ms": None, "max_ms": None}, "journeys": None}
    base.update(options)
    return base


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 21)]
    assert probe.percentile(values, 50) == 10.0 and probe.percentile(values, 95) == 19.0
    assert probe.percentile(values, 100) == 20.0 and probe.percentile([], 95) is None


def test_figures_count_errors_and_latency_of_answers_only():
    results = [answer(200, float(ms)) for ms in range(10, 90, 10)] + [answer(500, 5.0), no_answer()]
    record = probe.figures(TARGET, results, THRESHOLDS)
    assert (record["requests"], record["errors"], record["answered"]) == (10, 2, 9)
    assert record["error_rate"] == 0.2 and record["status_codes"] == {"200": 8, "500": 1}
    assert record["error_kinds"] == {"timed out": 1}
    assert (record["p50_ms"], record["p95_ms"], record["max_ms"]) == (40.0, 80.0, 80.0)
    assert record["failed_checks"] == ["error_rate"] and record["passed"] is False
    assert record["url"] == "http://***@127.0.0.1:8000/health?token=***"


def test_a_body_that_does_not_match_is_an_error():
    target = dict(TARGET, body_match='"status": "ok"')
    results = [answer(200, 5.0, '{"status": "ok"}'), answer(200, 5.0, '{"status": "degraded"}'),
               answer(503, 5.0, "down")]
    record = probe.figures(target, results, THRESHOLDS)
    assert (record["errors"], record["answered"]) == (2, 3)
    assert record["status_codes"] == {"200": 2, "503": 1} and record["error_kinds"] == {"body does not match": 1}


def test_latency_thresholds_fail_on_their_own():
    record = probe.figures(TARGET, [answer(200, 50.0)] * 9 + [answer(200, 400.0)],
                           dict(THRESHOLDS, max_p95_ms=300.0, max_ms=350.0))
    assert record["failed_checks"] == ["p95_ms", "max_ms"]
    found = probe.probe_findings(record)
    assert [f["id"] for f in found] == ["probe.latency"]
    assert found[0]["summary"] == "api is slow: p95 400 ms (max 300 ms), max 400 ms (max 350 ms)"


def test_nothing_answered_is_only_the_error_rate_finding():
    record = probe.figures(TARGET, [no_answer()] * 3, THRESHOLDS)
    assert record["p95_ms"] is None and record["failed_checks"] == ["error_rate", "p95_ms"]
    assert [f["id"] for f in probe.probe_findings(record)] == ["probe.error_rate"]


@pytest.mark.parametrize("path, found", [
    ("status", (True, "ok")),
    ("checks.postgres", (True, "ok")),
    ("detections.1.score", (True, 0.5)),
    ("detections.-1.dataset", (True, "b")),
    ("detections.2", (False, None)),
    ("checks.redis", (False, None)),
    ("status.x", (False, None)),
])
def test_json_path(path, found):
    document = {"status": "ok", "checks": {"postgres": "ok"},
                "detections": [{"dataset": "a", "score": 0.1}, {"dataset": "b", "score": 0.5}]}
    assert probe.json_path(document, path) == found


@pytest.mark.parametrize("step, result, reason", [
    ({}, answer(200, 1, '{"status": "ok"}'), None),
    ({}, no_answer("connection refused"), "no answer: connection refused"),
    ({"expect_status": [200, 204]}, answer(503, 1), "answered 503 (expected 200/204)"),
    ({"expect_body": "healthy"}, answer(200, 1, "ok"), "the body does not contain 'healthy'"),
    ({"expect_body_regex": r"^\{"}, answer(200, 1, "<html>"), "the body does not match '^\\\\{'"),
    ({"expect_json": {"status": "ok"}}, answer(200, 1, "<html>"), "the body is not JSON"),
    ({"expect_json": {"a.b": 1}}, answer(200, 1, '{"a": {}}'), "the JSON has no a.b"),
    ({"expect_json": {"a": 1}}, answer(200, 1, '{"a": "1"}'), 'a is "1" (expected 1)'),
])
def test_judge_step(step, result, reason):
    assert probe.judge_step(dict({"expect_status": [200]}, **step), result) == reason


def test_status_ok_degraded_down():
    good, bad = {"passed": True, "errors": 0, "requests": 10}, {"passed": False, "errors": 10, "requests": 10}
    some = {"passed": False, "errors": 3, "requests": 10}
    assert probe.overall_status([good], [{"passed": True}]) == "ok"
    assert probe.overall_status([bad], [{"passed": False}]) == "down"
    assert probe.overall_status([bad, good], []) == "degraded"
    assert probe.overall_status([some], []) == "degraded"
    assert probe.overall_status([], [{"passed": True}, {"passed": False}]) == "degraded"


def test_steps_join_paths_to_the_base_url():
    journeys = [{"name": "j", "base_url": "http://app:8000/api/", "headers": None, "steps": [
        {"path": "/health", "url": None, "base_url": None, "expect_body_regex": None},
        {"path": "detections", "url": None, "base_url": "http://other:9000", "expect_body_regex": None},
        {"path": None, "url": "https://x.example/y", "base_url": None, "expect_body_regex": None}]}]
    plans = probe.validate(params(journeys=journeys))[1]
    assert [s["url"] for s in plans[0]["steps"]] == [
        "http://app:8000/api/health", "http://other:9000/detections", "https://x.example/y"]


@pytest.mark.parametrize("options, words", [
    ({"url": "ftp://x/"}, "url must be an http:// or https:// URL"),
    ({"urls": [{"url": "http://a/", "name": None}, {"url": "a.example", "name": "b"}]}, "urls[1].url"),
    ({"url": "http://a/", "requests": 1001}, "requests must be between 1 and 1000, not 1001"),
    ({"urls": [{"url": "http://a/", "name": "a", "body_match": "("}]},
     "urls[0].body_match is not a valid regular expression"),
    ({"urls": [{"url": "http://a/", "name": "a", "timeout": 0.0}]}, "urls[0].timeout must be between"),
    ({"url": "http://a/", "concurrency": 0}, "concurrency must be between 1 and 100"),
    ({"url": "http://a/", "thresholds": {"max_error_rate": -0.1, "max_p95_ms": None, "max_ms": None}},
     "thresholds.max_error_rate must be between 0 and 1"),
    ({"journeys": [{"name": "j", "base_url": None, "steps": [{"path": "/x", "url": None, "base_url": None}]}]},
     "journeys[0].steps[0].path needs a base_url"),
    ({"journeys": [{"name": "j", "base_url": "app:80", "steps": [{"path": "/x", "url": None, "base_url": None}]}]},
     "journeys[0].base_url must be an http"),
    ({"journeys": [{"name": "j", "base_url": "http://a", "steps": []}]}, "journeys[0].steps is empty"),
    ({"journeys": [{"name": "j", "base_url": "http://a", "steps": [{"path": "/", "url": None, "base_url": None}]},
                   {"name": "j", "base_url": "http://a", "steps": [{"path": "/", "url": None, "base_url": None}]}]},
     "journeys[1].name 'j' is used twice"),
])
def test_bad_input_names_the_option(options, words):
    with pytest.raises(RunbookError) as error:
        probe.validate(params(**options))
    assert words in error.value.msg
