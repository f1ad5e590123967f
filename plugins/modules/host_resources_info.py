#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: host_resources_info
short_description: Check an application server's CPU, memory, swap, load and disks
version_added: 1.0.0
description:
  - The runbook's C(htop), C(df -h) and C(free -h) (Application Server Issues, Check Process Status), run on the
    application server itself, from C(/proc) and C(statvfs).
  - CPU use is sampled over about 0.2 seconds; the processes using the most memory and CPU are listed.
  - Thresholds are options, so that the inventory can set them per group of hosts.
  - A full disk or a host short of memory is a finding, not a failure of the task.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.attributes
  - sre.runbooks.attributes.INFO_MODULE
options:
  disk_warn_percent:
    description: A filesystem used at or above this percentage is low on space (warning; 1 to 100).
    type: int
    default: 85
  disk_critical_percent:
    description: A filesystem used at or above this percentage is full (critical; 1 to 100, not below
      O(disk_warn_percent)).
    type: int
    default: 95
  inode_critical_percent:
    description: A filesystem with this percentage of its inodes used or more is out of inodes (critical; 1 to 100).
    type: int
    default: 95
  memory_warn_percent:
    description: Memory in use (total less available) at or above this percentage is a warning (1 to 100).
    type: int
    default: 90
  swap_warn_percent:
    description: Swap in use at or above this percentage is a warning (1 to 100).
    type: int
    default: 50
  load_warn_per_cpu:
    description: A 1-minute load average at or above this many runnable tasks per CPU is a warning (0.1 or more).
    type: float
    default: 2.0
  top:
    description: How many processes to list in C(top_memory) and C(top_cpu) of RV(resources) (0 to 50).
    type: int
    default: 5
  mounts:
    description:
      - The filesystems to check, by a path on each (each must exist on the host).
      - Default - every real filesystem in C(/proc/mounts) (block devices, ZFS, the root overlay of a container)
        and the C(tmpfs) mounted on or under C(/tmp) and C(/var); not C(proc), C(sysfs), C(cgroup), C(devpts),
        C(mqueue) and the like, not read-only images (C(squashfs)), and not network filesystems (a hung server
        would hang the check). A filesystem mounted at several places is listed once.
    type: list
    elements: str
notes:
  - Runs on the application server (Python 3 standard library); Linux only.
"""

EXAMPLES = r"""
- name: Check resource usage (Application Server Issues, htop / df -h / free -h)
  sre.runbooks.host_resources_info:
    disk_warn_percent: "{{ host_disk_warn_percent | default(85) }}"
    disk_critical_percent: "{{ host_disk_critical_percent | default(95) }}"
  register: resources

- name: Check the disks that hold the application's data and logs only
  sre.runbooks.host_resources_info:
    mounts: [/, /var/log, /srv/pynomaly]
    top: 0
"""

RETURN = r"""
status:
  description: C(degraded) with any finding of severity warning or critical; C(ok) otherwise.
  returned: always
  type: str
  sample: degraded
findings:
  description:
    - Ids C(host.disk_full) (used at or above O(disk_critical_percent); critical; evidence C(mount),
      C(used_percent), C(available) in bytes),
    - C(host.disk_low) (used at or above O(disk_warn_percent); warning; the same evidence),
    - C(host.inodes_full) (inodes used at or above O(inode_critical_percent); critical; C(mount),
      C(inodes_used_percent)),
    - C(host.memory_low) (warning; C(total), C(available), C(used_percent)),
    - C(host.swap_heavy) (warning; C(total), C(used), C(used_percent)),
    - C(host.load_high) (warning; C(load), C(cpus), C(per_cpu)).
  returned: always
  type: list
  elements: dict
  sample:
    - id: host.disk_full
      severity: critical
      summary: "/var/log is 97.0% full (1048576 bytes available)"
      evidence: {mount: /var/log, used_percent: 97.0, available: 1048576}
resources:
  description:
    - C(load) (1, 5 and 15 minutes), C(cpus) (CPUs this host may use), C(cpu_percent) (all CPUs, sampled).
    - C(memory) (C(total), C(available) in bytes, C(used_percent)); C(swap) (C(total), C(used), C(used_percent)).
    - C(mounts), one per filesystem - C(mount), C(fstype), C(size), C(used), C(available) (bytes, as C(df)),
      C(used_percent), C(inodes_used_percent) (null for a filesystem without an inode count).
    - C(top_memory) and C(top_cpu), the first O(top) processes by resident memory and by CPU in the sample -
      C(pid), C(user), C(rss_bytes), C(cpu_percent) (of one CPU), C(started), C(command) (secrets masked).
      This check's own process is left out.
  returned: always
  type: dict
  sample:
    load: [0.42, 0.3, 0.25]
    cpus: 2
    cpu_percent: 12.5
    memory: {total: 4102029312, available: 2051014656, used_percent: 50.0}
    swap: {total: 0, used: 0, used_percent: 0.0}
    mounts:
      - {mount: /, fstype: ext4, size: 52521566208, used: 12015570944, available: 37807521792,
         used_percent: 24.1, inodes_used_percent: 6.2}
    top_memory:
      - {pid: 71, user: pynomaly, rss_bytes: 104857600, cpu_percent: 3.1, started: "2024-05-01T10:00:00Z",
         command: /usr/bin/python3 -m pynomaly}
    top_cpu:
      - {pid: 71, user: pynomaly, rss_bytes: 104857600, cpu_percent: 3.1, started: "2024-05-01T10:00:00Z",
         command: /usr/bin/python3 -m pynomaly}
