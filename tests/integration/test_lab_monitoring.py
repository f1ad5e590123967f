"""The lab's real Prometheus and Alertmanager (lab/monitoring.py): what they scrape, the runbooks' rules,
the demo application's and the Qdrant stand-in's /metrics; and the helpers the monitoring module tests share."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.waiting import wait_for
from lab import monitoring as lab_monitoring
from lab.core import http

JOBS = {"app", "qdrant", "redis", "postgres", "prometheus", "alertmanager"}
WAIT = 60  # seconds a poll may take: scrapes and rule evaluations are every second


def api(url: str, path: str, **query) -> dict | list:
    """One GET of Prometheus's or Alertmanager's API, parsed."""
    code, body = http(f"{url}{path}" + (f"?{urllib.parse.urlencode(query, doseq=True)}" if query else ""))
    assert code == 200, f"{path}: {code} {body[:300]}"
    return json.loads(body)


def instant(monitoring: dict, expr: str) -> list[tuple[dict, float]]:
    """What Prometheus holds now: [(labels, value)]."""
    result = api(monitoring["prometheus_url"], "/api/v1/query", query=expr)["data"]["result"]
    return [(s["metric"], float(s["value"][1])) for s in result]


def firing(monitoring: dict) -> set[str]:
    """Names of the alerts Alertmanager has firing (not silenced or inhibited)."""
    alerts = api(monitoring["alertmanager_url"], "/api/v2/alerts", silenced="false", inhibited="false")
    return {a["labels"]["alertname"] for a in alerts}


def traffic(lab, requests: int = 5, path: str = "/api/detections") -> None:
    """A few requests to the demo application, as users would send (the error rate needs traffic)."""
    for _ in range(requests):
        try:
            urllib.request.urlopen(lab.service("app")["url"] + path, timeout=10).close()
        except urllib.error.HTTPError:
            pass


def poll(observe, ready, what: str, lab=None, timeout: float = WAIT):
    """observe() until ready(value), sending traffic each round when lab is given; the last value.

    Fails naming what was awaited and what was last seen when it does not come within timeout."""
    def look():
        if lab is not None:
            traffic(lab, 3)
        return observe()
    ok, last, _ = wait_for(look, ready, timeout, 0.5)
    assert ok, f"{what} did not happen within {timeout}s; last seen: {last}"
    return last


def wait_all_clear(monitoring: dict, lab) -> None:
    """Until no alert fires (a fault healed by an earlier test clears within the rules' 15 s windows)."""
    poll(lambda: firing(monitoring), lambda names: not names, "every alert to clear", lab)


def test_every_lab_service_is_scraped_and_the_rules_are_loaded(monitoring):
    assert set(monitoring["jobs"]) == JOBS
    targets = poll(lambda: api(monitoring["prometheus_url"], "/api/v1/targets")["data"]["activeTargets"],
                   lambda ts: ts and all(t["health"] == "up" for t in ts), "every target to be up")
    assert {t["labels"]["job"] for t in targets} == JOBS
    assert sorted(t["labels"]["node"] for t in targets if t["labels"]["job"] == "redis") == ["redis-primary",
                                                                                             "redis-replica-1"]
    rules = api(monitoring["prometheus_url"], "/api/v1/rules", type="alert")["data"]["groups"]
    loaded = {r["name"]: r for group in rules for r in group["rules"]}
    assert set(loaded) == set(monitoring["rules"])
    assert {"QdrantDown", "QdrantConnectionErrors", "HighErrorRate5xx", "HighLatencyP95", "TargetDown"} <= set(loaded)
    assert loaded["QdrantDown"]["query"] == 'up{job="qdrant"} == 0'
    assert all(r["health"] == "ok" for r in loaded.values())
    status = api(monitoring["alertmanager_url"], "/api/v2/status")
    assert status["cluster"]["status"] == "disabled"


def test_written_configuration_passes_the_packages_own_checkers(monitoring):
    folder = monitoring["config_dir"]
    for argv in ([shutil.which("promtool"), "check", "config", f"{folder}/prometheus.yml"],
                 [shutil.which("amtool"), "check-config", f"{folder}/alertmanager.yml"]):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def test_app_metrics_count_requests_time_them_and_probe_dependencies(lab, monitoring):
    before = sum(v for _, v in instant(monitoring, 'pynomaly_http_requests_total{path="/api/detections",code="200"}'))
    errors_before = instant(monitoring, "qdrant_connection_errors_total")[0][1]  # earlier tests' Qdrant faults count
    traffic(lab, 4)
    seen = poll(lambda: sum(v for _, v in instant(
        monitoring, 'pynomaly_http_requests_total{path="/api/detections",code="200"}')),
        lambda total: total >= before + 4, "Prometheus to hold the 4 new requests")
    assert seen >= before + 4
    assert instant(monitoring, "pynomaly_http_request_duration_seconds_count")[0][1] >= 4
    deps = {m["dependency"]: v for m, v in instant(monitoring, "pynomaly_dependency_up")}
    assert deps == {"postgres": 1.0, "redis": 1.0, "qdrant": 1.0}
    assert instant(monitoring, "qdrant_connection_errors_total")[0][1] == errors_before  # a healthy Qdrant: none new


def test_app_metrics_answer_during_its_own_faults(lab, monitoring, fault):
    metrics_url = lab.service("app")["url"] + "/metrics"
    fault("app-5xx")
    code, body = http(metrics_url)
    assert code == 200 and "pynomaly_http_request_duration_seconds_bucket" in body
    assert http(lab.service("app")["url"] + "/api/detections")[0] == 500


def test_qdrant_metrics_need_the_api_key_as_in_qdrant(lab, monitoring):
    info = lab.service("qdrant")
    assert http(f"{info['url']}/metrics")[0] == 401
    code, body = http(f"{info['url']}/metrics", headers={"Authorization": f"Bearer {info['api_key']}"})
    assert code == 200 and "collections_vector_total 300" in body and 'app_info{name="qdrant"' in body
    assert instant(monitoring, "collections_vector_total")[0][1] == 300
    assert info["api_key"] not in (lab.root / "monitoring" / "prometheus.yml").read_text()


def test_status_names_both_servers_and_up_again_changes_nothing(lab, monitoring):
    line = lab_monitoring.status(lab)
    assert monitoring["prometheus_url"] in line and monitoring["alertmanager_url"] in line
    assert "targets up" in line
    assert lab_monitoring.up(lab) == monitoring


@pytest.fixture
def webhook():
    """A local HTTP server recording the JSON bodies POSTed to it (an alert receiver such as EDA's webhook)."""
    received = []

    class Recorder(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts", received
    server.shutdown()
    server.server_close()


def test_alerts_reach_the_webhook_set_after_start(lab, monitoring, fault, webhook):
    url, received = webhook
    previous = lab.service("monitoring").get("webhook_url")
    lab_monitoring.set_webhook(lab, url)
    try:
        assert url in (lab.root / "monitoring" / "alertmanager.yml").read_text()
        fault("app-5xx")
        poll(lambda: [a["labels"]["alertname"] for body in received for a in body["alerts"]],
             lambda names: "HighErrorRate5xx" in names, "the webhook to receive HighErrorRate5xx", lab)
        sent = next(body for body in received if body["commonLabels"].get("alertname") == "HighErrorRate5xx")
        assert sent["status"] == "firing" and sent["receiver"] == "lab-webhook"
        assert sent["alerts"][0]["labels"]["severity"] == "critical"
    finally:
        lab_monitoring.set_webhook(lab, previous)
    assert lab.service("monitoring")["webhook_url"] == previous
