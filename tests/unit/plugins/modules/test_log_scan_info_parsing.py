"""How log_scan_info reads the end of a log, counts patterns, finds OOM kills and masks secrets."""

import re

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.modules.log_scan_info import (
    DEFAULT_PATTERNS,
    assess,
    attributed,
    compile_patterns,
    dmesg_since,
    oom_findings,
    oom_lines,
    read_command,
    read_file,
    scan,
    source_entry,
    stamp,
)

KERNEL = [
    "2026-11-27T10:00:00+0000 app-1 kernel: python3 invoked oom-killer: gfp_mask=0x140cca, order=0",
    "2026-11-27T10:00:00+0000 app-1 kernel: Out of memory: Killed process 812 (python3) total-vm:1024kB",
    "2026-11-27T10:00:01+0000 app-1 kernel: Memory cgroup out of memory: Killed process 901 (gunicorn: work)",
    "2026-11-27T10:00:02+0000 app-1 kernel: eth0: link up",
]
UNIT = [
    ("2026-11-27T10:00:00+0000 app-1 systemd[1]: pynomaly.service: A process of this unit has been killed by the "
     "OOM killer."),
    "2026-11-27T10:00:00+0000 app-1 systemd[1]: pynomaly.service: Failed with result 'oom-kill'.",
    "2026-11-27T10:00:05+0000 app-1 systemd[1]: pynomaly.service: Scheduled restart job, restart counter is at 1.",
]


class FakeModule:
    """run_command answers with what a command would print."""

    def __init__(self, rc=0, out="", err=""):
        self.answer = (rc, out, err)
        self.calls = []

    def run_command(self, argv, data=None, environ_update=None):
        self.calls.append(argv)
        return self.answer


def test_default_patterns_match_the_runbook_greps_ignoring_case():
    patterns = compile_patterns(DEFAULT_PATTERNS)
    assert patterns["error"].search("FATAL: boom") and patterns["error"].search("Unhandled Exception")
    assert patterns["connection"].search("Connection reset by peer")
    assert not patterns["error"].search("all good")


def test_a_bad_pattern_names_itself():
    with pytest.raises(RunbookError) as raised:
        compile_patterns({"ok": "a", "broken": "(unclosed"})
    assert raised.value.msg.startswith("patterns.broken: '(unclosed' is not a regular expression")
    assert raised.value.details == {"option": "patterns"}


