"""What service_info makes of systemd's view of a unit (systemctl show properties)."""

import pytest

from ansible_collections.sre.runbooks.plugins.modules.service_info import assess, cpu_quota, describe, memory_limit

ACTIVE = {"Id": "pynomaly.service", "LoadState": "loaded", "ActiveState": "active", "SubState": "running",
          "Result": "success", "NRestarts": "0", "MainPID": "0", "ExecMainCode": "0", "ExecMainStatus": "0",
          "StateChangeTimestamp": "Fri 2026-11-27 21:52:14 UTC", "MemoryCurrent": "104857600",
          "MemoryMax": "209715200", "MemoryLimit": "infinity", "CPUQuotaPerSecUSec": "2s",
          "DropInPaths": "/etc/systemd/system/pynomaly.service.d/a.conf /run/systemd/system/pynomaly.service.d/b.conf",
          "FragmentPath": "/etc/systemd/system/pynomaly.service", "ControlGroup": "/system.slice/pynomaly.service"}


def service(port=None, listening=None, **props):
    return describe(dict(ACTIVE, **props), port, listening)


def ids(svc, threshold=3, memory_warn=90):
    return [f["id"] for f in assess(svc, threshold, memory_warn)]


@pytest.mark.parametrize(("value", "expected"), [
    ("2s", "200%"), ("500ms", "50%"), ("1s 500ms", "150%"), ("infinity", None), ("", None), (None, None)])
def test_cpu_quota_as_systemctl_status_shows_it(value, expected):
    assert cpu_quota(value) == expected


def test_memory_limit_prefers_memory_max_then_the_cgroup_v1_limit():
    assert memory_limit({"MemoryMax": "100", "MemoryLimit": "200"}) == (100, "MemoryMax")
    assert memory_limit({"MemoryMax": "infinity", "MemoryLimit": "200"}) == (200, "MemoryLimit")
    assert memory_limit({"MemoryMax": "infinity", "MemoryLimit": "infinity"}) == (None, None)


def test_a_healthy_service_has_no_finding():
    svc = service(port=8000, listening=True)
    assert ids(svc) == []
    assert svc["since"] == "2026-11-27T21:52:14Z" and svc["cpu_quota"] == "200%"
    assert svc["drop_ins"] == ["/etc/systemd/system/pynomaly.service.d/a.conf",
                               "/run/systemd/system/pynomaly.service.d/b.conf"]
    assert svc["memory_current_source"] == "cgroup" and svc["main_pid"] is None and svc["process"] is None
    assert svc["port"] == {"port": 8000, "listening": True}


def test_a_missing_unit_is_only_not_found():
    svc = service(LoadState="not-found", ActiveState="inactive", SubState="dead", NRestarts="9")
    findings = assess(svc, 3, 90)
    assert [f["id"] for f in findings] == ["service.not_found"]
    assert findings[0]["evidence"]["unit"] == "pynomaly.service"


def test_a_failed_unit_says_how_it_ended():
    svc = service(ActiveState="failed", SubState="failed", Result="exit-code", ExecMainCode="1", ExecMainStatus="1")
    (failed,) = assess(svc, 3, 90)
    assert failed["id"] == "service.failed" and failed["severity"] == "critical"
    assert failed["evidence"] == {"unit": "pynomaly.service", "result": "exit-code", "exit_code": "exited",
                                  "exit_status": 1}
    assert failed["summary"] == "pynomaly.service failed (result exit-code, exited with status 1)"


def test_a_unit_killed_by_the_oom_killer():
    svc = service(ActiveState="failed", Result="oom-kill", ExecMainCode="2", ExecMainStatus="9")
    (failed,) = assess(svc, 3, 90)
    assert failed["evidence"]["result"] == "oom-kill" and "killed by signal 9" in failed["summary"]


def test_start_limit_hit_is_a_restart_loop_below_the_threshold():
    svc = service(ActiveState="failed", Result="start-limit-hit", NRestarts="1")
    assert ids(svc) == ["service.failed", "service.restart_loop"]


def test_restarts_at_the_threshold_are_a_loop_even_while_active():
    assert ids(service(NRestarts="3")) == ["service.restart_loop"]
    assert ids(service(NRestarts="2")) == []


@pytest.mark.parametrize(("state", "sub"), [("inactive", "dead"), ("activating", "auto-restart"),
                                            ("deactivating", "stop-sigterm")])
def test_a_unit_not_active_is_inactive(state, sub):
    (inactive,) = assess(service(ActiveState=state, SubState=sub), 3, 90)
    assert inactive["id"] == "service.inactive" and f"is {state} ({sub})" in inactive["summary"]


def test_port_not_listening_only_counts_while_active():
    assert ids(service(port=8000, listening=False)) == ["service.port_not_listening"]
    assert ids(service(port=8000, listening=False, ActiveState="inactive")) == ["service.inactive"]


def test_memory_near_the_limit_is_a_warning():
    (near,) = assess(service(MemoryCurrent="199229440"), 3, 90)
    assert near["id"] == "service.memory_near_limit" and near["severity"] == "warning"
    assert near["evidence"] == {"unit": "pynomaly.service", "memory_current": 199229440, "memory_limit": 209715200,
                                "property": "MemoryMax", "used_percent": 95.0}
    assert ids(service(MemoryCurrent="104857600"), memory_warn=50) == ["service.memory_near_limit"]
    assert ids(service(MemoryCurrent="199229440", MemoryMax="infinity")) == []
