"""http_health_info against the lab's demo application and real sockets."""


import pytest

from lab import faults


def test_healthy_app_reports_ok(lab, ansible_module):
    url = lab.service("app")["health_url"]
    result = ansible_module("http_health_info", {"endpoints": [{"name": "api", "url": url}]})
    assert result["status"] == "ok" and result["changed"] is False
    assert result["findings"] == []
    assert result["endpoints"][0]["healthy"] is True and result["endpoints"][0]["status_code"] == 200


def test_app_5xx_is_a_finding_not_a_failure(lab, ansible_module):
    url = lab.service("app")["health_url"]
    faults.inject(lab, "app-5xx")
    try:
        result = ansible_module("http_health_info", {"endpoints": [{"name": "api", "url": url}]})
    finally:
        faults.heal(lab, "app-5xx")
    assert result.get("failed") is not True
    assert result["status"] == "down"
    assert [f["id"] for f in result["findings"]] == ["http.endpoint_error"]
    assert result["findings"][0]["evidence"]["status_code"] == 500


def test_hanging_endpoint_costs_only_its_timeout(lab, ansible_module, hanging_port):
    url = lab.service("app")["health_url"]
    endpoints = [{"name": f"ok{i}", "url": url} for i in range(20)]
    endpoints += [{"name": "hung", "url": f"http://127.0.0.1:{hanging_port}/health", "timeout": 1},
                  {"name": "refused", "url": "http://127.0.0.1:1/health"}]
    result = ansible_module("http_health_info", {"endpoints": endpoints})
    by_name = {e["name"]: e for e in result["endpoints"]}
    assert by_name["hung"]["error"] == "timed out"
    assert by_name["refused"]["error"] == "connection refused"
    assert sum(1 for e in result["endpoints"] if e["healthy"]) == 20
    assert result["status"] == "degraded"
    assert sorted(f["evidence"]["name"] for f in result["findings"]) == ["hung", "refused"]


def test_url_credentials_never_reach_output(lab, ansible_module):
    port = lab.service("app")["port"]
    result = ansible_module("http_health_info", {"endpoints": [
        {"name": "api", "url": f"http://ops:hunter2secret@127.0.0.1:{port}/health"}]})
    assert "hunter2secret" not in result["_stdout"]
    assert result["endpoints"][0]["url"].startswith("http://***@127.0.0.1")


def test_body_match_mismatch_is_reported(lab, ansible_module):
    url = lab.service("app")["health_url"]
    result = ansible_module("http_health_info", {"endpoints": [{"name": "api", "url": url,
                                                                "body_match": '"status": "maintenance"'}]})
    assert [f["id"] for f in result["findings"]] == ["http.body_mismatch"]


@pytest.mark.parametrize("args, words", [
    ({"endpoints": [{"url": "ftp://example/health"}]}, "endpoints[0].url"),
    ({"endpoints": [{"url": "http://127.0.0.1/", "body_match": "("}]}, "endpoints[0].body_match"),
    ({"endpoints": [{"name": "x"}]}, "url"),
    ({"endpoints": [{"url": "http://127.0.0.1/"}], "timeout": "soon"}, "timeout"),
])
def test_bad_arguments_name_the_option(lab, ansible_module, args, words):
    result = ansible_module("http_health_info", args)
    assert result["failed"] is True
    assert words in result["msg"]
    assert "Traceback" not in result["msg"] and "exception" not in result
