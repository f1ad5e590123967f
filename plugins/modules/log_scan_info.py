#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: log_scan_info
short_description: Count error lines in an application server's logs and find OOM kills
version_added: 1.0.0
description:
  - The runbook's C(tail -500 application.log | grep -iE "error|exception|fatal"), C(grep -i connection ... |
    tail -50), C(journalctl -u pynomaly) and C(dmesg | grep -i "killed process"), run on the application server.
  - Reads the end of each file in O(paths) and of the unit's journal (O(unit)), at most O(lines) lines and
    O(max_bytes) bytes of each, and counts the lines matching each of O(patterns), keeping the last ones.
  - With O(kernel), reads the kernel log (C(dmesg), or C(journalctl -k) when that shows nothing) for OOM kills
    (C(Killed process), C(Out of memory)); systemd's own lines in the unit's journal (C(killed by the OOM killer),
    C(Failed with result 'oom-kill')) count as OOM kills too.
  - The kernel log is the whole machine's. With O(unit), a kernel OOM kill counts only when the unit's main
    process was killed (C(code=killed, status=9/KILL) in its journal) within 5 seconds of it; another program's
    kill is not this service's crash.
  - Everything returned is masked for secrets (passwords, tokens, credentials in URLs) before it leaves the host.
  - A missing or unreadable log is a finding, not a failure of the task.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.attributes
  - sre.runbooks.attributes.INFO_MODULE
options:
  paths:
    description: Log files to read (for example C(/var/log/pynomaly/application.log), C(/var/log/nginx/access.log)).
    type: list
    elements: path
    default: []
  unit:
    description: Also read this systemd unit's journal (C(.service) is added when the name has no unit type).
    type: str
  since:
    description:
      - Read the journal and the kernel log from this time on, in C(journalctl --since) syntax
        (C(1 hour ago), C(2024-05-01 10:00:00), C(-15min)). Files are read by O(lines) and O(max_bytes) only.
    type: str
    default: 1 hour ago
  lines:
    description: Read at most this many of the last lines of each source (1 to 100000).
    type: int
    default: 500
  max_bytes:
    description: Read at most this many bytes from the end of each source (1024 to 67108864).
    type: int
    default: 1048576
  patterns:
    description:
      - What to count, as name -> Python regular expression searched anywhere in each line; add C((?i)) for a
        match that ignores case. A pattern found in a source is the finding C(log.pattern_found).
    type: dict
    default:
      error: (?i)(error|exception|fatal)
      connection: (?i)connection
  last_matches:
    description: Keep this many of the last matching lines per source and pattern (0 to 100).
    type: int
    default: 10
  kernel:
    description: Read the kernel log for OOM kills.
    type: bool
    default: true
notes:
  - Runs on the application server (Python 3 standard library, C(journalctl), C(dmesg)); the kernel log needs root.
"""

EXAMPLES = r"""
- name: Check logs for startup errors (Application Server Issues, Restart Application)
  sre.runbooks.log_scan_info:
    paths: [/var/log/pynomaly/application.log]
    unit: pynomaly
    since: 30 min ago
  register: app_logs

- name: Count 5xx responses in the nginx access log (Verification)
  sre.runbooks.log_scan_info:
    paths: [/var/log/nginx/access.log]
    patterns:
      server_error: '" 5\d\d '
    kernel: false
  register: nginx_5xx
"""

RETURN = r"""
status:
  description: C(degraded) with a warning or critical finding; C(ok) otherwise.
  returned: always
  type: str
  sample: degraded
