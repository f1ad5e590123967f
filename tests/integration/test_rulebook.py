"""Event-Driven Ansible: a firing Alertmanager alert runs p0-system-down.yml in plan mode, the alert in its record.

Everything is real: a lab fault makes the lab's Prometheus fire the runbooks' alert rules, the lab's
Alertmanager posts them to the webhook of ansible-rulebook (its rules engine is Drools, in a Java runtime
through jpy) running rulebooks/alert-driven.yml with the lab inventory, and ansible-rulebook runs the playbook.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess

import pytest
from conftest import BIN, REPO, ansible_env

from lab import monitoring, redis_pair
from lab.core import free_port, http, port_open, read_json, wait_until

RULEBOOK = "rulebooks/alert-driven.yml"


@pytest.fixture
def rulebook(lab, tmp_path):
    """ansible-rulebook with the alert-driven rulebook on the lab, Alertmanager's webhook pointed at it.

    Yields (incident dir, ansible-rulebook's log); afterwards ansible-rulebook (and any playbook it still
    runs) is stopped and Alertmanager sends to where it sent before.
    """
    assert (BIN / "ansible-rulebook").exists(), "ansible-rulebook is not in the venv: requirements.txt pins it"
    assert shutil.which("java") or os.environ.get("JAVA_HOME"), \
        "ansible-rulebook needs a Java runtime (17 or later): `make setup` installs openjdk-17-jre-headless"
    port = free_port()
    incidents = tmp_path / "incidents"
    env = ansible_env(lab.root, incidents)
    env.update(SRE_ALERT_WEBHOOK_HOST="127.0.0.1", SRE_ALERT_WEBHOOK_PORT=str(port))
    log = tmp_path / "ansible-rulebook.log"
    before = lab.service("monitoring").get("webhook_url")
    with log.open("w") as out:
        proc = subprocess.Popen([str(BIN / "ansible-rulebook"), "--rulebook", RULEBOOK, "-i", "inventories/lab",
                                 "--env-vars", "SRE_ALERT_WEBHOOK_HOST,SRE_ALERT_WEBHOOK_PORT"],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: port_open(port) or proc.poll() is not None, 120, "the rulebook's webhook")
        assert proc.poll() is None, f"ansible-rulebook stopped:\n{log.read_text()[-3000:]}"
        monitoring.set_webhook(lab, f"http://127.0.0.1:{port}/alerts")
        yield incidents, log
    finally:
        monitoring.set_webhook(lab, before)
        # ansible-rulebook and the ansible-playbook it may still run are in their own process group.
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)


def finished_run(incidents, log) -> str | None:
    """The id of the first alert-driven incident whose run has ended (the callback prints its report's path last)."""
    found = re.search(rf"Incident record: {re.escape(str(incidents))}/(ALERT-[\w.-]+)/report\.md", log.read_text())
    return found.group(1) if found else None


def test_firing_alert_runs_the_p0_playbook_in_plan_mode_with_the_alert_in_the_record(lab, fault, rulebook):
    incidents, log = rulebook
    # Every alert Alertmanager holds from now until the run ends: an alert that fired and resolved again
    # (a short 5xx burst while clients move) leaves /api/v2/alerts before the run ends.
    seen: set[str] = set()

    def note_alerts():
        status, body = http(f"{lab.service('monitoring')['alertmanager_url']}/api/v2/alerts", timeout=5)
        if status == 200:
            seen.update(a["fingerprint"] for a in json.loads(body))

    def run_ended():
        note_alerts()
        return finished_run(incidents, log)

    note_alerts()
    fault("redis-primary-down")
    roles_before = redis_pair.roles(lab.service("redis"))

    incident_id = wait_until(run_ended, 300, "an alert-driven run to finish", interval=0.5)

    declared = read_json(incidents / incident_id / "incident.json")
    alert = declared["alert"]
    assert (alert["receiver"], alert["status"]) == ("lab-webhook", "firing"), "what Alertmanager posted"
    # A firing group also lists its alerts that resolved (an earlier test's): the run is about the firing ones.
    firing = [a for a in alert["alerts"] if a["status"] == "firing"]
    names = {a["labels"]["alertname"] for a in firing}
    assert firing and names <= set(monitoring.rule_names())
    assert incident_id.startswith(f"ALERT-{firing[0]['labels']['alertname']}-")
    assert incident_id.endswith(firing[0]["startsAt"][:19].replace("-", "").replace(":", ""))
    assert {a["fingerprint"] for a in firing} <= seen, "the record holds alerts Alertmanager had"
    assert declared["mode"] == "plan"
    assert declared["title"] == f"Alert: {firing[0]['labels']['alertname']}"

    report = (incidents / incident_id / "report.md").read_text()
    assert "## Alert that started this run" in report
    assert all(f"**{name}** (firing)" in report for name in names)
    assert "### Redis primary down (P0-3 Redis Cache Failure)" in report
    assert "PLAN ONLY" in report
    assert redis_pair.roles(lab.service("redis")) == roles_before, "plan mode changed nothing"
