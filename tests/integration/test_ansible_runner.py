"""ansible-runner, the engine AWX/AAP runs job templates with, leaves the same incident record as ansible-playbook.

The same playbook runs twice on the same lab state (Redis primary down; plan mode changes nothing): once
through ansible_runner.run() with a private data dir and the lab inventory, as an AWX job does, and once
through ansible-playbook. Both records must have the same shape and say the same about the lab.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime, timedelta

import ansible_runner
import pytest
from conftest import REPO, ansible_env, report_of, run_playbook

from lab import redis_pair

PLAYBOOK = "playbooks/p0-system-down.yml"


def headings(report: str) -> list[str]:
    """The report's sections and the scenarios its diagnosis names."""
    return re.findall(r"^##+ (.+)$", report, re.MULTILINE)


def shape(timeline: list[dict]) -> list[tuple]:
    """Every (phase, step, host) of a run, in no order: in the triage play the control node and the servers
    go at their own pace (strategy free), so their results interleave differently from run to run."""
    return sorted((e["phase"], e["step"], e["host"]) for e in timeline)


def triage_findings(timeline: list[dict]) -> list[tuple]:
    """(id, severity) of every finding; summaries may carry durations that differ between two runs."""
    return sorted((f["id"], f["severity"]) for e in timeline if e["phase"] == "triage" for f in e.get("findings") or [])


def diagnosis(timeline: list[dict]) -> list[tuple]:
    """Each diagnosed scenario with its matched finding ids and its steps' decisions."""
    return [(s["id"], sorted(f["id"] for f in s["matched"]), [(step["id"], step["decision"]) for step in s["steps"]])
            for e in timeline if e["phase"] == "diagnose" for s in e.get("scenarios") or []]


@pytest.fixture
def redis_primary_down(lab, fault):
    fault("redis-primary-down")
    assert "down" in redis_pair.roles(lab.service("redis")).values()
    return lab.service("redis")


def test_runner_and_ansible_playbook_leave_the_same_incident_record(lab, incident_dir, tmp_path, redis_primary_down):
    roles_before = redis_pair.roles(redis_primary_down)
    # A private data dir as AWX lays it out: the inventory in it, the project (this repository) beside.
    private = tmp_path / "runner"
    shutil.copytree(REPO / "inventories" / "lab", private / "inventory")
    # Both incidents started at the same time, so both runs are at the same escalation tier.
    started = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    plan = {"remediation_mode": "plan", "incident_started_at": started}

    runner = ansible_runner.run(
        private_data_dir=str(private),
        project_dir=str(REPO),
        playbook=PLAYBOOK,
        extravars={"incident_id": "RUNNER-API", **plan},
        envvars=ansible_env(lab.root, incident_dir),
        quiet=True,
    )
    cli = run_playbook(PLAYBOOK, lab.root, incident_dir, {"incident_id": "RUNNER-CLI", **plan})

    assert runner.status == "successful" and runner.rc == 0, runner.stdout.read()[-3000:]
    assert cli.returncode == 0, cli.stdout[-3000:]
    assert redis_pair.roles(redis_primary_down) == roles_before, "plan mode changed nothing"

    # Runner's events carry every task of the playbook that ansible-playbook showed (the triage play's strategy
    # free announces a task as each host reaches it, so the order of those differs from run to run).
    tasks = [e["event_data"]["name"] for e in runner.events if e["event"] == "playbook_on_task_start"]
    shown = re.findall(r"^TASK \[(.+?)\] \*+$", cli.stdout, re.MULTILINE)
    assert set(tasks) == set(shown)
    assert "sre.runbooks.triage : Run every chosen check at once" in tasks

    api_report, api_timeline = report_of(incident_dir, "RUNNER-API")
    cli_report, cli_timeline = report_of(incident_dir, "RUNNER-CLI")
    assert shape(api_timeline) == shape(cli_timeline)
    assert {e["phase"] for e in api_timeline} >= {"declare", "triage", "diagnose", "verify"}
    assert headings(api_report) == headings(cli_report)
    assert triage_findings(api_timeline) == triage_findings(cli_timeline)
    assert "redis.primary_unreachable" in {f[0] for f in triage_findings(api_timeline)}
    assert diagnosis(api_timeline) == diagnosis(cli_timeline)
    assert diagnosis(api_timeline)[0][0] == "redis-failure"
    assert {decision for _, _, steps in diagnosis(api_timeline) for _, decision in steps} <= {"plan", "manual"}
    assert "### Redis primary down (P0-3 Redis Cache Failure)" in api_report
    declared = [json.loads((incident_dir / i / "incident.json").read_text()) for i in ("RUNNER-API", "RUNNER-CLI")]
    assert [d["mode"] for d in declared] == ["plan", "plan"]
    assert declared[0].keys() == declared[1].keys()
