"""The restart_service role (Restart Application) against the lab's application servers: a stopped unit is
restarted and waited for, check mode changes nothing, and a unit that cannot start fails with its startup errors."""

import pytest
from conftest import run_playbook

HOST = "app-1"
BROKEN = "/etc/systemd/system/pynomaly.service.d/90-test-broken.conf"
PLAY = """---
- name: Restart Application on one server
  hosts: incident_control
  gather_facts: false
  tasks:
    - name: Restart the application and wait until it serves
      ansible.builtin.include_role:
        name: sre.runbooks.restart_service
      vars:
        restart_service_hosts: [{host}]
        restart_service_live: "{{{{ live | bool }}}}"
        restart_service_timeout: 20
"""


def state(host_sh):
    return host_sh(HOST, "systemctl is-active pynomaly").stdout.strip()


def health(host_sh):
    return host_sh(HOST, "python3 -c \"import urllib.request as u; print(u.urlopen('http://127.0.0.1:8000/health',"
                         " timeout=5).status)\"").stdout.strip()


@pytest.fixture
def playbook(tmp_path):
    path = tmp_path / "restart.yml"
    path.write_text(PLAY.format(host=HOST))
    return path


@pytest.fixture
def unit(host_sh):
    """pynomaly on app-1 as the lab made it, before and after the test."""
    assert state(host_sh) == "active"
    yield
    host_sh(HOST, f"rm -f {BROKEN}; systemctl daemon-reload; systemctl reset-failed pynomaly; "
                  "systemctl restart pynomaly")
    back = host_sh(HOST, "for i in $(seq 30); do systemctl is-active -q pynomaly && exit 0; sleep 1; done; exit 1")
    assert back.returncode == 0


def test_restart_starts_a_stopped_unit_and_waits_until_it_serves(hosts_lab, unit, host_sh, playbook, incident_dir):
    host_sh(HOST, "systemctl stop pynomaly")
    assert state(host_sh) == "inactive"
    done = run_playbook(str(playbook), hosts_lab.root, incident_dir, {"live": True})
    assert done.returncode == 0, done.stdout[-3000:]
    assert state(host_sh) == "active" and health(host_sh) == "200"
    assert f"pynomaly on {HOST} restarted: active (running)" in done.stdout


@pytest.mark.parametrize("check", [False, True])
def test_check_mode_restarts_nothing(hosts_lab, unit, host_sh, playbook, incident_dir, check):
    host_sh(HOST, "systemctl stop pynomaly")
    # plan (not live), and live but in check mode: neither restarts
    done = run_playbook(str(playbook), hosts_lab.root, incident_dir, {"live": check}, check=check)
    assert done.returncode == 0, done.stdout[-3000:]
    assert state(host_sh) == "inactive"


def test_a_unit_that_cannot_start_fails_with_its_startup_errors(hosts_lab, unit, host_sh, playbook, incident_dir):
    host_sh(HOST, f"mkdir -p {BROKEN.rsplit('/', 1)[0]} && printf '%s\\n' '[Service]' 'ExecStart='"
                  f" 'ExecStart=/bin/sh -c \"echo FATAL: no configuration at /etc/pynomaly/app.yml >&2; exit 3\"'"
                  f" > {BROKEN} && systemctl daemon-reload")
    done = run_playbook(str(playbook), hosts_lab.root, incident_dir, {"live": True})
    assert done.returncode != 0
    assert f"pynomaly on {HOST} did not come back within 20 s" in done.stdout
    assert "Startup errors:" in done.stdout, done.stdout[-3000:]
    assert "FATAL: no configuration" in done.stdout or "status=3" in done.stdout, done.stdout[-3000:]
    assert "Traceback" not in done.stdout