findings:
  description:
    - Ids C(log.pattern_found) (info - evidence, not a fault by itself; one per source and pattern found;
      evidence C(source), C(pattern), C(count), C(last) (the last matching line)),
    - C(log.oom_kill) (critical; one per killed process; evidence C(process), C(pid) (null for systemd's lines),
      C(count), C(lines), C(before_current_run)); info when the kill came before the O(unit)'s last main process
      started, whether that process runs now or has just failed (the kill ended an earlier run),
    - C(log.source_unreadable) (warning; a file missing or unreadable, or the journal not readable; C(source),
      C(reason)),
    - C(log.kernel_log_unreadable) (info; the kernel log cannot be read here, so OOM kills cannot be seen; C(reason)).
  returned: always
  type: list
  elements: dict
  sample:
    - id: log.oom_kill
      severity: critical
      summary: "The kernel killed python3 (pid 812) for lack of memory"
      evidence: {process: python3, pid: 812, count: 1,
                 lines: ["2024-05-01T10:03:00+0000 app-1 kernel: Out of memory: Killed process 812 (python3)"]}
sources:
  description:
    - One entry per source read - C(source) (the path, C(journal:<unit>) or C(kernel)), C(readable), C(reason)
      (why not, else null), C(lines_read), C(bytes_read), C(truncated) (there was more than was read),
      C(counts) (pattern name -> matching lines), C(last_matches) (pattern name -> the last matching lines).
    - The kernel source counts only its OOM lines, under the name C(oom).
  returned: always
  type: list
  elements: dict
  sample:
    - {source: /var/log/pynomaly/application.log, readable: true, reason: null, lines_read: 500, bytes_read: 48213,
       truncated: true, counts: {error: 3, connection: 1},
       last_matches: {error: ["2024-05-01 10:03:00 ERROR db: connection refused"],
                      connection: ["2024-05-01 10:03:00 ERROR db: connection refused"]}}
oom_kills:
  description:
    - Every OOM kill line found - C(line), C(pid) and C(process) (the unit for systemd's lines).
    - With O(unit), only the kernel's kills of the unit's process (see the description).
  returned: always
  type: list
  elements: dict
  sample:
    - {line: "2024-05-01T10:03:00+0000 app-1 kernel: Out of memory: Killed process 812 (python3)", pid: 812,
       process: python3}
kernel_log_readable:
  description: Whether the kernel log could be read (null when O(kernel=false)).
  returned: always
  type: bool
  sample: true
"""

import datetime
import os
import re

from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.findings import check_result, finding
from ansible_collections.sre.runbooks.plugins.module_utils.host import run, systemd_time, unit_name, unit_properties
from ansible_collections.sre.runbooks.plugins.module_utils.redact import redact_text

DEFAULT_PATTERNS = {"error": "(?i)(error|exception|fatal)", "connection": "(?i)connection"}
BOUNDS = {"lines": (1, 100000), "max_bytes": (1024, 67108864), "last_matches": (0, 100)}
KERNEL_OOM = re.compile(r"(?i)killed process|out of memory")
KILLED = re.compile(r"Killed process (\d+) \(([^)]*)\)")
SYSTEMD_OOM = re.compile(r"killed by the OOM killer|Failed with result 'oom-kill'")
SIGKILLED = re.compile(r"code=killed, status=9/KILL")
STAMP = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:[.,]\d+)?(Z|[+-]\d{2}:?\d{2})?")
ATTRIBUTION_SECONDS = 5  # a kernel OOM kill and the unit's SIGKILL this close are the same event
MAX_LINE = 1000  # characters of a returned line


def compile_patterns(patterns):
    """{name: compiled}; a bad regex fails naming patterns.<name>."""
    compiled = {}
    for name, regex in (patterns or {}).items():
        try:
            compiled[name] = re.compile(str(regex))
        except re.error as exc:
            raise RunbookError(f"patterns.{name}: {regex!r} is not a regular expression: {exc}",
                               option="patterns") from exc
    return compiled


def shown(line):
    """A line as returned: secrets masked, cut at MAX_LINE characters."""
    line = redact_text(line)
    return line if len(line) <= MAX_LINE else line[:MAX_LINE] + "..."


def source_entry(source, readable=True, reason=None):
    return {"source": source, "readable": readable, "reason": redact_text(reason) if reason else None,
            "lines_read": 0, "bytes_read": 0, "truncated": False, "counts": {}, "last_matches": {}}


def tail_lines(data, offset, lines):
    """(the last lines of data, truncated): a partial first line (data read from offset > 0) is dropped."""
    text = data.decode("utf-8", errors="replace")
    if offset > 0:
        text = text.partition("\n")[2]
    kept = text.splitlines()
    return kept[-lines:], offset > 0 or len(kept) > lines


def read_file(path, lines, max_bytes):
    """(entry, lines) for the end of one file."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            offset = max(0, size - max_bytes)
            handle.seek(offset)
            data = handle.read(max_bytes)
    except OSError as exc:
        return source_entry(path, False, exc.strerror or str(exc)), []
    entry = source_entry(path)
    kept, entry["truncated"] = tail_lines(data, offset, lines)
    entry.update(lines_read=len(kept), bytes_read=len(data))
    return entry, kept


def read_command(module, source, argv, lines, max_bytes):
    """(entry, lines) for a command's output (journalctl -n lines, dmesg); a bad --since fails naming since."""
    rc, out, err = run(module, argv, check=False)
    if rc != 0:
        if "timestamp" in err or "time value" in err:
            raise RunbookError(f"since: {argv[argv.index('--since') + 1]!r} is not a time {os.path.basename(argv[0])}"
                               f" understands: {err.strip()}", option="since")
        return source_entry(source, False, (err or out).strip()[:300] or f"rc {rc}"), []
    data = out.encode("utf-8")
    entry = source_entry(source)
    kept, cut = tail_lines(data[-max_bytes:], max(0, len(data) - max_bytes), lines)
    limited = "-n" in argv and len(kept) >= lines  # journalctl stopped at the line limit: there may be more
    entry.update(lines_read=len(kept), bytes_read=min(len(data), max_bytes), truncated=cut or limited)
    return entry, kept


def scan(entry, lines, patterns, last_matches):
    """Fill the entry's counts and last_matches."""
    for name, regex in patterns.items():
        hits = [line for line in lines if regex.search(line)]
        entry["counts"][name] = len(hits)
        entry["last_matches"][name] = [shown(line) for line in hits[-last_matches:]] if last_matches else []


def oom_lines(lines, unit=None):
    """The OOM kills in kernel lines (unit None) or in systemd's lines of a unit's journal."""
    kills = []
    for line in lines:
        if unit is None and KERNEL_OOM.search(line):
            killed = KILLED.search(line)
            kills.append({"line": shown(line), "pid": int(killed.group(1)) if killed else None,
                          "process": killed.group(2) if killed else None})
        elif unit is not None and SYSTEMD_OOM.search(line):
            kills.append({"line": shown(line), "pid": None, "process": unit})
    return kills


def stamp(line):
    """The time at the start of a journal (short-iso) or dmesg (--time-format iso) line; None without one."""
    found = STAMP.match(line)
    if not found:
        return None
    zone = (found.group(2) or "+0000").replace("Z", "+0000").replace(":", "")
    try:
        return datetime.datetime.strptime(found.group(1) + zone, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def attributed(kernel_kills, unit_lines):
    """The kernel's OOM kills that hit the unit: its main process was killed (SIGKILL) within
    ATTRIBUTION_SECONDS of them. The kernel log is the machine's: other programs' kills (or, on a machine that
    runs containers, other containers') are not this service's crash."""
    unit_kills = [t for t in (stamp(line) for line in unit_lines if SIGKILLED.search(line)) if t]

    def near(when):
        return when is not None and any(abs((when - t).total_seconds()) <= ATTRIBUTION_SECONDS for t in unit_kills)
    return [kill for kill in kernel_kills if near(stamp(kill["line"]))]


def journal_argv(journalctl, selection, params):
    return [journalctl] + selection + ["--since", params["since"], "-n", str(params["lines"]), "-o", "short-iso",
                                       "--no-pager", "-q"]


def dmesg_since(since):
    """dmesg reads a time in this host's local time and without a zone: a journalctl-style 'YYYY-MM-DD HH:MM:SS UTC'
    is converted; anything else ('1 hour ago') is passed as it is."""
    try:
        when = datetime.datetime.strptime(since, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return since
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def read_kernel(module, params):
    """(entry, lines): dmesg (the runbook's; the kernel's own buffer, with real times), else journalctl -k (it keeps
    what the buffer lost). Unreadable only when dmesg cannot be read and the journal has no kernel line."""
    args = (params["lines"], params["max_bytes"])
    reasons, readable_empty = [], None
    dmesg = module.get_bin_path("dmesg")
    if dmesg:
        argv = [dmesg, "--time-format", "iso", "--since", dmesg_since(params["since"])]
        entry, lines = read_command(module, "kernel", argv, *args)
        if lines:
            return entry, lines
        if entry["readable"]:
            readable_empty = entry
        else:
            reasons.append(f"dmesg: {entry['reason']}")
    journalctl = module.get_bin_path("journalctl")
    if journalctl:
        entry, lines = read_command(module, "kernel", journal_argv(journalctl, ["-k"], params), *args)
        if lines:
            return entry, lines
        reasons.append(f"journalctl -k: {entry['reason']}" if entry["reason"]
                       else f"journalctl -k shows no kernel message since {params['since']}")
    if readable_empty is not None:
        return readable_empty, []
    return source_entry("kernel", False, "; ".join(reasons) or "neither dmesg nor journalctl is installed"), []


def oom_findings(kills, running_since=None):
    """One log.oom_kill per killed process (systemd's lines: per unit). With running_since (the unit is active and
    its main process started then), a kill before it ended an earlier run: info, a record; else critical."""
    groups = {}
    for kill in kills:
        groups.setdefault((kill["process"], kill["pid"]), []).append(kill["line"])
    findings = []
    for (process, pid), lines in groups.items():
        if pid is not None:
            summary = f"The kernel killed {process} (pid {pid}) for lack of memory"
        elif process:
            summary = f"The OOM killer killed a process of {process}"
        else:
            summary = "The kernel ran out of memory"
        last = stamp(lines[-1])
        earlier = running_since is not None and last is not None and last < running_since
        if earlier:
            summary += f", before the service's last run (started {running_since:%Y-%m-%d %H:%M:%S} UTC)"
        findings.append(finding("log.oom_kill", "info" if earlier else "critical", summary,
                                {"process": process, "pid": pid, "count": len(lines), "lines": lines[-10:],
                                 "before_current_run": earlier}))
    return findings


def running_since(module, unit):
    """When the unit's last main process started (running now, or the one that just failed or exited); None
    when it never started. A kill before then ended an earlier run, not this one."""
    props = unit_properties(module, unit, ("ActiveState", "ExecMainStartTimestamp"))
    started = systemd_time(props.get("ExecMainStartTimestamp"))
    if not started:
        return None
    return datetime.datetime.strptime(started, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def assess(sources, kills, kernel_entry, since_start=None):
    findings = []
    for entry in sources:
        if not entry["readable"] and entry["source"] != "kernel":
            findings.append(finding("log.source_unreadable", "warning",
                                    f"Cannot read {entry['source']}: {entry['reason']}",
                                    {"source": entry["source"], "reason": entry["reason"]}))
        if entry["source"] == "kernel":
            continue
        for name, count in entry["counts"].items():
            if count:
                last = entry["last_matches"][name]
                # evidence for the diagnosis, not a fault: a log keeps old errors long after they stopped
                findings.append(finding("log.pattern_found", "info",
                                        f"{count} line(s) of {entry['source']} match {name!r}",
                                        {"source": entry["source"], "pattern": name, "count": count,
                                         "last": last[-1] if last else None}))
    findings.extend(oom_findings(kills, since_start))
    if kernel_entry is not None and not kernel_entry["readable"]:
        findings.append(finding("log.kernel_log_unreadable", "info",
                                "The kernel log cannot be read on this host, so OOM kills of processes cannot be "
                                f"seen here ({kernel_entry['reason']})", {"reason": kernel_entry["reason"]}))
    return findings


def check(module):
    params = module.params
    patterns = compile_patterns(params["patterns"])
    limits = (params["lines"], params["max_bytes"])
    sources, kills, kernel_entry, unit_lines = [], [], None, None
    for path in dict.fromkeys(params["paths"]):
        entry, lines = read_file(path, *limits)
        scan(entry, lines, patterns, params["last_matches"])
        sources.append(entry)
    if params["unit"]:
        unit = unit_name(params["unit"], option="unit")
        journalctl = module.get_bin_path("journalctl")
        if journalctl:
            entry, lines = read_command(module, f"journal:{unit}", journal_argv(journalctl, ["-u", unit], params),
                                        *limits)
        else:
            entry, lines = source_entry(f"journal:{unit}", False, "journalctl is not installed"), []
        scan(entry, lines, patterns, params["last_matches"])
        kills.extend(oom_lines(lines, unit))
        sources.append(entry)
        unit_lines = lines
    if params["kernel"]:
        kernel_entry, lines = read_kernel(module, params)
        found = oom_lines(lines)
        kernel_entry["counts"]["oom"] = len(found)
        kernel_entry["last_matches"]["oom"] = [k["line"] for k in found][-params["last_matches"]:] \
            if params["last_matches"] else []
        kills = (found if unit_lines is None else attributed(found, unit_lines)) + kills
        sources.append(kernel_entry)
    current_run = None
    if params["unit"] and kills:
        try:
            current_run = running_since(module, unit_name(params["unit"], option="unit"))
        except RunbookError:  # no systemd here: every kill counts
            current_run = None
    return check_result(assess(sources, kills, kernel_entry, current_run), sources=sources, oom_kills=kills,
                        kernel_log_readable=kernel_entry["readable"] if kernel_entry else None)


def main():
    module = RunbookModule(
        argument_spec={
            "paths": {"type": "list", "elements": "path", "default": []},
            "unit": {"type": "str"},
            "since": {"type": "str", "default": "1 hour ago"},
            "lines": {"type": "int", "default": 500},
            "max_bytes": {"type": "int", "default": 1048576},
            "patterns": {"type": "dict", "default": dict(DEFAULT_PATTERNS)},
            "last_matches": {"type": "int", "default": 10},
            "kernel": {"type": "bool", "default": True},
        },
        bounds=BOUNDS,
        supports_check_mode=True,
    )
    module.exit_json(changed=False, **module.run(check))


if __name__ == "__main__":
    main()
