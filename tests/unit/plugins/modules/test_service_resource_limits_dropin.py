"""service_resource_limits' pure parts: sizes and percentages as systemd reads them, the drop-in, the guards."""

from decimal import Decimal

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.errors import GuardRefused, RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.host import unit_name
from ansible_collections.sre.runbooks.plugins.modules.service_resource_limits import (
    HEADER,
    check_drop_in,
    check_guards,
    format_percent,
    format_size,
    memory_property,
    parse_percent,
    parse_size,
    quota_percent,
    render,
    reports,
    settled,
    state,
)

PARAMS = {"memory_max": "512M", "memory_cap": "1G", "cpu_quota": "200%", "cpu_quota_cap": "200%"}
LOADED = {"LoadState": "loaded", "MemoryCurrent": "[not set]"}


def asked(memory=512 * 1024 ** 2, quota=Decimal(200)):
    return {"memory_max": memory, "memory": 1024 ** 3, "cpu_quota": quota, "quota": Decimal(200)}


@pytest.mark.parametrize(("text", "size"), [
    ("512M", 512 * 1024 ** 2), ("4G", 4 * 1024 ** 3), ("1.5G", 1610612736), ("1048576", 1048576), ("64K", 65536),
    ("1T", 1024 ** 4),
])
def test_parse_size_reads_systemd_sizes(text, size):
    assert parse_size(text, "memory_max") == size


@pytest.mark.parametrize("text", ["4X", "-1", "0", "", "4 G", "4g", "0.0001K", "lots"])
def test_bad_size_fails_naming_the_option(text):
    with pytest.raises(RunbookError) as caught:
        parse_size(text, "memory_cap")
    assert caught.value.msg.startswith("memory_cap must be a size like 512M or 4G")
    assert caught.value.details == {"option": "memory_cap"}


@pytest.mark.parametrize(("text", "percent"), [("200%", Decimal(200)), ("12.5%", Decimal("12.5")),
                                               ("0.01%", Decimal("0.01"))])
def test_parse_percent(text, percent):
    assert parse_percent(text, "cpu_quota") == percent


@pytest.mark.parametrize("text", ["200", "0%", "-5%", "1.234%", "two%", ""])
def test_bad_percent_fails_naming_the_option(text):
    with pytest.raises(RunbookError, match="^cpu_quota must be a percentage like 200%"):
        parse_percent(text, "cpu_quota")


@pytest.mark.parametrize(("shown", "percent"), [
    ("2s", "200%"), ("1.500000s", "150%"), ("330ms", "33%"), ("125ms", "12.5%"), ("10s", "1000%"),
    ("100us", "0.01%"), ("3.333300s", "333.33%"), ("1min 40s", "10000%"), ("infinity", None), ("", None),
])
def test_quota_percent_reads_cpu_quota_per_sec(shown, percent):
    assert quota_percent(shown) == percent


def test_format_percent_and_size():
    assert format_percent(Decimal("200.00")) == "200%"
    assert format_percent(Decimal("12.50")) == "12.5%"
    assert (format_size(4 * 1024 ** 3), format_size(1536 * 1024), format_size(1000)) == ("4G", "1536K", "1000B")


def test_unit_name_adds_service_and_refuses_paths():
    assert unit_name("pynomaly") == "pynomaly.service"
    assert unit_name("pynomaly.service") == "pynomaly.service"
    assert unit_name("app.slice") == "app.slice"
    with pytest.raises(RunbookError, match="^name: "):
        unit_name("../etc/passwd")
    with pytest.raises(RunbookError, match="^name: "):
        unit_name("app; reboot")


@pytest.mark.parametrize("name", ["a/b.conf", "limits.txt", ".conf", "../x.conf"])
def test_drop_in_is_a_plain_conf_name(name):
    with pytest.raises(RunbookError, match="^drop_in must be a plain file name ending in .conf"):
        check_drop_in(name)


def test_memory_property_follows_the_memory_controller(tmp_path):
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "cgroup.controllers").write_text("cpu io memory pids\n")
    assert memory_property(str(tmp_path / "v2")) == "MemoryMax"
    (tmp_path / "hybrid" / "unified").mkdir(parents=True)
    (tmp_path / "hybrid" / "unified" / "cgroup.controllers").write_text("\n")
    assert memory_property(str(tmp_path / "hybrid")) == "MemoryLimit"
    (tmp_path / "hybrid" / "unified" / "cgroup.controllers").write_text("memory pids\n")
    assert memory_property(str(tmp_path / "hybrid")) == "MemoryMax"
    (tmp_path / "v1").mkdir()
    assert memory_property(str(tmp_path / "v1")) == "MemoryLimit"
    # a unit that sets MemoryMax keeps it on cgroup v1 too: systemd applies it over any MemoryLimit
    assert memory_property(str(tmp_path / "v1"), {"MemoryMax": "268435456"}) == "MemoryMax"
    assert memory_property(str(tmp_path / "v1"), {"MemoryMax": "infinity"}) == "MemoryLimit"


