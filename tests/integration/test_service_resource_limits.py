"""service_resource_limits on the lab's application servers (real systemd, over SSH): Scenario 1's
`systemctl edit pynomaly` ([Service] MemoryLimit=, CPUQuota=) and `systemctl restart pynomaly`."""

from __future__ import annotations

import pytest

from lab import hosts

HEALTHY = "app-2"  # the lab's faults all break app-1
UNIT = "pynomaly.service"
DROP_IN = f"/etc/systemd/system/{UNIT}.d/50-sre-runbooks-limits.conf"
LIMITS = {"memory_max": "512M", "memory_cap": "1G", "cpu_quota": "200%", "cpu_quota_cap": "200%"}
LAB_LIMIT = 256 * 2 ** 20  # the lab unit's own MemoryLimit=256M


def show(host_sh, host, *names):
    out = host_sh(host, f"systemctl show pynomaly -p {','.join(names)}").stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def drop_in(host_sh, host):
    done = host_sh(host, f"cat {DROP_IN}")
    return done.stdout if done.returncode == 0 else None


@pytest.fixture
def restore(hosts_lab, host_sh):
    """The unit as the lab made it on each host touched: no drop-ins of ours, active."""
    touched = []
    yield touched.append
    for host in touched:
        host_sh(host, f"rm -f {DROP_IN}; systemctl daemon-reload; systemctl reset-failed pynomaly; "
                      "systemctl restart pynomaly")
        hosts.wait_unit(hosts_lab, host, ("active",))


def test_check_mode_shows_the_drop_in_and_changes_nothing(host_module, host_sh, restore):
    restore(HEALTHY)
    before = show(host_sh, HEALTHY, "MainPID", "MemoryLimit", "CPUQuotaPerSecUSec")
    assert drop_in(host_sh, HEALTHY) is None and before["MemoryLimit"] == str(LAB_LIMIT)
    result = host_module(HEALTHY, "service_resource_limits", LIMITS, check=True, diff=True)
    assert result["failed"] is False and result["changed"] is True and result["check_mode"] is True
    assert result["drop_in"].endswith("[Service]\nMemoryLimit=512M\nCPUQuota=200%\n")
    assert f"--- before: {DROP_IN}" in result["_stdout"] and "@@ -0,0 +1,4 @@" in result["_stdout"]
    assert "+MemoryLimit=512M\n+CPUQuota=200%" in result["_stdout"]
    assert (result["drop_in_path"], result["memory_property"], result["restarted"]) == (DROP_IN, "MemoryLimit", True)
    assert result["before"]["memory_limit"] == LAB_LIMIT and result["after"]["memory_limit"] == 512 * 2 ** 20
    assert result["actions"][0].startswith(f"Write {DROP_IN}") and result["actions"][-1] == f"Restart {UNIT}"
    assert drop_in(host_sh, HEALTHY) is None
    assert show(host_sh, HEALTHY, "MainPID", "MemoryLimit", "CPUQuotaPerSecUSec") == before


def test_sets_the_limits_restarts_and_a_second_run_changes_nothing(host_module, host_sh, restore):
    restore(HEALTHY)
    old_pid = show(host_sh, HEALTHY, "MainPID")["MainPID"]
    result = host_module(HEALTHY, "service_resource_limits", LIMITS)
    assert result["failed"] is False and result["changed"] is True, result.get("msg")
    assert result["restarted"] is True and result["duration"] >= 0
    assert result["after"] == {"drop_in": result["drop_in"], "memory_limit": 512 * 2 ** 20, "cpu_quota": "200%",
                               "active_state": "active"}
    assert drop_in(host_sh, HEALTHY) == result["drop_in"]
    now = show(host_sh, HEALTHY, "MainPID", "MemoryLimit", "CPUQuotaPerSecUSec", "ActiveState", "SubState")
    assert (now["MemoryLimit"], now["CPUQuotaPerSecUSec"], now["ActiveState"], now["SubState"]) == (
        str(512 * 2 ** 20), "2s", "active", "running")
    assert now["MainPID"] != old_pid

    again = host_module(HEALTHY, "service_resource_limits", LIMITS)
    assert again["changed"] is False and again["actions"] == [] and again["restarted"] is False
    assert again["msg"].endswith("nothing to do.")
    assert show(host_sh, HEALTHY, "MainPID")["MainPID"] == now["MainPID"]


