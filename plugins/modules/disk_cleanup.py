#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: disk_cleanup
short_description: Delete old logs and temporary files on this host, only under allowed roots, and vacuum the journal
version_added: 1.0.0
description:
  - The runbook's Scenario 3 "Disk Space Issues" - C(find /var/log -name "*.log" -type f -mtime +7 -delete),
    C(journalctl --vacuum-time=24h), C(rm -rf /tmp/pynomaly_*) - with guards, on the host it runs on.
  - Each rule's glob is expanded (C(**) matches any depth); a matched directory is walked and its files are
    candidates under the same guards (directories it leaves empty are removed, as C(rm -rf) would).
  - A candidate is deleted only when its real path (symbolic links of its directories resolved) is under one of
    O(roots) (resolved too), it is a regular file (symbolic links are never followed nor deleted), it is not one of
    O(protect) (or under one), no running process has it open (C(/proc/*/fd), scanned once), and it was last
    modified more than the rule's O(rules[].older_than_days) days ago. Every other match is returned in
    RV(skipped_files) with its reason.
  - Refuses, deleting nothing, when more than O(max_files) files would be deleted.
  - A rule whose glob is not under one of O(roots), a relative path, or a root C(/) is bad input - the task fails,
    deleting nothing.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.attributes
attributes:
  check_mode:
    support: full
    details: Lists every file it would delete with its size, and the bytes it would free; deletes nothing.
  diff_mode:
    support: full
    details: The files deleted (or to delete), one path a line, before; none after.
  idempotent:
    support: full
    details: Once nothing old is left, a second run deletes nothing and returns C(changed=false).
options:
  roots:
    description: Absolute paths of the directories it may delete from - the only ones. Not C(/) itself.
    type: list
    elements: path
    required: true
  rules:
    description: What to delete. Each glob must be an absolute pattern under one of O(roots).
    type: list
    elements: dict
    suboptions:
      glob:
        description: Absolute glob, e.g. C(/var/log/**/*.log*) or C(/tmp/pynomaly_*).
        type: str
        required: true
      older_than_days:
        description: Only files last modified more than this many days ago (C(0) - any age, as C(rm -rf) would).
        type: int
        required: true
  protect:
    description: Paths never deleted (the active log, e.g. C(/var/log/pynomaly/application.log)); a directory
      protects everything under it.
    type: list
    elements: path
    default: []
  journal_vacuum_time:
    description: Run C(journalctl --vacuum-time) with this age (e.g. C(24h), C(2d)), which removes the journal's
      archived files older than it.
    type: str
  max_files:
    description: Refuse, deleting nothing, when more files than this would be deleted (a guard, not a truncation).
    type: int
    default: 10000
notes:
  - At least one of O(rules) or O(journal_vacuum_time) is required.
  - Bytes are file sizes; a file that another hard link keeps frees nothing.
  - In check mode C(after_bytes) of RV(journal) is an estimate - the disk use less the archived journal
    files whose first entry (in their name) is older than O(journal_vacuum_time), the files C(--vacuum-time)
    removes.
"""

EXAMPLES = r"""
- name: Clean up logs older than 7 days, the journal, and the application's temporary files (Scenario 3)
  sre.runbooks.disk_cleanup:
    roots: [/var/log, /tmp]
    rules:
      - glob: /var/log/**/*.log*
        older_than_days: 7
      - glob: /tmp/pynomaly_*
        older_than_days: 0
    protect: [/var/log/pynomaly/application.log]
    journal_vacuum_time: 24h
  become: true
"""

RETURN = r"""
msg:
  description: What was (or would be) done, or why nothing was needed.
  returned: always
  type: str
  sample: "Delete 3 files (41.0M) matching /var/log/**/*.log* older than 7 days. Vacuum the journal
    (journalctl --vacuum-time=24h)."
actions:
  description: What was done (or would be done in check mode), one sentence per rule, directories and journal;
    empty when nothing was deleted and the journal did not shrink.
  returned: always
  type: list
  elements: str
  sample: ["Delete 3 files (41.0M) matching /var/log/**/*.log* older than 7 days",
           "Remove 1 empty directory", "Vacuum the journal (journalctl --vacuum-time=24h)"]
files:
  description: The files deleted (or to delete in check mode), with C(bytes) and C(age_days).
  returned: always
  type: list
  elements: dict
  sample: [{path: /var/log/pynomaly/application.log.3, bytes: 20971520, age_days: 9.2}]
directories:
  description: The directories removed (or to remove) because the cleanup left them empty.
  returned: always
  type: list
  elements: str
  sample: [/tmp/pynomaly_cache]
skipped_files:
  description:
    - Matches left alone, each with C(reason) (outside the roots, a symbolic link, not a regular file,
      protected, open by a process, too new, changed since planned, could not delete).
    - Named so because Ansible reads a result key C(skipped) as the task's own status.
  returned: always
  type: list
  elements: dict
  sample: [{path: /var/log/pynomaly/application.log, reason: protected},
           {path: /var/log/pynomaly/worker.log, reason: "open by pid 412 (python3)"}]
bytes_freed:
  description: Sum of the deleted files' sizes (in check mode, what it would free).
  returned: always
  type: int
  sample: 42991616
journal:
  description: Disk use of the journal (C(journalctl --disk-usage)) before and after the vacuum, in bytes.
  returned: when O(journal_vacuum_time) is set
  type: dict
  sample: {before_bytes: 41943040, after_bytes: 8388608}
mounts:
  description: Available bytes of each mount touched, before and after (in check mode, as it would be).
  returned: always
  type: dict
  sample: {/var/log: {before_available: 1048576, after_available: 44040192}}
check_mode:
  description: True when this was a dry run (check mode for the whole run, or for this step only).
  returned: always
  type: bool
  sample: false
"""

import glob
import os
import re
import stat
import time

from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.guards import require
from ansible_collections.sre.runbooks.plugins.module_utils.host import parse_mounts, read_text, run

DAY = 86400.0
SPAN = re.compile(r"^(\d+)(us|ms|s|sec|m|min|h|hr|d|days?|w|weeks?|M|months?|y|years?)$")
SPAN_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": DAY,
                "day": DAY, "days": DAY, "w": 7 * DAY, "week": 7 * DAY, "weeks": 7 * DAY, "M": 30.44 * DAY,
                "month": 30.44 * DAY, "months": 30.44 * DAY, "y": 365.25 * DAY, "year": 365.25 * DAY,
                "years": 365.25 * DAY}
USAGE = re.compile(r"take up ([\d.]+)\s*([BKMGTPE]?)")
JOURNAL_DIRS = ("/var/log/journal", "/run/log/journal")
KINDS = ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"),
         (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"))


def human(size):
    for suffix, power in (("G", 3), ("M", 2), ("K", 1)):
        if size >= 1024 ** power:
            return f"{size / 1024 ** power:.1f}{suffix}"
    return f"{size}B"


def under(path, root):
    root = root.rstrip("/")
    return path == root or path.startswith(root + "/")


def resolved(path):
    """The path with its directories' symbolic links resolved, its last component kept as it is."""
    return os.path.join(os.path.realpath(os.path.dirname(path) or "/"), os.path.basename(path))


def vacuum_seconds(value):
    match = SPAN.match((value or "").strip())
    if not match or int(match.group(1)) <= 0:
        raise RunbookError(f"journal_vacuum_time must be an age like 24h or 2d, not {value!r}",
                           option="journal_vacuum_time")
    return int(match.group(1)) * SPAN_SECONDS[match.group(2)]


def check_params(params):
    """Bad input fails naming the option; returns (lexical roots, resolved roots, resolved protect)."""
    if not params["roots"]:
        raise RunbookError("roots must list at least one directory to delete from", option="roots")
    roots = []
    for index, root in enumerate(params["roots"]):
        if not os.path.isabs(root):
            raise RunbookError(f"roots[{index}] must be an absolute path, not {root!r}", option=f"roots[{index}]")
        if os.path.realpath(root) == "/":
            raise RunbookError(f"roots[{index}] must not be / itself ({root!r})", option=f"roots[{index}]")
        roots.append(os.path.normpath(root))
    for index, rule in enumerate(params["rules"] or []):
        name = f"rules[{index}].glob"
        if not os.path.isabs(rule["glob"]):
            raise RunbookError(f"{name} must be an absolute pattern, not {rule['glob']!r}", option=name)
        if not any(under(os.path.normpath(rule["glob"]), root) for root in roots):
            raise RunbookError(f"{name} {rule['glob']!r} is not under any of roots {params['roots']}; nothing was "
                               "deleted", option=name)
        if rule["older_than_days"] < 0:
            raise RunbookError(f"rules[{index}].older_than_days must be 0 or more, not {rule['older_than_days']}",
                               option=f"rules[{index}].older_than_days")
    for index, path in enumerate(params["protect"]):
        if not os.path.isabs(path):
            raise RunbookError(f"protect[{index}] must be an absolute path, not {path!r}", option=f"protect[{index}]")
    return roots, [os.path.realpath(r) for r in roots], [os.path.realpath(p) for p in params["protect"]]


def open_files(proc="/proc"):
    """{real path: 'pid N (comm)'} of the files and working directories of every running process."""
    found = {}
    for pid in filter(str.isdigit, os.listdir(proc)):
        try:
            links = [os.path.join(proc, pid, "fd", fd) for fd in os.listdir(os.path.join(proc, pid, "fd"))]
        except OSError:
            continue
        for link in links + [os.path.join(proc, pid, "cwd")]:
            try:
                target = os.readlink(link)
            except OSError:
                continue
            if target.startswith("/") and target not in found:
                found[target] = pid
    names = {}
    for target, pid in found.items():
        if pid not in names:
            try:
                with open(os.path.join(proc, pid, "comm")) as handle:
                    names[pid] = f"pid {pid} ({handle.read().strip()})"
            except OSError:
                names[pid] = f"pid {pid}"
        found[target] = names[pid]
    return found


class Plan:
    """What a run deletes (files, directories) and leaves alone (skipped), by the guards."""

    def __init__(self, roots, protect, opened, now):
        self.roots, self.protect, self.opened, self.now = roots, protect, opened, now
        self.files, self.directories, self.skipped = {}, [], {}

    def reason(self, path, st, days):
        """Why the file at path (directories resolved; st its lstat) must stay, or None."""
        real = os.path.realpath(path)
        if not any(under(real, root) for root in self.roots):
            return f"outside the roots (resolves to {real})"
        if stat.S_ISLNK(st.st_mode):
            return f"a symbolic link (to {os.readlink(path)})"
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file ({})".format(next((k for test, k in KINDS if test(st.st_mode)), "special"))
        if any(under(real, kept) for kept in self.protect):
            return "protected"
        if real in self.opened:
            return f"open by {self.opened[real]}"
        age = (self.now - st.st_mtime) / DAY
        if age <= days:
            return f"newer than {days} days ({max(age, 0):.1f} days old)"
        return None

    def consider(self, path, rule_index, days):
        """Plan the file at path; True when it will be deleted."""
        path = resolved(path)
        if path in self.files:
            return True
        try:
            st = os.lstat(path)
        except OSError:
            return False
        why = self.reason(path, st, days)
        if why:
            self.skipped.setdefault(path, why)
            return False
        self.skipped.pop(path, None)
        self.files[path] = {"path": path, "bytes": st.st_size, "age_days": round((self.now - st.st_mtime) / DAY, 1),
                            "rule": rule_index, "key": (st.st_dev, st.st_ino, st.st_mtime, st.st_size)}
        return True

    def walk(self, top, rule_index, days):
        """Plan every file under the directory top; plan to remove the directories it empties."""
        emptied = set()
        for folder, dirs, names in os.walk(top, topdown=False):
            gone = [self.consider(os.path.join(folder, n), rule_index, days) for n in names]
            for path in (os.path.join(folder, d) for d in dirs):
                gone.append(self.consider(path, rule_index, days) if os.path.islink(path) else path in emptied)
            if all(gone) and self.removable(folder, days if not gone else -1):
                emptied.add(folder)
                if folder not in self.directories:
                    self.directories.append(folder)

    def removable(self, folder, days):
        real = os.path.realpath(folder)
        if real in self.roots or real in self.opened or any(under(kept, real) for kept in self.protect):
            return False
        if not any(under(real, root) for root in self.roots):
            return False
        try:
            return days < 0 or (self.now - os.lstat(folder).st_mtime) / DAY > days
        except OSError:
            return False

    def rule(self, index, rule):
        for match in sorted(glob.glob(os.path.normpath(rule["glob"]), recursive=True)):
            path = resolved(match)
            if os.path.isdir(path) and not os.path.islink(path):
                if any(under(os.path.realpath(path), root) for root in self.roots):
                    self.walk(os.path.realpath(path), index, rule["older_than_days"])
                else:
                    self.skipped.setdefault(path, f"outside the roots (resolves to {os.path.realpath(path)})")
            else:
                self.consider(path, index, rule["older_than_days"])


def mount_points(table="/proc/self/mounts"):
    """Every mount point, longest first (the first one a path is under is its filesystem)."""
    return sorted({mount for _source, mount, _fstype in parse_mounts(read_text(table, ""))}, key=len, reverse=True)


def mount_of(path, points):
    return next((p for p in points if under(path, p)), "/")


def available(mount):
    st = os.statvfs(mount)
    return st.f_bavail * st.f_frsize


def journal_usage(module, journalctl):
    _rc, out, _err = run(module, [journalctl, "--disk-usage"])
    match = USAGE.search(out)
    if not match:
        raise RunbookError(f"could not read the journal's disk use from journalctl --disk-usage: {out.strip()[:200]}")
    return int(float(match.group(1)) * 1024 ** " KMGTPE".index(match.group(2) or " "))


def archived_realtime(name):
    """Seconds since the epoch of an archived journal file's first entry, from its name as journald writes it
    (system@<id>-<seqnum>-<realtime>.journal, system@<realtime>-<random>.journal~); None for an active file."""
    head, sep, tail = name.partition("@")
    parts = tail.split(".")[0].split("-")
    index = 2 if name.endswith(".journal") else 0 if name.endswith(".journal~") else None
    try:
        return int(parts[index], 16) / 1e6 if sep and head and index is not None and len(parts) > index else None
    except ValueError:
        return None


def journal_would_free(seconds, now, dirs=JOURNAL_DIRS):
    """Disk use of the archived journal files --vacuum-time would remove (first entry older than seconds ago)."""
    total = 0
    for path in [p for d in dirs for p in glob.glob(os.path.join(d, "*", "*@*.journal*"))]:
        realtime = archived_realtime(os.path.basename(path))
        try:
            total += os.stat(path).st_blocks * 512 if realtime is not None and realtime < now - seconds else 0
        except OSError:
            continue
    return total


def delete(plan):
    """Delete the planned files (each checked again just before) and emptied directories; return what was done."""
    deleted = []
    for path, entry in sorted(plan.files.items()):
        try:
            st = os.lstat(path)
            if (st.st_dev, st.st_ino, st.st_mtime, st.st_size) != entry["key"] or not stat.S_ISREG(st.st_mode):
                plan.skipped[path] = "changed since it was planned"
                continue
            os.unlink(path)
        except FileNotFoundError:
            plan.skipped[path] = "already gone"
            continue
        except OSError as exc:
            plan.skipped[path] = f"could not delete: {exc.strerror}"
            continue
        deleted.append(entry)
    removed = []
    for folder in sorted(plan.directories, key=lambda f: f.count("/"), reverse=True):
        try:
            os.rmdir(folder)
            removed.append(folder)
        except OSError as exc:
            plan.skipped[folder] = f"directory not removed: {exc.strerror}"
    return deleted, removed


def describe(params, files, directories):
    actions = []
    for index, rule in enumerate(params["rules"] or []):
        chosen = [f for f in files if f["rule"] == index]
        if chosen:
            size = sum(f["bytes"] for f in chosen)
            actions.append(f"Delete {len(chosen)} file{'s' * (len(chosen) != 1)} ({human(size)}) matching "
                           f"{rule['glob']} older than {rule['older_than_days']} days")
    if directories:
        actions.append(f"Remove {len(directories)} empty director{'ies' if len(directories) != 1 else 'y'}")
    return actions


def cleanup(module):
    params = module.params
    _roots, real_roots, protect = check_params(params)
    seconds = vacuum_seconds(params["journal_vacuum_time"]) if params["journal_vacuum_time"] else None
    journalctl = module.get_bin_path("journalctl", required=seconds is not None)
    plan = Plan(real_roots, protect, open_files(), time.time())
    for index, rule in enumerate(params["rules"] or []):
        plan.rule(index, rule)
    count = len(plan.files)
    require(count <= params["max_files"], "file cap", f"{count} files would be deleted, more than "
            f"max_files={params['max_files']}; nothing was deleted.",
            override="narrow the rules (a longer older_than_days, a tighter glob) or raise max_files")
    points = mount_points()
    touched = {mount_of(p, points) for p in plan.files}
    if seconds is not None:
        touched.add(mount_of(next((d for d in JOURNAL_DIRS if os.path.isdir(d)), JOURNAL_DIRS[0]), points))
    mounts = {m: {"before_available": available(m)} for m in sorted(touched)}
    result = {"skipped_files": [], "mounts": mounts, "actions": []}
    journal = {"before_bytes": journal_usage(module, journalctl)} if seconds is not None else None
    if module.check_mode:
        files, directories = list(plan.files.values()), list(plan.directories)
        if journal:
            journal["after_bytes"] = max(journal["before_bytes"] - journal_would_free(seconds, plan.now), 0)
    else:
        files, directories = delete(plan)
        if journal:
            run(module, [journalctl, f"--vacuum-time={params['journal_vacuum_time']}"])
            journal["after_bytes"] = journal_usage(module, journalctl)
    freed = sum(f["bytes"] for f in files)
    for mount, seen in mounts.items():
        there = sum(f["bytes"] for f in files if mount_of(f["path"], points) == mount)
        seen["after_available"] = seen["before_available"] + there if module.check_mode else available(mount)
    result["actions"] = describe(params, files, directories)
    shrank = bool(journal) and journal["after_bytes"] < journal["before_bytes"]
    if journal:
        result["journal"] = journal
    if shrank:
        result["actions"].append(f"Vacuum the journal (journalctl --vacuum-time={params['journal_vacuum_time']}): "
                                 f"{human(journal['before_bytes'])} to {human(journal['after_bytes'])}")
    result.update(changed=bool(files or directories or shrank), bytes_freed=freed, directories=directories,
                  files=[{k: f[k] for k in ("path", "bytes", "age_days")} for f in files],
                  skipped_files=[{"path": p, "reason": r} for p, r in sorted(plan.skipped.items())])
    result["msg"] = ". ".join(result["actions"]) + "."
    if not result["changed"]:
        result["msg"] = f"Nothing to delete ({len(result['skipped_files'])} matches left alone)" + (
            f"; the journal ({human(journal['before_bytes'])}) had nothing older than "
            f"{params['journal_vacuum_time']}." if journal else ".")
    return result


def main():
    module = RunbookModule(
        argument_spec={
            "roots": {"type": "list", "elements": "path", "required": True},
            "rules": {"type": "list", "elements": "dict", "options": {
                "glob": {"type": "str", "required": True},
                "older_than_days": {"type": "int", "required": True},
            }},
            "protect": {"type": "list", "elements": "path", "default": []},
            "journal_vacuum_time": {"type": "str"},
            "max_files": {"type": "int", "default": 10000},
        },
        required_one_of=[("rules", "journal_vacuum_time")],
        bounds={"max_files": (1, None)},
        supports_check_mode=True,
    )
    result = module.run(cleanup)
    result["check_mode"] = module.check_mode
    if module._diff:
        listed = "".join(f["path"] + "\n" for f in result["files"]) + "".join(d + "/\n" for d in result["directories"])
        result["diff"] = {"before": listed, "after": "", "before_header": "files to delete",
                          "after_header": "files to delete"}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
