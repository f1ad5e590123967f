import json

from ansible_collections.sre.runbooks.plugins.callback import incident_record
from ansible_collections.sre.runbooks.plugins.callback.incident_record import RECORDED_KEYS, CallbackModule
from ansible_collections.sre.runbooks.plugins.module_utils import redact as shared_redact


class Role:
    def __init__(self, name):
        self.name = name

    def get_name(self):
        return self.name


class Task:
    def __init__(self, name, action="sre.runbooks.x", role=None):
        self.name, self.action, self._role = name, action, Role(role) if role else None

    def get_name(self):
        return self.name


class Host:
    def get_name(self):
        return "localhost"


class Result:
    def __init__(self, task, result):
        self._task, self._result, self._host = task, result, Host()


class Playbook:
    _file_name = "/x/playbooks/p0-system-down.yml"


SECRETS = ("hunter2", "xoxb-1111-secret", "pa55word", "s3cr3t-token")


def run(tmp_path, results):
    """Feed results through the callback as a playbook run would; the incident record's folder."""
    callback = CallbackModule()
    callback.v2_playbook_on_start(Playbook())
    folder = tmp_path / "INC-9"
    incident = {"id": "INC-9", "started_at": "2026-01-01T10:00:00Z", "mode": "auto", "dir": str(folder),
                "alert": {"labels": {"alertname": "ApiDown"}, "startsAt": "2026-01-01T09:58:00Z",
                          "generatorURL": "http://admin:hunter2@prometheus:9090/graph"}}
    callback.v2_runner_on_ok(Result(Task("Declare the incident", "ansible.builtin.set_fact", "sre.runbooks.declare"),
                                    {"ansible_facts": {"incident": incident}}))
    for task, result in results:
        callback.v2_runner_on_ok(Result(task, result))
    callback.v2_playbook_on_stats(None)
    return folder


def test_the_lifecycle_keys_are_recorded():
    for key in ("notification", "escalation", "probe", "probes", "journeys", "queries", "targets", "alerts", "firing",
                "manifest", "evidence_dir", "alert"):
        assert key in RECORDED_KEYS


def test_the_redaction_is_the_collections_one():
    assert incident_record.redact is shared_redact.redact


def test_a_run_records_messages_escalation_figures_and_evidence_and_writes_the_draft(tmp_path):
    comms = "sre.runbooks.communicate"
    escalation = {"policy": "p0-kubernetes-llm", "tier": 2, "name": "Engineering Manager", "elapsed_minutes": 16.0,
                  "contacts": [], "channels": ["#pubsec-incidents"], "crossed": [1, 2], "newly_crossed": [],
                  "next": {"tier": 3, "name": "CTO", "at_minutes": 30.0}, "next_update_at": "2026-01-01T10:31:00+00:00",
                  "summary": "p0-kubernetes-llm: tier 2 (Engineering Manager) since minute 15"}
    folder = run(tmp_path, [
        (Task("State the escalation tier", "ansible.builtin.set_fact", comms),
         {"ansible_facts": {"incident_escalation": escalation, "communicate_notified_tier": 1}}),
        (Task("Slack - the incident's message", "sre.runbooks.slack_notify", comms),
         {"changed": False, "notification": {
             "service": "slack", "action": "post", "delivered": False, "attempts": 3, "ref": "",
             "summary": "P0 INCIDENT - System Outage",
             "error": "Slack refused: invalid_auth for Authorization: Bearer xoxb-1111-secret"}}),
        (Task("Probe the API", "sre.runbooks.http_probe", "sre.runbooks.verify"),
         {"status": "ok", "probe": {"name": "api", "url": "https://ops:pa55word@api/health", "requests": 10,
                                    "errors": 0, "error_rate": 0.0, "p50_ms": 2, "p95_ms": 3, "max_ms": 4,
                                    "thresholds": {}, "passed": True},
          "queries": [{"name": "up", "expr": "up{token=s3cr3t-token}", "value": 1, "threshold": 1, "op": ">=",
                       "passed": True}],
          "unlisted_key": "not recorded"}),
        (Task("Collect evidence", "sre.runbooks.evidence_collect", "sre.runbooks.collect_evidence"),
         {"changed": True, "evidence_dir": str(tmp_path / "INC-9" / "evidence"),
          "manifest": {"files": [{"path": "journal.log", "bytes": 10, "sha256": "0" * 64, "source": "journal",
                                  "truncated": False}], "total_bytes": 10, "max_bytes": 1000, "skipped": []}}),
    ])
    events = [json.loads(line) for line in (folder / "timeline.jsonl").read_text().splitlines()]
    by_step = {e["step"]: e for e in events}
    assert by_step["State the escalation tier"]["escalation"]["tier"] == 2
    assert by_step["Slack - the incident's message"]["notification"]["delivered"] is False
    assert by_step["Probe the API"]["probe"]["p95_ms"] == 3 and "unlisted_key" not in by_step["Probe the API"]
    assert by_step["Collect evidence"]["manifest"]["total_bytes"] == 10

    report = (folder / "report.md").read_text()
    assert "| Alert | ApiDown |" in report
    assert "- Slack post at" in report and "was NOT delivered after 3 attempts" in report
    assert "- Highest: tier 2 (Engineering Manager) at minute 16" in report
    assert "[manifest.json](evidence/manifest.json)" in report
    assert "- [x] Logs and metrics collected (1 evidence file)" in report
    assert "- [ ] Stakeholders notified (Slack)" in report


