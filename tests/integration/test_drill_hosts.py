"""Application server drills (Scenario 1 Application Crash and OOM, Scenario 3 Disk Space) on the lab's systemd
servers: a fault on app-1 is found by the host checks, diagnosed, fixed on app-1 only, and verified, in the report
and on the server itself. Plan mode changes nothing."""

import pytest
from conftest import report_of, run_playbook

from lab import hosts

HOST = "app-1"
OTHER = "app-2"
DROP_IN = "/etc/systemd/system/pynomaly.service.d/50-sre-runbooks-limits.conf"


def unit_state(host_sh, host=HOST):
    return host_sh(host, "systemctl is-active pynomaly").stdout.strip()


def used_percent(host_sh, mount="/var/log"):
    return int(host_sh(HOST, f"df --output=pcent {mount} | tail -1").stdout.strip().rstrip("%"))


def drill(hosts_lab, incident_dir, playbook, incident_id, **extra):
    done = run_playbook(playbook, hosts_lab.root, incident_dir, dict({"incident_id": incident_id}, **extra))
    assert done.returncode == 0, done.stdout[-4000:]
    return done


@pytest.mark.drill
def test_app_crash_plan_changes_nothing_then_auto_restarts_app_1_only(hosts_lab, incident_dir, fault, host_sh):
    fault("app-crash")
    assert unit_state(host_sh) == "failed" and unit_state(host_sh, OTHER) == "active"
    other_started = host_sh(OTHER, "systemctl show -p ExecMainStartTimestamp pynomaly").stdout

    planned = run_playbook("playbooks/p0-system-down.yml", hosts_lab.root, incident_dir,
                           {"incident_id": "DRILL-CRASH-PLAN"}, check=True)
    assert planned.returncode == 0, planned.stdout[-4000:]
    assert unit_state(host_sh) == "failed"
    plan, _ = report_of(incident_dir, "DRILL-CRASH-PLAN")
    assert "Application crashed (Scenario 1" in plan and "PLAN ONLY" in plan

    drill(hosts_lab, incident_dir, "playbooks/p0-system-down.yml", "DRILL-CRASH", remediation_mode="auto")
    assert unit_state(host_sh) == "active"
    assert host_sh(OTHER, "systemctl show -p ExecMainStartTimestamp pynomaly").stdout == other_started
    report, _ = report_of(incident_dir, "DRILL-CRASH")
    assert "Application crashed (Scenario 1" in report and "`service.failed`" in report
    assert "**RECOVERED" in report


@pytest.mark.drill
def test_app_crash_playbook_alone(hosts_lab, incident_dir, fault, host_sh):
    fault("app-crash")
    drill(hosts_lab, incident_dir, "playbooks/app-crash.yml", "SCENARIO1-CRASH", remediation_mode="auto")
    assert unit_state(host_sh) == "active"
    report, _ = report_of(incident_dir, "SCENARIO1-CRASH")
    assert "**RECOVERED" in report


@pytest.mark.drill
def test_app_oom_raises_the_memory_limit_within_the_cap_and_restarts(hosts_lab, incident_dir, fault, host_sh):
    fault("app-oom")
    assert unit_state(host_sh) == "failed"
    assert host_sh(HOST, f"test -e {DROP_IN}").returncode != 0

    planned = run_playbook("playbooks/app-crash.yml", hosts_lab.root, incident_dir,
                           {"incident_id": "DRILL-OOM-PLAN", "remediation_mode": "plan"})
    assert planned.returncode == 0, planned.stdout[-4000:]
    assert host_sh(HOST, f"test -e {DROP_IN}").returncode != 0 and unit_state(host_sh) == "failed"

    drill(hosts_lab, incident_dir, "playbooks/p0-system-down.yml", "DRILL-OOM", remediation_mode="auto")
    assert unit_state(host_sh) == "active"
    drop_in = host_sh(HOST, f"cat {DROP_IN}").stdout
    assert "[Service]" in drop_in and ("MemoryMax=512M" in drop_in or "MemoryLimit=512M" in drop_in)
    assert "CPUQuota=200%" in drop_in
    assert host_sh(OTHER, f"test -e {DROP_IN}").returncode != 0, "only the server that was OOM-killed is changed"
    report, _ = report_of(incident_dir, "DRILL-OOM")
    assert "Application killed for memory" in report and "`log.oom_kill`" in report
    assert "Did:" in report and "**RECOVERED" in report


