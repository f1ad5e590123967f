"""disk_cleanup on the lab's application servers (over SSH): Scenario 3's `find /var/log -name "*.log" -mtime +7
-delete`, `journalctl --vacuum-time=24h` and `rm -rf /tmp/pynomaly_*`, with its guards."""

from __future__ import annotations

import uuid

import pytest

HEALTHY = "app-2"  # the lab's faults all break app-1
ACTIVE_LOG = "/var/log/pynomaly/application.log"
SCENARIO_3 = {
    "roots": ["/var/log", "/tmp"],
    "rules": [{"glob": "/var/log/**/*.log*", "older_than_days": 7}, {"glob": "/tmp/pynomaly_*", "older_than_days": 0}],
    "protect": [ACTIVE_LOG],
}


def listing(host_sh, host, pattern):
    return sorted(host_sh(host, f"ls -d {pattern} 2>/dev/null").stdout.split())


def use_percent(host_sh, host, mount="/var/log"):
    return int(host_sh(host, f"df --output=pcent {mount} | tail -1").stdout.strip().rstrip("%"))


@pytest.fixture
def scratch(host_sh, hosts_lab):
    """A directory of this test's own under /var/log on the healthy host (and its holder unit), removed after."""
    name = f"sre-test-{uuid.uuid4().hex[:8]}"
    yield name
    host_sh(HEALTHY, f"systemctl stop {name}-holder 2>/dev/null; rm -rf /var/log/{name} /tmp/pynomaly_{name}*")


def test_check_mode_on_a_full_disk_lists_what_it_would_free(host_module, host_sh, fault):
    fault("disk-full")
    rotated = listing(host_sh, "app-1", "/var/log/pynomaly/application.log.*")
    exports = listing(host_sh, "app-1", "/tmp/pynomaly_export_*")
    assert len(rotated) == 4 and len(exports) == 3 and use_percent(host_sh, "app-1") == 100
    result = host_module("app-1", "disk_cleanup", dict(SCENARIO_3, journal_vacuum_time="24h"), check=True, diff=True)
    assert result["failed"] is False and result["changed"] is True and result["check_mode"] is True
    assert {f["path"] for f in result["files"]} >= set(exports + rotated)
    assert result["bytes_freed"] == sum(f["bytes"] for f in result["files"]) > 12 * 2 ** 20
    assert all(f["age_days"] >= 10 for f in result["files"] if f["path"].startswith("/var/log"))
    assert {"path": ACTIVE_LOG, "reason": "protected"} in result["skipped_files"]
    mount = result["mounts"]["/var/log"]
    assert mount["after_available"] - mount["before_available"] == sum(
        f["bytes"] for f in result["files"] if f["path"].startswith("/var/log"))
    assert set(result["journal"]) == {"before_bytes", "after_bytes"}
    assert "--- before: files to delete" in result["_stdout"]
    assert all(f"-{f['path']}\n" in result["_stdout"] for f in result["files"])
    assert listing(host_sh, "app-1", "/var/log/pynomaly/application.log.*") == rotated
    assert listing(host_sh, "app-1", "/tmp/pynomaly_export_*") == exports and use_percent(host_sh, "app-1") == 100


def test_frees_the_full_disk_keeps_the_active_log_and_a_second_run_does_nothing(host_module, host_sh, fault):
    fault("disk-full")
    rotated = listing(host_sh, "app-1", "/var/log/pynomaly/application.log.*")
    exports = listing(host_sh, "app-1", "/tmp/pynomaly_export_*")
    result = host_module("app-1", "disk_cleanup", SCENARIO_3)
    assert result["failed"] is False and result["changed"] is True, result.get("msg")
    assert {f["path"] for f in result["files"]} >= set(rotated + exports) and result["bytes_freed"] > 12 * 2 ** 20
    assert result["actions"][0].startswith("Delete ") and "older than 7 days" in result["actions"][0]
    assert listing(host_sh, "app-1", "/var/log/pynomaly/application.log*") == [ACTIVE_LOG]
    assert listing(host_sh, "app-1", "/tmp/pynomaly_*") == []
    assert use_percent(host_sh, "app-1") < 50
    mount = result["mounts"]["/var/log"]
    assert mount["after_available"] > mount["before_available"]

    again = host_module("app-1", "disk_cleanup", SCENARIO_3)
    assert again["changed"] is False and again["files"] == [] and again["bytes_freed"] == 0
    assert again["msg"].startswith("Nothing to delete")


