"""The lab's application servers (lab/hosts.py) as the host tier sees them: real systemd hosts over SSH, nginx
in front, and the faults of Scenarios 1, 3 and 4 doing to the host what they say."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import BIN, REPO, ansible_env

from lab import faults
from lab.core import http, wait_until

pytestmark = pytest.mark.usefixtures("hosts_lab")


def unit_state(host_sh, host="app-1") -> dict:
    out = host_sh(host, "systemctl show pynomaly -p ActiveState,SubState,Result,MemoryLimit").stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def host_health(lab, host="app-1") -> int | None:
    address = lab.service("hosts")["hosts"][host]["address"]
    return http(f"http://{address}:8000/health", timeout=3)[0]


def test_hosts_boot_systemd_and_answer_ansible_over_ssh(hosts_lab, host_sh):
    for name in ("app-1", "app-2"):
        assert host_sh(name, "cat /proc/1/comm").stdout.strip() == "systemd"
        assert unit_state(host_sh, name)["ActiveState"] == "active"
        assert host_health(hosts_lab, name) == 200
    done = subprocess.run([str(BIN / "ansible"), "app_servers", "-m", "ansible.builtin.command", "-a",
                           "systemctl is-active pynomaly", "-o"], cwd=REPO, env=ansible_env(hosts_lab.root),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("active") == 2 and "app-1" in done.stdout and "app-2" in done.stdout


def test_nginx_serves_through_the_other_server_when_one_is_down(hosts_lab, host_sh):
    nginx = hosts_lab.service("nginx")
    host_sh("app-1", "systemctl stop pynomaly")
    try:
        assert [http(nginx["health_url"])[0] for _ in range(4)] == [200] * 4
    finally:
        host_sh("app-1", "systemctl start pynomaly")
    wait_until(lambda: host_health(hosts_lab) == 200, 20, "app-1 to answer again")
    assert "\"GET /health HTTP/1.1\" 200" in Path(nginx["access_log"]).read_text()


def test_app_crash_leaves_the_unit_failed_with_the_crash_in_its_log(hosts_lab, host_sh, fault):
    fault("app-crash")
    state = unit_state(host_sh)
    assert (state["ActiveState"], state["Result"]) == ("failed", "exit-code")
    assert "FATAL: unhandled exception" in host_sh("app-1", "tail -20 /var/log/pynomaly/application.log").stdout
    assert host_health(hosts_lab) is None
    assert unit_state(host_sh, "app-2")["ActiveState"] == "active"  # the other server is not touched


def test_app_oom_is_a_real_kernel_oom_kill_at_the_units_limit(hosts_lab, host_sh, fault):
    fault("app-oom")
    state = unit_state(host_sh)
    assert (state["ActiveState"], state["Result"], state["MemoryLimit"]) == ("failed", "signal", str(256 << 20))
    assert "Killed process" in host_sh("app-1", "dmesg | grep -i 'killed process' | tail -3").stdout
    # the unit's limit raised (as Scenario 1 does) lets the same start succeed
    host_sh("app-1", "mkdir -p /etc/systemd/system/pynomaly.service.d && printf '[Service]\\nMemoryLimit=512M\\n' "
                     "> /etc/systemd/system/pynomaly.service.d/50-test.conf && systemctl daemon-reload && "
                     "systemctl reset-failed pynomaly && systemctl restart pynomaly")
    wait_until(lambda: host_health(hosts_lab) == 200, 30, "app-1 to start within 512M")


def test_disk_full_fills_var_log_and_the_app_reports_it(hosts_lab, host_sh, fault):
    fault("disk-full")
    assert "100%" in host_sh("app-1", "df --output=pcent /var/log").stdout
    codes = [host_health(hosts_lab) for _ in range(3)]
    assert codes[-1] == 503
    assert "No space left" in json.dumps(http(f"http://{hosts_lab.service('hosts')['hosts']['app-1']['address']}"
                                              ":8000/health")[1])
    assert "100%" not in host_sh("app-2", "df --output=pcent /var/log").stdout


def test_app_port_blocked_drops_the_port_while_the_app_listens(hosts_lab, host_sh, fault):
    fault("app-port-blocked")
    assert host_health(hosts_lab) is None
    assert ":8000" in host_sh("app-1", "cat /proc/net/tcp | awk '$4 == \"0A\" {print $2}' | "
                                       "while read a; do printf ':%d\\n' 0x${a#*:}; done").stdout
    assert http(hosts_lab.service("nginx")["health_url"])[0] == 200


def test_heal_restores_each_host_fault(hosts_lab, host_sh):
    for name in ("app-crash", "disk-full", "app-port-blocked"):
        faults.inject(hosts_lab, name)
        faults.heal(hosts_lab, name)
        wait_until(lambda: host_health(hosts_lab) == 200, 30, f"app-1 healthy after healing {name}")
        assert unit_state(host_sh)["ActiveState"] == "active"
    assert "pynomaly.service.d" not in host_sh("app-1", "ls /etc/systemd/system").stdout
