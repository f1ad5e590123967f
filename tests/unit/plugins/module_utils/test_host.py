"""The host-tier helpers that read systemd's and /proc's text."""

import os

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.host import (
    listening_ports,
    parse_proc_stat,
    parse_show,
    process_info,
    systemd_time,
    to_int,
    unit_name,
)

TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31362 1 0 100 0 0 10 0
   1: 0100007F:1F40 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 32176 1 0 100 0 0 10 0
"""
TCP6 = """  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:1F41 00000000000000000000000000000000:0000 0A 00000000:00000000
"""


@pytest.mark.parametrize(("name", "expected"), [
    ("pynomaly", "pynomaly.service"),
    ("pynomaly.service", "pynomaly.service"),
    ("nginx.socket", "nginx.socket"),
    ("app@1", "app@1.service"),
    ("my.app", "my.app.service"),
])
def test_unit_name_adds_service_only_without_a_unit_type(name, expected):
    assert unit_name(name) == expected


@pytest.mark.parametrize("name", ["", "a b", "a;rm -rf /", "$(x)"])
def test_unit_name_refuses_what_is_not_a_unit_naming_the_option(name):
    with pytest.raises(RunbookError) as raised:
        unit_name(name, option="unit")
    assert raised.value.details == {"option": "unit"} and raised.value.msg.startswith("unit: ")


def test_only_listening_sockets_count_on_ipv4_and_ipv6():
    assert listening_ports([TCP, TCP6]) == {22, 8001}


def test_systemd_times_become_iso_utc():
    assert systemd_time("Fri 2026-11-27 21:52:14 UTC") == "2026-11-27T21:52:14Z"
    assert systemd_time("") is None and systemd_time("n/a") is None and systemd_time(None) is None


def test_parse_show_keeps_equals_signs_in_values():
    assert parse_show("ExecStart={ path=/bin/x ; argv[]=/bin/x a=b }\nId=x.service\n") == {
        "ExecStart": "{ path=/bin/x ; argv[]=/bin/x a=b }", "Id": "x.service"}


def test_to_int_maps_systemd_sentinels_to_the_default():
    assert to_int("209715200") == 209715200
    assert to_int("infinity") is None and to_int("[not set]") is None and to_int("") is None
    assert to_int(str(2 ** 64 - 1), 0) == 0


def test_proc_stat_command_names_may_hold_spaces_and_parentheses():
    comm, fields = parse_proc_stat("42 (my (odd) app) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 500 1 2\n")
    assert comm == "my (odd) app"
    assert fields[0] == "S" and fields[11:13] == ["7", "3"] and fields[19] == "500"


def test_process_info_of_this_process():
    info = process_info(os.getpid())
    assert info["pid"] == os.getpid() and info["rss_bytes"] > 0
    assert "python" in info["command"] or "pytest" in info["command"]
    assert info["started"].endswith("Z")


def test_process_info_of_a_process_that_is_gone():
    assert process_info(2 ** 22 + 12345) is None