def test_guards_keep_new_protected_open_linked_and_outside_files(host_module, host_sh, scratch):
    base = f"/var/log/{scratch}"
    host_sh(HEALTHY, f"mkdir -p {base}/app && cd {base} && echo old > old.log && echo new > new.log && "
                     "echo active > app/current.log && echo held > held.log && ln -s /etc/passwd evil.log && "
                     "mkfifo pipe.log && touch -h -d '10 days ago' old.log app/current.log held.log evil.log pipe.log")
    host_sh(HEALTHY, f"systemd-run --unit={scratch}-holder /bin/sh -c 'exec 3<{base}/held.log; exec sleep 300' && "
                     f"for i in $(seq 50); do ls -l /proc/$(systemctl show -p MainPID --value {scratch}-holder)/fd "
                     f"| grep -q held.log && break; sleep 0.1; done")
    passwd = host_sh(HEALTHY, "md5sum /etc/passwd").stdout
    result = host_module(HEALTHY, "disk_cleanup", {"roots": [base], "rules": [{"glob": f"{base}/**/*.log",
                                                                               "older_than_days": 7}],
                                                   "protect": [f"{base}/app/current.log"]})
    assert result["failed"] is False and result["changed"] is True, result.get("msg")
    assert [f["path"] for f in result["files"]] == [f"{base}/old.log"]
    reasons = {s["path"].rsplit("/", 1)[-1]: s["reason"] for s in result["skipped_files"]}
    assert reasons["new.log"].startswith("newer than 7 days") and reasons["current.log"] == "protected"
    assert reasons["held.log"].startswith("open by pid ") and reasons["held.log"].endswith("(sleep)")
    assert reasons["evil.log"] == "outside the roots (resolves to /etc/passwd)"
    assert reasons["pipe.log"] == "not a regular file (fifo)"
    assert listing(host_sh, HEALTHY, f"{base}/*.log") == sorted(f"{base}/{n}" for n in ("evil.log", "held.log",
                                                                                          "new.log", "pipe.log"))
    assert host_sh(HEALTHY, "md5sum /etc/passwd").stdout == passwd


def test_temporary_directories_go_like_rm_rf(host_module, host_sh, scratch):
    top = f"/tmp/pynomaly_{scratch}"
    host_sh(HEALTHY, f"mkdir -p {top}/a/b && echo 1 > {top}/a/one && echo 2 > {top}/a/b/two && echo 3 > {top}.csv")
    args = {"roots": ["/tmp"], "rules": [{"glob": f"{top}*", "older_than_days": 0}]}
    planned = host_module(HEALTHY, "disk_cleanup", args, check=True)
    assert sorted(planned["directories"]) == [top, f"{top}/a", f"{top}/a/b"]
    assert listing(host_sh, HEALTHY, f"{top}*") == [top, f"{top}.csv"]
    result = host_module(HEALTHY, "disk_cleanup", args)
    assert result["changed"] is True and len(result["files"]) == 3 and sorted(result["directories"]) == sorted(
        planned["directories"])
    assert listing(host_sh, HEALTHY, f"{top}*") == []


def test_refuses_more_files_than_max_files_and_deletes_nothing(host_module, host_sh, scratch):
    host_sh(HEALTHY, f"mkdir -p /var/log/{scratch} && cd /var/log/{scratch} && "
                     "for i in 1 2 3 4 5; do echo $i > $i.log; done")
    result = host_module(HEALTHY, "disk_cleanup", {"roots": ["/var/log"], "max_files": 3, "rules": [
        {"glob": f"/var/log/{scratch}/*.log", "older_than_days": 0}]})
    assert result["failed"] is True and result["changed"] is False and result["guard"] == "file cap"
    assert "5 files would be deleted, more than max_files=3" in result["msg"]
    assert len(listing(host_sh, HEALTHY, f"/var/log/{scratch}/*.log")) == 5


@pytest.mark.parametrize(("args", "option"), [
    ({"roots": ["/tmp"], "rules": [{"glob": "/var/log/**/*.log", "older_than_days": 7}]}, "rules[0].glob"),
    ({"roots": ["/"], "rules": [{"glob": "/tmp/pynomaly_*", "older_than_days": 0}]}, "roots[0]"),
    ({"roots": ["tmp"], "rules": [{"glob": "/tmp/pynomaly_*", "older_than_days": 0}]}, "roots[0]"),
    ({"roots": [], "rules": [{"glob": "/tmp/pynomaly_*", "older_than_days": 0}]}, "roots"),
    ({"roots": ["/var/log"], "journal_vacuum_time": "yesterday"}, "journal_vacuum_time"),
])
def test_bad_input_fails_naming_the_option_and_deletes_nothing(host_module, host_sh, scratch, args, option):
    host_sh(HEALTHY, f"echo keep > /tmp/pynomaly_{scratch}")
    result = host_module(HEALTHY, "disk_cleanup", args)
    assert result["failed"] is True and result["changed"] is False and result["msg"].startswith(option)
    assert listing(host_sh, HEALTHY, f"/tmp/pynomaly_{scratch}") == [f"/tmp/pynomaly_{scratch}"]


def test_journal_vacuum_reports_the_journal_before_and_after(host_module):
    result = host_module(HEALTHY, "disk_cleanup", {"roots": ["/var/log"], "journal_vacuum_time": "3650d"})
    assert result["failed"] is False, result.get("msg")
    journal = result["journal"]
    assert journal["before_bytes"] > 0 and 0 < journal["after_bytes"] <= journal["before_bytes"]
    if journal["after_bytes"] < journal["before_bytes"]:  # archived files ten years old: not in a fresh lab
        assert result["changed"] and result["actions"][-1].startswith("Vacuum the journal (journalctl --vacuum-time=")
    else:
        assert result["changed"] is False and result["actions"] == []
        assert result["msg"].endswith("had nothing older than 3650d.")
