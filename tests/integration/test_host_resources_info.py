"""host_resources_info on the lab's application servers: the runbook's htop, df -h and free -h."""

from __future__ import annotations

import uuid

import pytest

HEALTHY = "app-2"  # the lab's faults all break app-1


def mount(result, path):
    return next(m for m in result["resources"]["mounts"] if m["mount"] == path)


def df_percent(host_sh, host, path):
    return int(host_sh(host, f"df --output=pcent {path} | tail -1").stdout.strip().rstrip("%"))


def test_a_healthy_server_lists_its_real_filesystems(host_module, host_sh):
    result = host_module(HEALTHY, "host_resources_info", {"top": 3})
    assert result["changed"] is False
    assert not [f for f in result["findings"] if f["id"].startswith(("host.disk", "host.inodes"))]
    resources = result["resources"]
    mounts = [m["mount"] for m in resources["mounts"]]
    assert "/" in mounts and "/var/log" in mounts and len(mounts) == len(set(mounts))
    assert not [m for m in mounts if m.startswith(("/proc", "/sys", "/dev", "/run"))]
    var_log = mount(result, "/var/log")
    assert var_log["fstype"] == "tmpfs" and var_log["size"] == 32 * 2 ** 20
    assert abs(var_log["used_percent"] - df_percent(host_sh, HEALTHY, "/var/log")) <= 1
    assert resources["cpus"] >= 1 and len(resources["load"]) == 3 and 0 <= resources["cpu_percent"] <= 100
    assert resources["memory"]["total"] > resources["memory"]["available"] > 0
    assert len(resources["top_memory"]) == 3 and len(resources["top_cpu"]) == 3
    rss = [p["rss_bytes"] for p in resources["top_memory"]]
    assert rss == sorted(rss, reverse=True)
    assert any("lab.demo_app" in p["command"] for p in resources["top_memory"])


def test_a_filling_log_disk_is_low_then_full(host_module, host_sh):
    filler = f"/var/log/sre-test-{uuid.uuid4().hex[:8]}"
    used = df_percent(host_sh, HEALTHY, "/var/log")
    try:
        host_sh(HEALTHY, f"head -c {int((88 - used) * 32 * 2 ** 20 / 100)} /dev/zero > {filler}")
        low = host_module(HEALTHY, "host_resources_info", {"mounts": ["/var/log"], "top": 0})
        assert [f["id"] for f in low["findings"] if f["id"].startswith("host.disk")] == ["host.disk_low"]
        full = host_module(HEALTHY, "host_resources_info", {"mounts": ["/var/log"], "disk_critical_percent": 86})
        finding = next(f for f in full["findings"] if f["id"] == "host.disk_full")
        assert finding["severity"] == "critical" and full["status"] == "degraded"
        assert finding["evidence"]["mount"] == "/var/log" and finding["evidence"]["used_percent"] >= 86
        assert finding["evidence"]["available"] == mount(full, "/var/log")["available"]
    finally:
        host_sh(HEALTHY, f"rm -f {filler}")
    assert df_percent(host_sh, HEALTHY, "/var/log") <= used + 1


def test_disk_full_fault_is_critical(host_module, host_sh, fault):
    fault("disk-full")
    assert df_percent(host_sh, "app-1", "/var/log") == 100
    result = host_module("app-1", "host_resources_info", {"top": 5})  # ansible -a "{}" is a raw param
    assert result["failed"] is False, result["_stdout"]
    full = [f for f in result["findings"] if f["id"] == "host.disk_full"]
    assert [f["evidence"]["mount"] for f in full] == ["/var/log"]
    assert full[0]["evidence"]["used_percent"] >= 99 and result["status"] == "degraded"


@pytest.mark.parametrize(("args", "option"), [
    ({"disk_warn_percent": 96}, "disk_warn_percent"),
    ({"memory_warn_percent": 101}, "memory_warn_percent"),
    ({"swap_warn_percent": 0}, "swap_warn_percent"),
    ({"mounts": ["/no/such/path"]}, "mounts"),
])
def test_bad_thresholds_name_the_option(host_module, args, option):
    result = host_module(HEALTHY, "host_resources_info", args)
    assert result["failed"] is True and result["msg"].startswith(option)
