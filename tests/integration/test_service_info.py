"""service_info on the lab's application servers (real systemd, over SSH): the runbook's systemctl status."""

from __future__ import annotations

import uuid

import pytest

HEALTHY = "app-2"  # the lab's faults all break app-1


def active_state(host_sh, host, unit="pynomaly"):
    return host_sh(host, f"systemctl show -p ActiveState --value {unit}").stdout.strip()


def ids(result):
    return [f["id"] for f in result["findings"]]


def test_running_app_is_ok_with_its_process_and_port(host_module, host_sh):
    assert active_state(host_sh, HEALTHY) == "active"
    main_pid = int(host_sh(HEALTHY, "systemctl show -p MainPID --value pynomaly").stdout)
    result = host_module(HEALTHY, "service_info", {"name": "pynomaly", "port": 8000})
    assert result["changed"] is False and result["status"] == "ok", result["findings"]
    service = result["service"]
    assert (service["unit"], service["load_state"], service["active_state"], service["sub_state"]) == (
        "pynomaly.service", "loaded", "active", "running")
    assert service["main_pid"] == main_pid and service["process"]["pid"] == main_pid
    assert "lab.demo_app" in service["process"]["command"] and service["process"]["rss_bytes"] > 0
    assert service["port"] == {"port": 8000, "listening": True}
    assert (service["memory_limit"], service["memory_limit_property"]) == (256 * 2 ** 20, "MemoryLimit")
    assert service["memory_current"] > 0 and service["since"].endswith("Z")
    assert active_state(host_sh, HEALTHY) == "active"  # read-only


def test_check_mode_reads_the_same(host_module):
    result = host_module(HEALTHY, "service_info", {"port": 8000}, check=True)
    assert result["changed"] is False and result["status"] == "ok" and result["service"]["port"]["listening"]


def test_memory_near_the_unit_limit_is_a_warning(host_module):
    result = host_module(HEALTHY, "service_info", {"memory_warn_percent": 1})
    assert result["status"] == "degraded" and ids(result) == ["service.memory_near_limit"]
    evidence = result["findings"][0]["evidence"]
    assert evidence["unit"] == "pynomaly.service" and evidence["property"] == "MemoryLimit"
    assert evidence["memory_limit"] == 256 * 2 ** 20


def test_crashed_app_is_down_failed_and_in_a_restart_loop(host_module, host_sh, fault):
    fault("app-crash")
    assert active_state(host_sh, "app-1") == "failed"
    result = host_module("app-1", "service_info", {"port": 8000})
    assert result["status"] == "down"
    assert ids(result) == ["service.failed", "service.restart_loop"]
    failed = result["findings"][0]
    assert failed["evidence"]["unit"] == "pynomaly.service"
    assert failed["evidence"]["result"] in ("start-limit-hit", "exit-code", "signal", "core-dump")
    assert result["service"]["process"] is None and result["service"]["port"]["listening"] is False
    assert active_state(host_sh, "app-1") == "failed"  # the check changed nothing


def test_active_unit_with_nothing_on_its_port(host_module, host_sh):
    unit = f"sre-test-{uuid.uuid4().hex[:8]}"
    host_sh(HEALTHY, f"systemd-run --unit={unit} /bin/sleep 300")
    try:
        assert active_state(host_sh, HEALTHY, unit) == "active"
        result = host_module(HEALTHY, "service_info", {"name": unit, "port": 8999})
        assert result["status"] == "down" and ids(result) == ["service.port_not_listening"]
        assert result["findings"][0]["evidence"] == {"unit": f"{unit}.service", "port": 8999}
        assert result["service"]["process"]["command"] == "/bin/sleep 300"
    finally:
        host_sh(HEALTHY, f"systemctl stop {unit}")
    stopped = host_module(HEALTHY, "service_info", {"name": unit})
    assert ids(stopped) in (["service.not_found"], ["service.inactive"])  # a transient unit is gone once stopped


def test_missing_unit_is_a_finding_not_a_failure(host_module):
    result = host_module(HEALTHY, "service_info", {"name": "no-such-app"})
    assert result["failed"] is False and result["status"] == "down"
    assert ids(result) == ["service.not_found"]
    assert result["findings"][0]["evidence"]["unit"] == "no-such-app.service"


@pytest.mark.parametrize(("args", "option"), [({"name": "app; reboot"}, "name"), ({"port": 70000}, "port"),
                                              ({"memory_warn_percent": 0}, "memory_warn_percent")])
def test_bad_arguments_name_the_option(host_module, args, option):
    result = host_module(HEALTHY, "service_info", args)
    assert result["failed"] is True and result["msg"].startswith(option)