def test_render_writes_what_systemctl_edit_would():
    assert render("MemoryLimit", "4G", "200%") == HEADER + "[Service]\nMemoryLimit=4G\nCPUQuota=200%\n"
    assert render("MemoryMax", None, "150%") == HEADER + "[Service]\nCPUQuota=150%\n"
    assert HEADER.startswith("#") and HEADER.endswith("\n")


def test_state_prefers_memory_max_and_reads_the_quota():
    props = {"MemoryMax": "infinity", "MemoryLimit": "4294967296", "CPUQuotaPerSecUSec": "2s", "ActiveState": "active"}
    assert state(props, "x") == {"drop_in": "x", "memory_limit": 4294967296, "cpu_quota": "200%",
                                 "active_state": "active"}
    props.update(MemoryMax="536870912")
    assert state(props, "")["memory_limit"] == 536870912
    assert state({"MemoryMax": "infinity", "MemoryLimit": "infinity", "CPUQuotaPerSecUSec": "infinity"}, "")[
        "memory_limit"] is None


def test_reports_looks_only_at_what_was_asked():
    seen = {"memory_limit": None, "cpu_quota": "200%"}
    assert reports(seen, {"cpu_quota": "200%"})
    assert not reports(seen, {"cpu_quota": "200%", "memory_limit": 1024})


def test_guards_pass_within_caps():
    check_guards(PARAMS, "pynomaly.service", dict(LOADED, MemoryCurrent="104857600"), asked())


def test_refuses_memory_above_cap():
    with pytest.raises(GuardRefused) as caught:
        check_guards(dict(PARAMS, memory_max="2G"), "pynomaly.service", LOADED, asked(memory=2 * 1024 ** 3))
    assert caught.value.details == {"guard": "within memory_cap"}
    assert "memory_max=2G is above memory_cap=1G" in caught.value.msg


def test_refuses_cpu_quota_above_cap():
    with pytest.raises(GuardRefused, match=r"cpu_quota=300% is above cpu_quota_cap=200%"):
        check_guards(dict(PARAMS, cpu_quota="300%"), "pynomaly.service", LOADED, asked(quota=Decimal(300)))


def test_refuses_memory_below_current_use():
    with pytest.raises(GuardRefused) as caught:
        check_guards(PARAMS, "pynomaly.service", dict(LOADED, MemoryCurrent=str(600 * 1024 ** 2)), asked())
    assert caught.value.details == {"guard": "not below current use"}
    assert "uses 600M now" in caught.value.msg


@pytest.mark.parametrize("load", ["not-found", "masked"])
def test_refuses_a_unit_that_is_not_loaded(load):
    with pytest.raises(GuardRefused, match=f"LoadState={load}"):
        check_guards(PARAMS, "nosuch.service", {"LoadState": load}, asked())


def test_only_asked_limits_are_guarded():
    check_guards(PARAMS, "pynomaly.service", dict(LOADED, MemoryCurrent=str(8 * 1024 ** 3)), asked(memory=None))


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_restarted_unit_must_keep_its_main_process_to_be_confirmed():
    clock = Clock()
    ready = settled({"cpu_quota": "200%"}, True, 2.0, clock)
    running = {"cpu_quota": "200%", "active_state": "active", "sub_state": "running", "main_pid": "100"}
    assert not ready(dict(running, cpu_quota=None))
    assert not ready(running)
    clock.now = 1.5
    assert not ready(dict(running, main_pid="101"))  # restarted by systemd: counted again
    clock.now = 3.0
    assert not ready(dict(running, main_pid="101"))
    clock.now = 3.6
    assert ready(dict(running, main_pid="101"))
    clock.now = 4.0
    assert not ready(dict(running, active_state="activating", sub_state="auto-restart"))


def test_without_restart_only_the_values_count():
    ready = settled({"memory_limit": 1024}, False, 2.0, Clock())
    assert ready({"memory_limit": 1024, "active_state": "failed", "sub_state": "failed", "main_pid": "0"})