def test_secrets_in_results_never_reach_the_record(tmp_path):
    folder = run(tmp_path, [
        (Task("Slack - the incident's message", "sre.runbooks.slack_notify", "sre.runbooks.communicate"),
         {"notification": {"service": "slack", "action": "post", "delivered": False, "attempts": 1,
                           "summary": "posted with token=s3cr3t-token", "ref": "",
                           "error": "Authorization: Bearer xoxb-1111-secret refused"}}),
        (Task("Probe the API", "sre.runbooks.http_probe", "sre.runbooks.verify"),
         {"status": "down", "probe": {"name": "api", "url": "https://ops:pa55word@api/health", "passed": False},
          "msg": "GET https://ops:pa55word@api/health failed", "alerts": [
              {"name": "ApiDown", "state": "firing", "annotations": {"runbook": "http://admin:hunter2@wiki/x"}}],
          "firing": 1}),
        (Task("Slack with a secret option", "sre.runbooks.slack_notify", "sre.runbooks.communicate"),
         {"_ansible_no_log": True, "notification": {"summary": "xoxb-1111-secret"}}),
    ])
    written = (folder / "report.md").read_text() + (folder / "timeline.jsonl").read_text()
    for secret in SECRETS:
        assert secret not in written
    assert "NOT delivered" in written and "1 alert firing" in written


def test_triage_findings_no_single_check_carries_reach_the_report(tmp_path):
    """A server that does not answer over SSH is a finding only of the set_fact that puts triage together."""
    unreachable = {"id": "host.unreachable", "severity": "critical", "evidence": {"host": "app-2"},
                   "summary": "app-2 does not answer over SSH: its checks could not run (connection refused)"}
    down = {"id": "http.endpoint_down", "severity": "critical", "summary": "api is down", "evidence": {}}
    folder = run(tmp_path, [
        (Task("Run every chosen check at once", "sre.runbooks.incident_triage_info", "sre.runbooks.triage"),
         {"status": "down", "findings": [down]}),
        (Task("Put every finding in one list", "ansible.builtin.set_fact", "sre.runbooks.triage"),
         {"ansible_facts": {"incident_findings": [down, unreachable], "incident_checks": {"hosts": {}}}}),
    ])
    report = (folder / "report.md").read_text()
    findings = report.split("## Findings (triage)", 1)[1].split("\n## ", 1)[0]
    assert "`host.unreachable`" in findings and "app-2 does not answer over SSH" in findings
    assert findings.count("api is down") == 1, "a finding both recorded is listed once"
    assert "No findings" not in findings