@pytest.mark.drill
def test_disk_full_plan_deletes_nothing_then_auto_frees_the_disk(hosts_lab, incident_dir, fault, host_sh):
    fault("disk-full")
    assert used_percent(host_sh) >= 95
    rotated = host_sh(HOST, "ls /var/log/pynomaly/application.log.* /tmp/pynomaly_export_*").stdout.split()
    assert len(rotated) == 7

    planned = run_playbook("playbooks/disk-full.yml", hosts_lab.root, incident_dir,
                           {"incident_id": "DRILL-DISK-PLAN"}, check=True)
    assert planned.returncode == 0, planned.stdout[-4000:]
    assert host_sh(HOST, "ls /var/log/pynomaly/application.log.* /tmp/pynomaly_export_*").stdout.split() == rotated
    plan, _ = report_of(incident_dir, "DRILL-DISK-PLAN")
    assert "Disk full on an application server" in plan and "Would do:" in plan

    drill(hosts_lab, incident_dir, "playbooks/p0-system-down.yml", "DRILL-DISK", remediation_mode="auto")
    assert used_percent(host_sh) < 85
    assert host_sh(HOST, "ls /var/log/pynomaly/application.log.* /tmp/pynomaly_export_* 2>/dev/null").stdout == ""
    assert host_sh(HOST, "test -f /var/log/pynomaly/application.log").returncode == 0, "the active log is kept"
    assert unit_state(host_sh) == "active"
    report, _ = report_of(incident_dir, "DRILL-DISK")
    assert "Disk full on an application server" in report and "`host.disk_full`" in report
    assert "Did:" in report and "**RECOVERED" in report


@pytest.mark.drill
def test_disk_full_playbook_alone(hosts_lab, incident_dir, fault, host_sh):
    fault("disk-full")
    drill(hosts_lab, incident_dir, "playbooks/disk-full.yml", "SCENARIO3-DISK", remediation_mode="auto")
    assert used_percent(host_sh) < 85 and unit_state(host_sh) == "active"


@pytest.mark.drill
def test_app_port_blocked_is_named_for_a_person_and_nothing_is_changed(hosts_lab, incident_dir, fault, host_sh):
    fault("app-port-blocked")
    started = host_sh(HOST, "systemctl show -p ExecMainStartTimestamp pynomaly").stdout
    drill(hosts_lab, incident_dir, "playbooks/p0-system-down.yml", "DRILL-PORT")
    report, _ = report_of(incident_dir, "DRILL-PORT")
    assert "its port is dropped on the way to a server (Scenario 4" in report
    assert "`service.port_unreachable`: app-1: the service listens on port 8000 there" in report
    assert "`host.check_firewall`" in report and "iptables -S INPUT" in report
    # a firewall is a person's decision: the rule is still there and the service was not restarted
    assert "DROP" in hosts.run_in_netns(hosts_lab.service("hosts")["hosts"][HOST], ["iptables", "-S", "INPUT"]).stdout
    assert host_sh(HOST, "systemctl show -p ExecMainStartTimestamp pynomaly").stdout == started


@pytest.mark.drill
def test_a_server_that_does_not_answer_over_ssh_never_hides_the_others(hosts_lab, incident_dir, fault, host_sh):
    """app-2's sshd is stopped, app-1's service crashed: triage still reports app-1's crash and says app-2 does not
    answer, diagnosis still names the scenario, and the run ends normally."""
    fault("app-crash")
    # sshd and its sessions (a kept SSH master connection would still get through)
    host_sh(OTHER, "systemctl stop ssh.service; pkill sshd")
    try:
        planned = run_playbook("playbooks/p0-system-down.yml", hosts_lab.root, incident_dir,
                               {"incident_id": "DRILL-SSH-DOWN"}, check=True)
        assert host_sh(OTHER, "systemctl is-active ssh.service").stdout.strip() != "active", "sshd stayed down"
    finally:
        host_sh(OTHER, "systemctl start ssh.service")
    assert planned.returncode == 0, planned.stdout[-4000:]
    report, _ = report_of(incident_dir, "DRILL-SSH-DOWN")
    findings = report.split("## Findings (triage)", 1)[1].split("\n## ", 1)[0]
    assert f"| critical | `host.unreachable` | {OTHER} does not answer over SSH" in findings
    assert f"| critical | `service.failed` | {HOST}: " in findings
    assert "Application crashed (Scenario 1" in report
    assert unit_state(host_sh) == "failed", "plan mode changed nothing"
