"""disk_cleanup's guards and plan on a real directory tree: roots, links, protect, open files, age, directories."""

import os
import time

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.modules.disk_cleanup import (
    Plan,
    archived_realtime,
    check_params,
    delete,
    human,
    journal_would_free,
    mount_of,
    open_files,
    under,
    vacuum_seconds,
)

DAY = 86400


def params(roots, rules=(), protect=()):
    return {"roots": list(roots), "rules": [{"glob": g, "older_than_days": d} for g, d in rules],
            "protect": list(protect)}


def make(path, age_days=0.0, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    when = time.time() - age_days * DAY
    os.utime(path, (when, when))
    return path


def planned(tmp_path, rules, protect=(), opened=None, roots=None):
    root = str(tmp_path.resolve())
    plan = Plan(roots or [root], [str(p) for p in protect], opened or {}, time.time())
    for index, (glob, days) in enumerate(rules):
        plan.rule(index, {"glob": glob, "older_than_days": days})
    return plan


@pytest.mark.parametrize(("given", "option", "message"), [
    (params([], [("/tmp/x", 1)]), "roots", "roots must list at least one directory"),
    (params(["tmp"], [("/tmp/x", 1)]), "roots[0]", "roots[0] must be an absolute path"),
    (params(["/var/log", "/"], [("/tmp/x", 1)]), "roots[1]", "roots[1] must not be / itself"),
    (params(["/tmp/.."], [("/tmp/x", 1)]), "roots[0]", "roots[0] must not be / itself"),
    (params(["/tmp"], [("/tmp/a", 1), ("/var/log/*.log", 7)]), "rules[1].glob",
     "rules[1].glob '/var/log/*.log' is not under any of roots"),
    (params(["/tmp"], [("/tmp/../etc/*", 0)]), "rules[0].glob", "rules[0].glob '/tmp/../etc/*' is not under"),
    (params(["/tmp/app"], [("/tmp/app*", 0)]), "rules[0].glob", "is not under any of roots"),
    (params(["/tmp"], [("pynomaly_*", 0)]), "rules[0].glob", "rules[0].glob must be an absolute pattern"),
    (params(["/tmp"], [("/tmp/x", -1)]), "rules[0].older_than_days", "must be 0 or more, not -1"),
    (params(["/tmp"], [("/tmp/x", 1)], ["app.log"]), "protect[0]", "protect[0] must be an absolute path"),
])
def test_bad_input_fails_naming_the_option(given, option, message):
    with pytest.raises(RunbookError) as caught:
        check_params(given)
    assert caught.value.details == {"option": option} and message in caught.value.msg


def test_good_input_returns_resolved_roots_and_protect(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    roots, real, protect = check_params(params([str(tmp_path / "link") + "/"], [(str(tmp_path / "link/**/*.log"), 7)],
                                               [str(tmp_path / "link/app.log")]))
    assert roots == [str(tmp_path / "link")]
    assert real == [str((tmp_path / "real").resolve())] and protect == [str((tmp_path / "real/app.log").resolve())]


@pytest.mark.parametrize(("text", "seconds"), [("24h", 86400), ("2d", 172800), ("30min", 1800), ("1w", 604800)])
def test_vacuum_time(text, seconds):
    assert vacuum_seconds(text) == seconds


@pytest.mark.parametrize("text", ["yesterday", "0h", "-1d", "24 hours ago", ""])
def test_bad_vacuum_time_names_the_option(text):
    with pytest.raises(RunbookError, match="^journal_vacuum_time must be an age like 24h"):
        vacuum_seconds(text)


def test_old_files_are_planned_and_new_ones_kept(tmp_path):
    old = make(tmp_path / "app/old.log", 9, b"a" * 100)
    make(tmp_path / "app/new.log", 2)
    make(tmp_path / "app/notes.txt", 30)
    plan = planned(tmp_path, [(str(tmp_path / "**/*.log"), 7)])
    assert list(plan.files) == [str(old.resolve())]
    entry = plan.files[str(old.resolve())]
    assert (entry["bytes"], entry["age_days"]) == (100, 9.0)
    assert plan.skipped == {str((tmp_path / "app/new.log").resolve()): "newer than 7 days (2.0 days old)"}


def test_symlinks_are_never_followed_nor_deleted(tmp_path, tmp_path_factory):
    outside = make(tmp_path_factory.mktemp("outside") / "passwd", 30)
    make(tmp_path / "root/target.log", 30)
    (tmp_path / "root/evil.log").symlink_to(outside)
    (tmp_path / "root/inner.log").symlink_to(tmp_path / "root/target.log")
    plan = planned(tmp_path / "root", [(str(tmp_path / "root/*.log"), 7)])
    root = (tmp_path / "root").resolve()
    assert list(plan.files) == [str(root / "target.log")]
    assert plan.skipped[str(root / "evil.log")] == f"outside the roots (resolves to {outside.resolve()})"
    assert plan.skipped[str(root / "inner.log")].startswith("a symbolic link (to ")


def test_a_symlinked_directory_leading_outside_is_skipped(tmp_path, tmp_path_factory):
    outside = tmp_path_factory.mktemp("etc")
    make(outside / "x.conf", 30)
    (tmp_path / "root").mkdir()
    (tmp_path / "root/etclink").symlink_to(outside)
    plan = planned(tmp_path / "root", [(str(tmp_path / "root/etclink/*.conf"), 0), (str(tmp_path / "root/*"), 0)])
    assert not plan.files and not plan.directories
    assert plan.skipped[str(outside.resolve() / "x.conf")].startswith("outside the roots")
    assert plan.skipped[str((tmp_path / "root").resolve() / "etclink")].startswith("outside the roots")


def test_protected_open_and_special_files_are_kept(tmp_path):
    active = make(tmp_path / "app/application.log", 30)
    held = make(tmp_path / "held.log", 30)
    os.mkfifo(tmp_path / "pipe.log")
    os.utime(tmp_path / "pipe.log", (time.time() - 30 * DAY,) * 2)
    plan = planned(tmp_path, [(str(tmp_path / "**/*.log"), 7)], protect=[active.resolve()],
                   opened={str(held.resolve()): "pid 42 (python3)"})
    assert not plan.files
    real = tmp_path.resolve()
    assert plan.skipped == {str(real / "app/application.log"): "protected", str(real / "held.log"):
                            "open by pid 42 (python3)", str(real / "pipe.log"): "not a regular file (fifo)"}


def test_a_protected_directory_keeps_everything_under_it(tmp_path):
    make(tmp_path / "keep/a.log", 30)
    plan = planned(tmp_path, [(str(tmp_path / "**/*.log"), 0)], protect=[(tmp_path / "keep").resolve()])
    assert not plan.files and list(plan.skipped.values()) == ["protected"]


def test_matched_directories_are_walked_and_emptied_ones_removed(tmp_path):
    make(tmp_path / "pynomaly_cache/a", 0)
    make(tmp_path / "pynomaly_cache/sub/b", 0)
    (tmp_path / "pynomaly_empty").mkdir()
    os.utime(tmp_path / "pynomaly_empty", (time.time() - 10,) * 2)
    make(tmp_path / "other/c", 0)
    plan = planned(tmp_path, [(str(tmp_path / "pynomaly_*"), 0)])
    real = tmp_path.resolve()
    assert sorted(plan.files) == [str(real / "pynomaly_cache/a"), str(real / "pynomaly_cache/sub/b")]
    assert plan.directories == [str(real / "pynomaly_cache/sub"), str(real / "pynomaly_cache"),
                                str(real / "pynomaly_empty")]


def test_a_directory_with_a_kept_file_stays(tmp_path):
    make(tmp_path / "pynomaly_cache/old", 3)
    make(tmp_path / "pynomaly_cache/new", 0)
    plan = planned(tmp_path, [(str(tmp_path / "pynomaly_*"), 1)])
    assert list(plan.files) == [str(tmp_path.resolve() / "pynomaly_cache/old")] and plan.directories == []


def test_a_root_is_never_removed(tmp_path):
    make(tmp_path / "only.tmp", 5)
    plan = planned(tmp_path, [(str(tmp_path), 1), (str(tmp_path / "**"), 1)])
    assert list(plan.files) == [str(tmp_path.resolve() / "only.tmp")] and plan.directories == []


def test_a_later_rule_can_delete_what_an_earlier_one_kept_for_age(tmp_path):
    make(tmp_path / "pynomaly_x.log", 1)
    plan = planned(tmp_path, [(str(tmp_path / "*.log"), 7), (str(tmp_path / "pynomaly_*"), 0)])
    assert list(plan.files) == [str(tmp_path.resolve() / "pynomaly_x.log")] and not plan.skipped
    assert plan.files[str(tmp_path.resolve() / "pynomaly_x.log")]["rule"] == 1


def test_delete_removes_the_plan_and_rechecks_each_file(tmp_path):
    make(tmp_path / "pynomaly_d/a", 0)
    make(tmp_path / "pynomaly_d/b", 0)
    plan = planned(tmp_path, [(str(tmp_path / "pynomaly_*"), 0)])
    (tmp_path / "pynomaly_d/b").write_bytes(b"written since")
    deleted, removed = delete(plan)
    real = tmp_path.resolve()
    assert [f["path"] for f in deleted] == [str(real / "pynomaly_d/a")]
    assert plan.skipped[str(real / "pynomaly_d/b")] == "changed since it was planned"
    assert removed == [] and plan.skipped[str(real / "pynomaly_d")].startswith("directory not removed")
    assert (tmp_path / "pynomaly_d/b").exists() and not (tmp_path / "pynomaly_d/a").exists()


def test_open_files_sees_this_process(tmp_path):
    held = make(tmp_path / "held.log")
    with open(held) as handle:
        found = open_files()
        assert handle and found[str(held.resolve())].startswith(f"pid {os.getpid()} (")


def test_archived_journal_names():
    assert archived_realtime("system@6df28423e09244fe9032e3d7b0cdc9fb-0000000000000001-0006614910f8d2b7.journal") == (
        0x0006614910f8d2b7 / 1e6)
    assert archived_realtime("system@0006614910f8d2b7-a1b2c3d4e5f60718.journal~") == 0x0006614910f8d2b7 / 1e6
    assert archived_realtime("system.journal") is None
    assert archived_realtime("user-1000@zz-yy-xx.journal") is None


def test_journal_would_free_counts_archived_files_older_than_the_age(tmp_path):
    now = time.time()
    machine = tmp_path / "0123"
    old = make(machine / f"system@{'a' * 32}-{1:016x}-{int((now - 3 * DAY) * 1e6):016x}.journal", data=b"o" * 8192)
    make(machine / f"system@{'a' * 32}-{2:016x}-{int((now - 3600) * 1e6):016x}.journal", data=b"n" * 8192)
    make(machine / "system.journal", data=b"a" * 8192)
    assert journal_would_free(DAY, now, dirs=(str(tmp_path),)) == os.stat(old).st_blocks * 512 > 0


def test_helpers():
    assert under("/var/log/a.log", "/var/log") and under("/var/log", "/var/log/") and not under("/var/logs", "/var/log")
    assert mount_of("/var/log/x", ["/var/log", "/var", "/"]) == "/var/log"
    assert mount_of("/srv/x", ["/var/log", "/"]) == "/"
    assert (human(500), human(1536), human(41 * 1024 ** 2)) == ("500B", "1.5K", "41.0M")
