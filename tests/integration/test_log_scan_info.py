"""log_scan_info on the lab's application servers: the runbook's tail | grep, journalctl -u and dmesg."""

from __future__ import annotations

import uuid

import pytest

HEALTHY = "app-2"  # the lab's faults all break app-1
APP_LOG = "/var/log/pynomaly/application.log"


def source(result, name):
    return next(s for s in result["sources"] if s["source"] == name)


def test_errors_in_a_log_are_counted_and_secrets_never_leave_the_host(host_module, host_sh):
    path = f"/var/log/sre-test-{uuid.uuid4().hex[:8]}.log"
    host_sh(HEALTHY, f"for i in $(seq 1 600); do echo \"INFO request $i served\"; done > {path}; "
                     f"echo 'ERROR db: connection refused postgres://app:hunter2secret@db:5432/app' >> {path}; "
                     f"echo 'FATAL exception in worker token=tok-hunter2secret' >> {path}")
    try:
        result = host_module(HEALTHY, "log_scan_info", {"paths": [path, APP_LOG], "kernel": False})
    finally:
        host_sh(HEALTHY, f"rm -f {path}")
    # matching lines are evidence (info), not a fault: the check stays ok
    assert result["changed"] is False and result["status"] == "ok"
    scanned = source(result, path)
    assert scanned["readable"] and scanned["lines_read"] == 500 and scanned["truncated"] is True
    assert scanned["counts"] == {"error": 2, "connection": 1}
    assert scanned["last_matches"]["connection"] == ["ERROR db: connection refused postgres://***:***@db:5432/app"]
    assert "hunter2secret" not in result["_stdout"]
    found = [f["evidence"] for f in result["findings"] if f["id"] == "log.pattern_found" and
             f["evidence"]["source"] == path]
    assert {(e["pattern"], e["count"]) for e in found} == {("error", 2), ("connection", 1)}
    assert source(result, APP_LOG)["readable"] is True
    assert result["kernel_log_readable"] is None


def test_the_units_journal_is_read(host_module):
    result = host_module(HEALTHY, "log_scan_info", {"unit": "pynomaly", "since": "1 day ago", "kernel": False})
    journal = source(result, "journal:pynomaly.service")
    assert journal["readable"] is True and journal["reason"] is None
    assert not [f for f in result["findings"] if f["id"] == "log.source_unreadable"]


def test_a_missing_log_is_a_warning_not_a_failure(host_module, host_sh):
    assert host_sh(HEALTHY, "test -e /var/log/nginx/nothing.log").returncode != 0
    result = host_module(HEALTHY, "log_scan_info", {"paths": ["/var/log/nginx/nothing.log"], "kernel": False})
    assert result["failed"] is False and result["status"] == "degraded"
    [unreadable] = result["findings"]
    assert unreadable["id"] == "log.source_unreadable" and unreadable["severity"] == "warning"
    assert unreadable["evidence"] == {"source": "/var/log/nginx/nothing.log", "reason": "No such file or directory"}


def test_crash_shows_in_the_units_journal(host_module, fault):
    fault("app-crash")
    result = host_module("app-1", "log_scan_info", {"unit": "pynomaly", "since": "5 min ago", "kernel": False,
                                                    "patterns": {"fatal": "(?i)fatal|abort|failed"}})
    journal = source(result, "journal:pynomaly.service")
    assert journal["counts"]["fatal"] > 0
    assert any(f["id"] == "log.pattern_found" and f["evidence"]["source"] == "journal:pynomaly.service"
               for f in result["findings"])


def test_oom_kill_is_found_in_the_kernel_log(host_module, fault):
    fault("app-oom")
    result = host_module("app-1", "log_scan_info", {"unit": "pynomaly", "since": "10 min ago", "patterns": {}})
    if not result["kernel_log_readable"]:
        assert "log.kernel_log_unreadable" in [f["id"] for f in result["findings"]]
        pytest.skip("the kernel log cannot be read inside the lab's hosts here")
    kills = [f for f in result["findings"] if f["id"] == "log.oom_kill"]
    # the kill of the unit's last run is the outage; kills before that run started (systemd restarted it after
    # them, up to its start limit) are records of it
    assert any(f["severity"] == "critical" and not f["evidence"]["before_current_run"] for f in kills), kills
    assert all((f["severity"] == "info") == f["evidence"]["before_current_run"] for f in kills), kills
    assert any(f["evidence"]["process"] == "python3" and f["evidence"]["pid"] for f in kills)
    assert source(result, "kernel")["counts"]["oom"] >= 1 and result["status"] == "degraded"


@pytest.mark.parametrize(("args", "start"), [
    ({"patterns": {"broken": "(unclosed"}}, "patterns.broken"),
    ({"unit": "pynomaly", "since": "not a time"}, "since"),
    ({"lines": 0}, "lines"),
])
def test_bad_arguments_name_the_option(host_module, args, start):
    result = host_module(HEALTHY, "log_scan_info", args)
    assert result["failed"] is True and result["msg"].startswith(start)
