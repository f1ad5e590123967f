"""prometheus_query_info against the lab's real Prometheus: healthy, the app answering 5xx, Qdrant down,
Prometheus unreachable, bad input."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from test_lab_monitoring import instant, poll, traffic

from lab import faults
from lab.core import free_port

ERROR_RATE = 'sum(rate(pynomaly_http_requests_total{code=~"5.."}[15s])) / sum(rate(pynomaly_http_requests_total[15s]))'


def check(ansible_module, monitoring, **args):
    result = ansible_module("prometheus_query_info", dict({"url": monitoring["prometheus_url"], "timeout": 5}, **args))
    assert result["failed"] is False and result["changed"] is False, result.get("msg")
    return result


def by_id(result):
    return {f["id"]: f for f in result["findings"]}


def by_name(result):
    return {q["name"]: q for q in result["queries"]}


def test_healthy_lab_verifies_metrics_are_collected(ansible_module, monitoring):
    poll(lambda: instant(monitoring, "up"), lambda series: len(series) == 7 and all(v == 1 for _, v in series),
         "every target to be up")
    result = check(ansible_module, monitoring, checks=["targets_up", "qdrant_up", "dependencies_up"],
                   bearer_token="prom-lab-token-not-needed")
    assert (result["status"], result["findings"]) == ("ok", [])
    queries = by_name(result)
    assert queries["targets_up"] == {"name": "targets_up", "expr": "up", "value": 1.0, "threshold": 1.0, "op": "<",
                                     "passed": True, "series": 7}
    assert queries["qdrant_up"]["passed"] and queries["dependencies_up"]["series"] == 3
    assert {t["job"] for t in result["targets"]} == {"app", "qdrant", "redis", "postgres", "prometheus", "alertmanager"}
    assert all(t["health"] == "up" and t["lastError"] == "" for t in result["targets"])
    assert "prom-lab-token-not-needed" not in result["_stdout"]


def test_5xx_fault_crosses_the_error_rate_and_healing_brings_it_back(lab, ansible_module, monitoring, fault):
    fault("app-5xx")
    poll(lambda: instant(monitoring, ERROR_RATE), lambda s: s and s[0][1] > 0.5, "the 5xx rate in Prometheus", lab)
    traffic(lab, 5)
    result = check(ansible_module, monitoring, checks=["error_rate_5xx", "targets_up"], rate_window="15s")
    assert result["status"] == "down" and set(by_id(result)) == {"prometheus.error_rate_5xx"}
    crossed = by_id(result)["prometheus.error_rate_5xx"]
    assert crossed["severity"] == "critical" and crossed["evidence"]["value"] > 0.5
    assert crossed["summary"].startswith("Requests answered 5xx: ") and "> 0.05" in crossed["summary"]
    assert by_name(result)["error_rate_5xx"]["passed"] is False
    assert by_name(result)["error_rate_5xx"]["finding"] == "prometheus.error_rate_5xx"
    assert by_name(result)["targets_up"]["passed"] is True  # the app still answers its scrape

    faults.heal(lab, "app-5xx")
    poll(lambda: instant(monitoring, ERROR_RATE), lambda s: s and s[0][1] == 0, "the 5xx rate to fall to 0", lab)
    traffic(lab, 5)
    healed = check(ansible_module, monitoring, checks=["error_rate_5xx"], rate_window="15s",
                   check_thresholds={"error_rate_5xx": 0.01})
    assert (healed["status"], healed["findings"]) == ("ok", [])
    assert healed["queries"][0]["value"] == 0 and healed["queries"][0]["threshold"] == 0.01


def test_slow_fault_crosses_the_p95_latency(lab, ansible_module, monitoring, fault):
    fault("app-slow")
    with ThreadPoolExecutor(4) as pool:  # 4 requests of 3 s each, at once
        list(pool.map(lambda _: traffic(lab, 1), range(4)))
    p95 = "histogram_quantile(0.95, sum by (le) (rate(pynomaly_http_request_duration_seconds_bucket[30s])))"
    poll(lambda: instant(monitoring, p95), lambda s: s and s[0][1] > 1, "the p95 latency in Prometheus")
    result = check(ansible_module, monitoring, checks=["latency_p95"], rate_window="30s")
    assert result["status"] == "degraded" and set(by_id(result)) == {"prometheus.latency_p95"}
    found = by_id(result)["prometheus.latency_p95"]
    assert found["severity"] == "warning" and 2.5 <= found["evidence"]["value"] <= 10
    assert found["summary"].startswith("p95 latency in seconds: ")


def test_qdrant_down_is_up_zero_and_a_range_query_remembers_it(lab, ansible_module, monitoring, fault):
    fault("qdrant-down")
    poll(lambda: instant(monitoring, 'up{job="qdrant"}'), lambda s: s and s[0][1] == 0, 'up{job="qdrant"} == 0')
    result = check(ansible_module, monitoring, checks=["qdrant_up", "targets_up"])
    assert result["status"] == "down"
    assert set(by_id(result)) == {"prometheus.qdrant_up", "prometheus.targets_up"}
    assert by_id(result)["prometheus.qdrant_up"]["summary"] == "Qdrant is down: 0 < 1"
    assert "1 of 7 series: up instance=" in by_id(result)["prometheus.targets_up"]["summary"]
    assert "job=qdrant" in by_id(result)["prometheus.targets_up"]["summary"]
    [qdrant_target] = [t for t in result["targets"] if t["job"] == "qdrant"]
    assert qdrant_target["health"] == "down" and qdrant_target["lastError"]

    faults.heal(lab, "qdrant-down")
    poll(lambda: instant(monitoring, 'up{job="qdrant"}'), lambda s: s and s[0][1] == 1, "Qdrant scraped again")
    healed = check(ansible_module, monitoring, checks=["qdrant_up"], queries=[
        {"name": "qdrant_down_lately", "expr": 'up{job="qdrant"}', "op": "<", "threshold": 1, "severity": "info",
         "summary": "Qdrant was down in the last minute", "range": {"minutes": 1, "step": "1s"}}])
    assert healed["status"] == "ok"  # an info finding does not degrade
    assert by_name(healed)["qdrant_up"]["passed"] is True
    lately = by_name(healed)["qdrant_down_lately"]
    assert lately["passed"] is False and lately["value"] == 0
    assert [v for _, v in lately["values"]][-1] == 1 and 0 in [v for _, v in lately["values"]]
    assert by_id(healed)["prometheus.qdrant_down_lately"]["severity"] == "info"


def test_query_without_series_says_metrics_are_not_collected(ansible_module, monitoring):
    result = check(ansible_module, monitoring, queries=[
        {"name": "celery_up", "expr": 'up{job="celery"}', "op": "<", "threshold": 1},
        {"name": "scrapes", "expr": "count(up)"}])
    assert result["status"] == "unknown" and set(by_id(result)) == {"prometheus.no_data"}
    assert "not being collected" in by_id(result)["prometheus.no_data"]["summary"]
    assert by_name(result)["celery_up"]["passed"] is False and by_name(result)["celery_up"]["value"] is None
    assert by_name(result)["scrapes"] == {"name": "scrapes", "expr": "count(up)", "value": 7.0, "threshold": None,
                                          "op": None, "passed": True, "series": 1}


def test_unreachable_prometheus_is_unknown_not_a_failure(ansible_module, hanging_port):
    for url, why in ((f"http://127.0.0.1:{free_port()}", "connection refused"),
                     (f"http://127.0.0.1:{hanging_port}", "timed out")):
        result = ansible_module("prometheus_query_info", {"url": url, "timeout": 1, "checks": ["targets_up"]})
        assert result["failed"] is False and result["status"] == "unknown"
        [found] = result["findings"]
        assert found["id"] == "prometheus.unreachable" and why in found["summary"]
        assert result["queries"][0]["passed"] is False and why in result["queries"][0]["error"]
        assert "Traceback" not in result["_stdout"]


@pytest.mark.parametrize("args, says", [
    ({"queries": [{"name": "x", "expr": "up", "op": "=>", "threshold": 1}]}, "op"),
    ({"queries": [{"name": "x", "expr": "  "}]}, "queries[0].expr is empty"),
    ({"queries": [{"name": "x", "expr": "up", "op": ">"}]}, "queries[0] (x) needs both op and threshold"),
    ({"queries": [{"name": "x", "expr": "sum(up"}]}, "Prometheus refused queries[0] (x): "),
    ({"checks": ["error_rate_5xx"], "check_thresholds": {"latency_p95": 1}}, "check_thresholds names checks not in"),
    ({"checks": ["error_rate_5xx"], "rate_window": "five minutes"}, "rate_window must be a Prometheus duration"),
    ({}, "nothing to query"),
])
def test_bad_input_fails_naming_the_option(ansible_module, monitoring, args, says):
    result = ansible_module("prometheus_query_info", dict({"url": monitoring["prometheus_url"]}, **args))
    assert result["failed"] is True and says in result["msg"], result["msg"]
    assert "Traceback" not in result["_stdout"]