def test_the_last_lines_of_a_small_file(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("".join(f"line {i}\n" for i in range(10)))
    entry, lines = read_file(str(log), 3, 1048576)
    assert lines == ["line 7", "line 8", "line 9"]
    assert entry["lines_read"] == 3 and entry["bytes_read"] == log.stat().st_size and entry["truncated"] is True


def test_max_bytes_reads_from_the_end_and_drops_the_partial_line(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("a" * 5000 + "\nlast line\n")
    entry, lines = read_file(str(log), 500, 1024)
    assert lines == ["last line"] and entry["bytes_read"] == 1024 and entry["truncated"] is True


def test_a_whole_file_is_not_truncated(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"one\n\xff\xfe bad bytes\n")
    entry, lines = read_file(str(log), 500, 1048576)
    assert entry["truncated"] is False and lines[0] == "one" and len(lines) == 2


def test_a_missing_file_is_unreadable_with_the_reason(tmp_path):
    entry, lines = read_file(str(tmp_path / "nope.log"), 500, 1024)
    assert lines == [] and entry["readable"] is False and entry["reason"] == "No such file or directory"


def test_scan_counts_and_keeps_the_last_matches_masked():
    entry = source_entry("/var/log/app.log")
    lines = ["ERROR one", "ok", "ERROR db password=hunter2", "connection refused", "Error three"]
    scan(entry, lines, compile_patterns(DEFAULT_PATTERNS), 2)
    assert entry["counts"] == {"error": 3, "connection": 1}
    assert entry["last_matches"]["error"] == ["ERROR db password=***", "Error three"]
    assert "hunter2" not in repr(entry)


def test_scan_keeps_no_line_with_last_matches_zero():
    entry = source_entry("x")
    scan(entry, ["error"], compile_patterns({"error": "error"}), 0)
    assert entry["counts"] == {"error": 1} and entry["last_matches"] == {"error": []}


def test_kernel_oom_kills_with_pid_and_process():
    kills = oom_lines(KERNEL)
    assert [(k["pid"], k["process"]) for k in kills] == [(812, "python3"), (901, "gunicorn: work")]


def test_systemd_oom_lines_count_for_the_unit():
    kills = oom_lines(UNIT, "pynomaly.service")
    assert len(kills) == 2 and {(k["pid"], k["process"]) for k in kills} == {(None, "pynomaly.service")}


def test_one_oom_finding_per_killed_process():
    findings = oom_findings(oom_lines(KERNEL) + oom_lines(UNIT, "pynomaly.service"))
    assert [f["evidence"]["process"] for f in findings] == ["python3", "gunicorn: work", "pynomaly.service"]
    assert {f["severity"] for f in findings} == {"critical"}
    assert findings[0]["summary"] == "The kernel killed python3 (pid 812) for lack of memory"
    assert findings[2]["evidence"]["count"] == 2 and findings[2]["evidence"]["pid"] is None


def test_findings_per_source_and_pattern_and_an_unreadable_kernel_log_is_info():
    app = source_entry("/var/log/app.log")
    scan(app, ["ERROR x", "ERROR y"], compile_patterns(DEFAULT_PATTERNS), 10)
    missing = source_entry("/var/log/nginx/access.log", False, "No such file or directory")
    kernel = source_entry("kernel", False, "dmesg: read kernel buffer failed: Operation not permitted")
    findings = assess([app, missing, kernel], [], kernel)
    assert [(f["id"], f["severity"]) for f in findings] == [
        ("log.pattern_found", "info"), ("log.source_unreadable", "warning"), ("log.kernel_log_unreadable", "info")]
    assert findings[0]["evidence"] == {"source": "/var/log/app.log", "pattern": "error", "count": 2,
                                       "last": "ERROR y"}
    assert "OOM kills" in findings[2]["summary"]


def test_journal_output_is_limited_and_a_full_page_may_have_more():
    module = FakeModule(out="".join(f"2026-11-27T10:00:0{i}+0000 app-1 app[9]: line {i}\n" for i in range(5)))
    entry, lines = read_command(module, "journal:pynomaly.service",
                                ["journalctl", "-u", "pynomaly.service", "--since", "1 hour ago", "-n", "5"], 5, 1024)
    assert len(lines) == 5 and entry["truncated"] is True and entry["readable"] is True


def test_a_journal_that_cannot_be_read_is_unreadable_not_a_failure():
    module = FakeModule(rc=1, err="No journal files were found.\n")
    entry, lines = read_command(module, "kernel", ["journalctl", "-k", "--since", "1 hour ago"], 5, 1024)
    assert lines == [] and entry["readable"] is False and entry["reason"] == "No journal files were found."


@pytest.mark.parametrize(("tool", "err"), [("journalctl", "Failed to parse timestamp: soon"),
                                           ("dmesg", 'dmesg: invalid time value "soon"')])
def test_a_bad_since_names_the_option(tool, err):
    with pytest.raises(RunbookError) as raised:
        read_command(FakeModule(rc=1, err=err), "kernel", [f"/usr/bin/{tool}", "--since", "soon"], 5, 1024)
    assert raised.value.details == {"option": "since"}
    assert re.match(rf"since: 'soon' is not a time {tool} understands", raised.value.msg)


def test_a_kernel_oom_kill_counts_for_the_unit_only_when_its_process_was_killed_then():
    kernel = [("2026-11-27T22:00:02,551234+00:00 Memory cgroup out of memory: Killed process 4242 (python3) "
              "total-vm:306100kB"), "2026-11-27T21:10:00,000001+00:00 Out of memory: Killed process 77 (backup)"]
    unit = [("2026-11-27T22:00:03+0000 app-1 systemd[1]: pynomaly.service: Main process exited, code=killed, "
            "status=9/KILL")]
    kills = attributed(oom_lines(kernel), unit)
    assert [(k["pid"], k["process"]) for k in kills] == [(4242, "python3")]
    assert attributed(oom_lines(kernel), []) == []


def test_stamps_of_journal_and_dmesg_lines_compare_across_zones():
    assert stamp("2026-11-27T22:00:02+0000 host x") == stamp("2026-11-27T23:00:02,5+01:00 y")
    assert stamp("no time here") is None


def test_dmesg_gets_a_utc_time_in_local_time_and_relative_times_as_they_are(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    assert dmesg_since("2026-11-27 22:00:00 UTC") == "2026-11-27 22:00:00"
    assert dmesg_since("1 hour ago") == "1 hour ago"
