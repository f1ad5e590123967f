"""The incident lifecycle drill: Redis primary down -> p0-system-down.yml in auto mode, asserted where it lands:
one Slack message updated through the incident (the recording stand-in), one Statuspage incident from
investigating to resolved, the escalation tier told, verification from the probe and the lab's real Prometheus
and Alertmanager, an evidence folder whose manifest matches the files, and a post-mortem draft."""

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from conftest import REPO, assert_secret_only_in_authorization, report_of, run_playbook

from lab import faults, notify_server, redis_pair
from lab.core import http

PRODUCTION_ESCALATION = REPO / "inventories" / "production" / "group_vars" / "all" / "escalation.yml"
SYSTEM_DOWN_POLICY = yaml.safe_load(PRODUCTION_ESCALATION.read_text())["escalation_policies"]["system_down_ec2_rds"]


def started_minutes_ago(minutes: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def prometheus(lab, query: str) -> list:
    url = lab.service("monitoring")["prometheus_url"] + "/api/v1/query?query=" + query
    return json.loads(http(url)[1])["data"]["result"]


def firing_user_alerts(lab) -> list:
    url = lab.service("monitoring")["alertmanager_url"] + "/api/v2/alerts?active=true&filter=impact%3D%22users%22"
    return [a for a in json.loads(http(url)[1]) if a["status"]["state"] == "active"]


@pytest.fixture
def redis_primary_down(lab):
    info = lab.service("redis")
    faults.inject(lab, "redis-primary-down")
    yield info
    faults.heal(lab, "redis-primary-down")


@pytest.mark.drill
def test_lifecycle_of_a_redis_outage_told_verified_kept_and_reported(lab, incident_dir, notify, redis_primary_down):
    info, mark = notify, len(notify_server.requests(lab))
    incident = "DRILL-LIFECYCLE"
    result = run_playbook("playbooks/p0-system-down.yml", lab.root, incident_dir,
                          {"incident_id": incident, "remediation_mode": "auto",
                           "incident_started_at": started_minutes_ago(16),
                           "escalation_policy": SYSTEM_DOWN_POLICY})
    assert result.returncode == 0, result.stdout[-3000:]
    sent = notify_server.requests(lab, mark)
    state = notify_server.state(lab)

    # Slack: one incident message, posted once, then updated in place; later steps reply in its thread.
    slack = [r for r in sent if r["service"] == "slack"]
    posts = [r for r in slack if r["path"].endswith("chat.postMessage") and not r["body"].get("thread_ts")]
    incident_posts = [r for r in posts if incident in r["body"]["text"] and "ESCALATION" not in r["body"]["text"]]
    assert len(incident_posts) == 1
    channel = info["slack_channel_id"]
    message = next(m for m in state["slack"]["messages"][channel] if incident in m["text"]
                   and "ESCALATION" not in m["text"] and m.get("thread_ts") in (None, m["ts"]))
    updates = [r for r in slack if r["path"].endswith("chat.update") and r["body"]["ts"] == message["ts"]]
    assert len(updates) >= 2  # diagnosed, concluded
    assert "RESOLVED" in message["text"].upper()
    replies = [r for r in slack if r["body"].get("thread_ts") == message["ts"]]
    assert replies
    # Escalation: 16 minutes into the system-down runbook's path is tier 1, the Engineering Lead, told once.
    escalations = [r for r in posts if "ESCALATION" in r["body"]["text"]]
    assert len(escalations) == 1 and "Engineering Lead" in escalations[0]["body"]["text"]
    assert "tier 1 (Engineering Lead)" in result.stdout

    # Statuspage: one incident for this incident id, investigating -> identified -> resolved, components back.
    page = state["statuspage"]
    ours = [i for i in page["incidents"] if incident in i["name"]]
    assert len(ours) == 1 and ours[0]["status"] == "resolved"
    statuses = [u["status"] for u in sorted(ours[0]["incident_updates"], key=lambda u: u["created_at"])]
    assert statuses[0] == "investigating" and "identified" in statuses and statuses[-1] == "resolved"
    creates = [r for r in sent if r["service"] == "statuspage" and r["method"] == "POST"]
    assert len(creates) == 1
    assert {c["name"]: c["status"] for c in page["components"]}["API"] == "operational"
    for secret in (info["slack_token"], info["statuspage_api_key"]):
        assert_secret_only_in_authorization(sent, secret)

    # Verification: the probe's figures and monitoring, and the real Prometheus/Alertmanager agree.
    report, timeline = report_of(incident_dir, incident)
    probe = next(e for e in timeline if e.get("probe") or e.get("probes"))
    figures = (probe.get("probes") or [probe["probe"]])[0]
    assert figures["requests"] == 10 and figures["errors"] == 0 and figures["passed"]
    assert any(e.get("queries") for e in timeline if e["phase"] == "verify")
    assert any("firing" in e for e in timeline if e["phase"] == "verify")
    assert {r["metric"]["job"] for r in prometheus(lab, "up==1")} >= {"app", "qdrant"}
    assert float(prometheus(lab, 'sum(pynomaly_http_requests_total{path="/health"})')[0]["value"][1]) >= 10
    assert firing_user_alerts(lab) == []
    assert "master" in redis_pair.roles(redis_primary_down).values()

    # Evidence: every file the manifest lists is there with its size and SHA-256; secrets redacted.
    folder = incident_dir / incident / "evidence"
    manifest = json.loads((folder / "manifest.json").read_text())
    names = {f["path"] for f in manifest["files"]}
    assert {"findings.json", "diagnosis.json", "actions.json", "application.log"} <= names
    assert any(n.startswith("prometheus") or "targets-up" in n for n in names)
    for entry in manifest["files"]:
        data = (folder / entry["path"]).read_bytes()
        assert len(data) == entry["bytes"] and hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert redis_primary_down["password"].encode() not in data

    # The post-mortem draft.
    assert "**RECOVERED" in report
    for section in ("## Impact window", "## Timeline", "## Escalation", "## Messages sent", "## Evidence"):
        assert section in report
    assert "- [x]" in report and "- [ ]" in report
    assert info["slack_token"] not in report and info["statuspage_api_key"] not in report


@pytest.mark.drill
def test_chat_and_status_page_down_never_stop_the_run(lab, incident_dir, notify):
    mark = len(notify_server.requests(lab))
    faults.inject(lab, "notify-down")
    try:
        result = run_playbook("playbooks/p0-system-down.yml", lab.root, incident_dir,
                              {"incident_id": "DRILL-NOTIFY-DOWN"})
    finally:
        faults.heal(lab, "notify-down")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "NOT delivered" in result.stdout
    report, _ = report_of(incident_dir, "DRILL-NOTIFY-DOWN")
    assert "NOT delivered" in report
    assert (Path(incident_dir) / "DRILL-NOTIFY-DOWN" / "evidence" / "manifest.json").exists()
    assert not [i for i in notify_server.state(lab)["statuspage"]["incidents"] if "DRILL-NOTIFY-DOWN" in i["name"]]
    assert all(r.get("status", 503) == 503 for r in notify_server.requests(lab, mark)
               if r["service"] in ("slack", "statuspage") and "status" in r)


@pytest.mark.drill
def test_a_hanging_dependency_is_waited_for_once_and_every_other_check_still_reports(lab, incident_dir,
                                                                                     hanging_server):
    """One health endpoint accepts connections and never answers. The plan run waits for it once (triage, its
    timeout), reports it and every other check, and verification does not wait for it again: nothing changed."""
    endpoints = [{"name": "api", "url": lab.service("app")["health_url"], "expect_status": [200]},
                 {"name": "hung-dependency", "url": f"http://127.0.0.1:{hanging_server.port}/health",
                  "expect_status": [200]}]
    done = run_playbook("playbooks/p0-system-down.yml", lab.root, incident_dir,
                        {"incident_id": "DRILL-HANG", "health_endpoints": endpoints}, check=True)
    assert done.returncode == 0, done.stdout[-4000:]
    assert hanging_server.connections == 1, "one request to the hanging endpoint: triage's, never verification's"
    report, timeline = report_of(incident_dir, "DRILL-HANG")
    said = next(e["msg"] for e in timeline if e["step"].endswith("Say what triage found"))
    statuses = dict(line.split(": ", 1)[0:2] for line in said)
    assert statuses["http"].startswith("DOWN") or statuses["http"].startswith("DEGRADED"), statuses["http"]
    assert "hung-dependency" in statuses["http"] and "timed out" in statuses["http"]
    assert all(not status.startswith("UNKNOWN") for status in statuses.values()), said
    assert len(statuses) > 10, "every configured check reported"
    shown = next(e["msg"] for e in timeline if e["step"].endswith("Say what the probe and monitoring show"))
    assert any(line.startswith("not probed again (triage saw it time out") and line.endswith("hung-dependency")
               for line in shown), shown
    assert "| critical | `http.endpoint_down` | hung-dependency" in report