def test_a_limit_left_out_is_removed_from_the_drop_in(host_module, host_sh, restore):
    restore(HEALTHY)
    host_module(HEALTHY, "service_resource_limits", dict(LIMITS, restart=False))
    result = host_module(HEALTHY, "service_resource_limits", {"cpu_quota": "150%", "cpu_quota_cap": "200%",
                                                              "restart": False})
    assert result["changed"] is True and result["restarted"] is False
    assert drop_in(host_sh, HEALTHY).endswith("[Service]\nCPUQuota=150%\n")
    now = show(host_sh, HEALTHY, "MemoryLimit", "CPUQuotaPerSecUSec")
    assert now == {"MemoryLimit": str(LAB_LIMIT), "CPUQuotaPerSecUSec": "1.500000s"}


@pytest.mark.parametrize(("args", "guard"), [
    (dict(LIMITS, memory_max="2G"), "within memory_cap"),
    (dict(LIMITS, cpu_quota="400%"), "within cpu_quota_cap"),
    (dict(LIMITS, name="no-such-app"), "unit loaded"),
])
def test_guards_refuse_and_change_nothing(host_module, host_sh, args, guard):
    pid = show(host_sh, HEALTHY, "MainPID")["MainPID"]
    result = host_module(HEALTHY, "service_resource_limits", args)
    assert result["failed"] is True and result["changed"] is False and result["guard"] == guard
    assert result["msg"].startswith(f"Refused ({guard}): ")
    assert drop_in(host_sh, HEALTHY) is None and show(host_sh, HEALTHY, "MainPID")["MainPID"] == pid


def test_refuses_a_limit_below_what_the_app_uses_now(host_module, host_sh):
    current = show(host_sh, HEALTHY, "MemoryCurrent")["MemoryCurrent"]
    if not current.isdigit():
        pytest.skip(f"systemd does not know the unit's memory use on this host (MemoryCurrent={current})")
    result = host_module(HEALTHY, "service_resource_limits", dict(LIMITS, memory_max="1M"))
    assert result["failed"] is True and result["guard"] == "not below current use"
    assert drop_in(host_sh, HEALTHY) is None


@pytest.mark.parametrize(("args", "option"), [
    (dict(LIMITS, memory_max="4X"), "memory_max"), (dict(LIMITS, memory_max="-1"), "memory_max"),
    (dict(LIMITS, memory_max="0"), "memory_max"), (dict(LIMITS, cpu_quota="2"), "cpu_quota"),
    (dict(LIMITS, drop_in="../evil.conf"), "drop_in"),
])
def test_bad_arguments_name_the_option(host_module, host_sh, args, option):
    result = host_module(HEALTHY, "service_resource_limits", args)
    assert result["failed"] is True and result["changed"] is False and result["msg"].startswith(f"{option} must")
    assert drop_in(host_sh, HEALTHY) is None


def test_oom_killed_app_comes_back_with_more_memory(host_module, host_sh, fault, restore):
    restore("app-1")
    fault("app-oom")  # needs 400M at startup, past the unit's 256M: OOM-killed until the unit failed
    assert show(host_sh, "app-1", "ActiveState")["ActiveState"] == "failed"
    result = host_module("app-1", "service_resource_limits", LIMITS)
    assert result["failed"] is False and result["changed"] is True, result.get("msg")
    assert f"Clear the failed state of {UNIT} (reset-failed), so that systemd starts it again" in result["actions"]
    assert result["before"]["active_state"] == "failed" and result["after"]["active_state"] == "active"
    now = show(host_sh, "app-1", "ActiveState", "SubState", "MemoryLimit")
    assert now == {"ActiveState": "active", "SubState": "running", "MemoryLimit": str(512 * 2 ** 20)}