"""

import os
import time

from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.findings import check_result, finding
from ansible_collections.sre.runbooks.plugins.module_utils.host import (
    CLOCK_TICKS,
    PAGE_SIZE,
    parse_mounts,
    parse_proc_stat,
    pids,
    process_info,
    read_text,
)
from ansible_collections.sre.runbooks.plugins.module_utils.redact import redact_text

PERCENTS = ("disk_warn_percent", "disk_critical_percent", "inode_critical_percent", "memory_warn_percent",
            "swap_warn_percent")
BOUNDS = dict({name: (1, 100) for name in PERCENTS}, load_warn_per_cpu=(0.1, None), top=(0, 50))
SAMPLE_SECONDS = 0.2
# Filesystems on disks (checked wherever their source is); block-device images that are always full are not.
DISK_FSTYPES = ("ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "f2fs", "vfat", "exfat", "jfs", "reiserfs", "ntfs")
IMAGE_FSTYPES = ("squashfs", "iso9660", "udf", "erofs")


def is_real(source, mount, fstype):
    """Whether a mount is checked by default (see the option mounts)."""
    if fstype == "tmpfs":
        return any(mount == top or mount.startswith(top + "/") for top in ("/tmp", "/var"))
    if fstype == "overlay":
        return mount == "/"
    if fstype in IMAGE_FSTYPES:
        return False
    return fstype in DISK_FSTYPES or source.startswith("/dev/")


def default_mounts(entries, device_of=lambda path: os.stat(path).st_dev):
    """The mounts checked by default: real ones that are directories, one per filesystem (the shortest path)."""
    chosen = {}
    for source, mount, fstype in entries:
        if not is_real(source, mount, fstype) or not os.path.isdir(mount):
            continue
        try:
            device = device_of(mount)
        except OSError:
            continue
        if device not in chosen or len(mount) < len(chosen[device][0]):
            chosen[device] = (mount, fstype)
    order = {mount: index for index, (_s, mount, _f) in enumerate(entries)}
    return sorted(chosen.values(), key=lambda item: order[item[0]])


def fstype_of(path, entries):
    """The type of the filesystem a path is on (the longest mount point that holds it)."""
    best = ("", None)
    real = os.path.realpath(path)
    for _source, mount, fstype in entries:
        if (real == mount or real.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best[0]):
            best = (mount, fstype)
    return best[1]


def usage(path, fstype):
    """df for one path: size, used, available (bytes) and the percentages."""
    st = os.statvfs(path)
    size, free, available = st.f_blocks * st.f_frsize, st.f_bfree * st.f_frsize, st.f_bavail * st.f_frsize
    used = size - free
    inodes_used = st.f_files - st.f_ffree
    return {"mount": path, "fstype": fstype, "size": size, "used": used, "available": available,
            "used_percent": percent(used, used + available),
            "inodes_used_percent": percent(inodes_used, st.f_files) if st.f_files else None}


def percent(part, whole):
    return round(100.0 * part / whole, 1) if whole else 0.0


def meminfo(text):
    """/proc/meminfo -> {key: bytes}."""
    values = {}
    for line in text.splitlines():
        key, _sep, rest = line.partition(":")
        number = rest.split()
        if number and number[0].isdigit():
            values[key] = int(number[0]) * (1024 if rest.strip().endswith("kB") else 1)
    return values


def cpu_times(text):
    """(busy, total) clock ticks of all CPUs from /proc/stat."""
    fields = [int(v) for v in text.splitlines()[0].split()[1:9]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def process_sample():
    """{pid: (cpu ticks, rss bytes)} of every process now, but this check's own (and the shell that started it)."""
    sample = {}
    own = (os.getpid(), os.getppid())
    for pid in (p for p in pids() if p not in own):
        text = read_text(f"/proc/{pid}/stat")
        if text:
            fields = parse_proc_stat(text)[1]
            sample[pid] = (int(fields[11]) + int(fields[12]), int(fields[21]) * PAGE_SIZE)
    return sample


def sample_cpu():
    """(host cpu_percent, {pid: (cpu_percent, rss bytes)}) over SAMPLE_SECONDS."""
    before, procs_before, start = cpu_times(read_text("/proc/stat")), process_sample(), time.monotonic()
    time.sleep(SAMPLE_SECONDS)
    after, procs_after, elapsed = cpu_times(read_text("/proc/stat")), process_sample(), time.monotonic() - start
    host = percent(after[0] - before[0], after[1] - before[1])
    procs = {}
    for pid, (ticks, rss) in procs_after.items():
        used = ticks - procs_before[pid][0] if pid in procs_before else 0
        procs[pid] = (round(100.0 * used / CLOCK_TICKS / elapsed, 1), rss)
    return host, procs


