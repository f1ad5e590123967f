# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the host-tier modules share: running a command on the host they run on, asking systemd, reading /proc.

These modules run on the application servers themselves (over SSH, like ``systemctl`` in the runbook).
They use only the standard library and the host's own tools (systemctl, journalctl, ss), so nothing
has to be installed on a server before an incident.
"""

import os
import pwd
import re
from datetime import datetime, timezone

from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError

# The unit properties the host modules read (systemctl show -p ...).
UNIT_PROPERTIES = (
    "Id", "LoadState", "ActiveState", "SubState", "Result", "NRestarts", "MainPID", "ExecMainStatus",
    "ExecMainCode", "ExecMainStartTimestamp", "ActiveEnterTimestamp", "StateChangeTimestamp",
    "MemoryCurrent", "MemoryMax", "MemoryLimit", "CPUQuotaPerSecUSec", "DropInPaths", "FragmentPath",
    "StartLimitBurst", "Restart", "ControlGroup",
)

UNIT_TYPES = ("service", "socket", "target", "timer", "mount", "path", "scope", "slice", "device", "swap",
              "automount")
UNIT_NAME = re.compile(r"^[A-Za-z0-9:_.@\\-]+$")

# The state column (st) of a listening socket in /proc/net/tcp and tcp6.
TCP_LISTEN = "0A"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def run(module, argv, check=True, data=None, environ=None):
    """Run argv on this host; return (rc, stdout, stderr). check=True raises RunbookError on rc != 0.

    environ: more environment variables for the command (LC_ALL=C and SYSTEMD_COLORS=0 are always set).
    """
    env = {"LC_ALL": "C", "SYSTEMD_COLORS": "0"}
    env.update(environ or {})
    rc, out, err = module.run_command(list(argv), data=data, environ_update=env)
    if check and rc != 0:
        raise RunbookError(f"{' '.join(argv)} failed (rc {rc}): {(err or out).strip()[:300]}")
    return rc, out, err


def systemctl_path(module):
    """systemctl, or a RunbookError that says this host has no systemd."""
    path = module.get_bin_path("systemctl")
    if not path or not os.path.isdir("/run/systemd/system"):
        raise RunbookError("this host does not run systemd (no systemctl or /run/systemd/system): "
                           "the host-tier modules need a systemd host")
    return path


def unit_name(name, option="name"):
    """The full unit name (pynomaly -> pynomaly.service); a RunbookError naming the option when it is not one."""
    if not name or not UNIT_NAME.match(name):
        raise RunbookError(f"{option}: {name!r} is not a systemd unit name", option=option)
    return name if name.rpartition(".")[2] in UNIT_TYPES else f"{name}.service"


def parse_show(text):
    """systemctl show output (KEY=value lines) -> dict."""
    props = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            props[key] = value
    return props


def unit_properties(module, unit, names=UNIT_PROPERTIES):
    """The unit's properties as systemd reports them (strings, as systemctl prints them; timestamps in UTC)."""
    _rc, out, _err = run(module, [systemctl_path(module), "show", unit, "--no-pager", "-p", ",".join(names)],
                         environ={"TZ": "UTC"})
    return parse_show(out)


def daemon_reload(module):
    run(module, [systemctl_path(module), "daemon-reload"])


def to_int(value, default=None):
    """systemd's numbers: '' / '[not set]' / 'infinity' / out-of-range sentinels -> default."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return default if number >= 2 ** 63 - 1 or number < 0 else number


def systemd_time(value):
    """A timestamp as systemctl show prints it under TZ=UTC ('Fri 2024-05-01 10:00:00 UTC') -> ISO 8601, or None."""
    match = re.search(r"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)", value or "")
    return f"{match.group(1)}T{match.group(2)}Z" if match else None


def parse_mounts(text):
    """/proc/mounts -> [(source, mount, fstype)], with the octal escapes (\\040 for a space) decoded."""
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            entries.append((_unescape(fields[0]), _unescape(fields[1]), fields[2]))
    return entries


def _unescape(field):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def read_text(path, default=None):
    """A small file's text (/proc, /sys), or default when it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return default


def listening_ports(texts=None):
    """The TCP ports something listens on here (any address), from /proc/net/tcp and tcp6.

    texts: the files' contents (tests); default - read them.
    """
    if texts is None:
        texts = [read_text(p, "") for p in ("/proc/net/tcp", "/proc/net/tcp6")]
    ports = set()
    for text in texts:
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[3] == TCP_LISTEN:
                ports.add(int(fields[1].rpartition(":")[2], 16))
    return ports


def boot_time():
    """When the host booted (seconds since the epoch), from /proc/stat's btime."""
    for line in (read_text("/proc/stat", "")).splitlines():
        if line.startswith("btime "):
            return int(line.split()[1])
    return None


def parse_proc_stat(text):
    """/proc/PID/stat -> (comm, fields after comm); the command name may hold spaces and parentheses."""
    head, _sep, tail = text.rpartition(")")
    return head.partition("(")[2], tail.split()


def process_info(pid, booted=None):
    """One process as ps aux shows it: pid, user, rss_bytes, started (ISO 8601), command; None when it is gone."""
    stat = read_text(f"/proc/{pid}/stat")
    status = read_text(f"/proc/{pid}/status")
    if not stat or status is None:
        return None
    comm, fields = parse_proc_stat(stat)
    uid = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("Uid:")), None)
    try:
        user = pwd.getpwuid(uid).pw_name if uid is not None else None
    except KeyError:
        user = str(uid)
    cmdline = (read_text(f"/proc/{pid}/cmdline") or "").replace("\0", " ").strip()
    booted = booted if booted is not None else boot_time()
    started = None
    if booted is not None:
        started = datetime.fromtimestamp(booted + int(fields[19]) / CLOCK_TICKS, timezone.utc)
        started = started.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"pid": int(pid), "user": user, "rss_bytes": int(fields[21]) * PAGE_SIZE, "started": started,
            "command": cmdline or f"[{comm}]"}


def pids():
    """The ids of the processes running here."""
    return sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
