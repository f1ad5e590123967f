"""Enforce the pynomaly unit's memory limit on the lab hosts from outside, where their systemd cannot.

    python -m lab.host_memory --lab-dir LAB

On a machine with cgroup v1, a container's systemd sees the memory controller read only: it accepts
MemoryMax=/MemoryLimit= (``systemctl show`` reports them) but cannot apply them. This loop does what systemd
would do on a server: every 0.1 s it puts the unit's processes in a memory cgroup of this machine's own
hierarchy whose limit is the unit's effective limit (read from the host's systemd), so past it the kernel's
OOM killer really kills the process and logs it in the kernel log (which the hosts' dmesg reads). Like
systemd on cgroup v1, MemoryMax= wins when set, else MemoryLimit=.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

from lab.core import Lab

INTERVAL = 0.1
LIMIT_EVERY = 5  # read the unit's limit every 5 rounds (0.5 s)
UNLIMITED = -1


def own_memory_cgroup() -> Path:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return Path("/sys/fs/cgroup/memory") / path.lstrip("/")
    return Path("/sys/fs/cgroup/memory")


def memory_cgroup(host: dict) -> Path:
    return own_memory_cgroup() / host["cgroup"]


def unit_limit(leader: int, unit: str) -> int:
    """The unit's effective memory limit in bytes (UNLIMITED when none) as the host's systemd reports it."""
    done = subprocess.run(["nsenter", "-t", str(leader), "-a", "--", "systemctl", "show", unit, "-p",
                           "MemoryMax,MemoryLimit"], capture_output=True, text=True, check=False, timeout=5)
    values = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    for name in ("MemoryMax", "MemoryLimit"):
        value = values.get(name, "infinity")
        if value.isdigit() and int(value) < 2 ** 63 - 1:
            return int(value)
    return UNLIMITED


def unit_pids(host: dict, unit: str) -> list[int]:
    """The unit's processes, found by the host's own cgroup path for it."""
    marker = f"/{host['cgroup']}/payload/system.slice/{unit}.service"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "cgroup").read_text():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def apply(host: dict, limit: int, pids: list[int]) -> None:
    cgroup = memory_cgroup(host)
    cgroup.mkdir(exist_ok=True)
    limit_file = cgroup / "memory.limit_in_bytes"
    current = int(limit_file.read_text())
    if (current < 2 ** 62) if limit == UNLIMITED else current != limit:
        try:
            limit_file.write_text(str(limit))
        except OSError:  # below current use: the kernel refuses; it applies once the process is gone
            pass
    inside = set((cgroup / "cgroup.procs").read_text().split())
    for pid in pids:
        if str(pid) not in inside:
            try:
                (cgroup / "cgroup.procs").write_text(str(pid))
            except OSError:
                continue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab-dir", required=True)
    args = parser.parse_args()
    lab = Lab(Path(args.lab_dir))
    info = lab.service("hosts")
    limits: dict[str, int] = {}
    rounds = 0
    from lab.hosts import leader_pid
    while True:
        for name, host in info.get("hosts", {}).items():
            try:
                if rounds % LIMIT_EVERY == 0 or name not in limits:
                    limits[name] = unit_limit(leader_pid(lab, name), info["unit"])
                apply(host, limits[name], unit_pids(host, info["unit"]))
            except Exception as exc:  # noqa: BLE001 -- a host that is down or booting: try again next round
                if rounds % 100 == 0:
                    print(f"{name}: {exc}", flush=True)
        rounds += 1
        time.sleep(INTERVAL)


if __name__ == "__main__":
    main()