def top_processes(procs, count, key):
    """The first count processes by key (0: cpu_percent, 1: rss), as process_info entries."""
    listed = []
    for pid in sorted(procs, key=lambda p: procs[p][key], reverse=True):
        if len(listed) == count:
            break
        info = process_info(pid)
        if info:
            info["cpu_percent"] = procs[pid][0]
            info["command"] = redact_text(info["command"])
            listed.append(info)
    return listed


def assess(resources, params):
    """The findings about the resources read."""
    findings = []
    for fs in resources["mounts"]:
        evidence = {"mount": fs["mount"], "used_percent": fs["used_percent"], "available": fs["available"]}
        summary = f"{fs['mount']} is {fs['used_percent']}% full ({fs['available']} bytes available)"
        if fs["used_percent"] >= params["disk_critical_percent"]:
            findings.append(finding("host.disk_full", "critical", summary, evidence))
        elif fs["used_percent"] >= params["disk_warn_percent"]:
            findings.append(finding("host.disk_low", "warning", summary, evidence))
        inodes = fs["inodes_used_percent"]
        if inodes is not None and inodes >= params["inode_critical_percent"]:
            findings.append(finding("host.inodes_full", "critical", f"{fs['mount']} has used {inodes}% of its inodes",
                                    {"mount": fs["mount"], "inodes_used_percent": inodes}))
    memory, swap = resources["memory"], resources["swap"]
    if memory["used_percent"] >= params["memory_warn_percent"]:
        findings.append(finding("host.memory_low", "warning",
                                f"{memory['used_percent']}% of memory is in use ({memory['available']} bytes "
                                "available)", dict(memory)))
    if swap["total"] and swap["used_percent"] >= params["swap_warn_percent"]:
        findings.append(finding("host.swap_heavy", "warning", f"{swap['used_percent']}% of swap is in use",
                                dict(swap)))
    per_cpu = round(resources["load"][0] / max(resources["cpus"], 1), 2)
    if per_cpu >= params["load_warn_per_cpu"]:
        findings.append(finding("host.load_high", "warning",
                                f"Load {resources['load'][0]} on {resources['cpus']} CPU(s) ({per_cpu} per CPU)",
                                {"load": resources["load"], "cpus": resources["cpus"], "per_cpu": per_cpu}))
    return findings


def mount_list(params, entries):
    """[(path, fstype)] to check: the option mounts (each must exist), or the default ones."""
    if not params["mounts"]:
        return default_mounts(entries)
    paths = []
    for path in params["mounts"]:
        if not os.path.exists(path):
            raise RunbookError(f"mounts: {path} does not exist on this host", option="mounts")
        if path not in paths:
            paths.append(path)
    return [(path, fstype_of(path, entries)) for path in paths]


def check(module):
    params = module.params
    if params["disk_warn_percent"] > params["disk_critical_percent"]:
        raise RunbookError(f"disk_warn_percent ({params['disk_warn_percent']}) must not be above "
                           f"disk_critical_percent ({params['disk_critical_percent']})", option="disk_warn_percent")
    entries = parse_mounts(read_text("/proc/mounts", ""))
    mounts = [usage(path, fstype) for path, fstype in mount_list(params, entries)]
    mem = meminfo(read_text("/proc/meminfo", ""))
    total, available = mem.get("MemTotal", 0), mem.get("MemAvailable", mem.get("MemFree", 0))
    swap_total, swap_used = mem.get("SwapTotal", 0), mem.get("SwapTotal", 0) - mem.get("SwapFree", 0)
    cpu_percent, procs = sample_cpu()
    resources = {
        "load": [float(v) for v in read_text("/proc/loadavg", "0 0 0").split()[:3]],
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_percent": cpu_percent,
        "memory": {"total": total, "available": available, "used_percent": percent(total - available, total)},
        "swap": {"total": swap_total, "used": swap_used, "used_percent": percent(swap_used, swap_total)},
        "mounts": mounts,
        "top_memory": top_processes(procs, params["top"], 1),
        "top_cpu": top_processes(procs, params["top"], 0),
    }
    return check_result(assess(resources, params), resources=resources)


def main():
    module = RunbookModule(
        argument_spec={
            "disk_warn_percent": {"type": "int", "default": 85},
            "disk_critical_percent": {"type": "int", "default": 95},
            "inode_critical_percent": {"type": "int", "default": 95},
            "memory_warn_percent": {"type": "int", "default": 90},
            "swap_warn_percent": {"type": "int", "default": 50},
            "load_warn_per_cpu": {"type": "float", "default": 2.0},
            "top": {"type": "int", "default": 5},
            "mounts": {"type": "list", "elements": "str"},
        },
        bounds=BOUNDS,
        supports_check_mode=True,
    )
    module.exit_json(changed=False, **module.run(check))


if __name__ == "__main__":
    main()
