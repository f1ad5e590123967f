"""What host_resources_info reads from /proc and which thresholds make findings."""

import types

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.host import parse_mounts
from ansible_collections.sre.runbooks.plugins.modules.host_resources_info import (
    assess,
    check,
    cpu_times,
    default_mounts,
    fstype_of,
    is_real,
    meminfo,
)

PARAMS = {"disk_warn_percent": 85, "disk_critical_percent": 95, "inode_critical_percent": 95,
          "memory_warn_percent": 90, "swap_warn_percent": 50, "load_warn_per_cpu": 2.0, "top": 5, "mounts": None}

MOUNTS = r"""/dev/vda / ext4 rw,relatime 0 0
tmpfs /tmp tmpfs rw,nosuid,nodev 0 0
proc /proc proc rw 0 0
sysfs /sys sysfs ro 0 0
tmpfs /dev/shm tmpfs rw 0 0
tmpfs /run tmpfs rw 0 0
/dev/vda /run/host/incoming ext4 ro 0 0
tmpfs /var/log tmpfs rw,size=32768k 0 0
cgroup /sys/fs/cgroup/memory cgroup ro 0 0
devpts /dev/pts devpts rw 0 0
mqueue /dev/mqueue mqueue rw 0 0
/dev/loop3 /snap/core/1 squashfs ro 0 0
server:/export /mnt/nfs nfs4 rw 0 0
tank/data /srv/data zfs rw 0 0
/dev/sdb1 /srv/my\040files xfs rw 0 0
"""


def resources(**changes):
    base = {"load": [0.5, 0.4, 0.3], "cpus": 2, "cpu_percent": 10.0,
            "memory": {"total": 1000, "available": 500, "used_percent": 50.0},
            "swap": {"total": 0, "used": 0, "used_percent": 0.0},
            "mounts": [{"mount": "/", "fstype": "ext4", "size": 100, "used": 20, "available": 80,
                        "used_percent": 20.0, "inodes_used_percent": 1.0}],
            "top_memory": [], "top_cpu": []}
    base.update(changes)
    return base


def fs(used_percent, inodes=1.0, mount="/var/log"):
    return {"mount": mount, "fstype": "tmpfs", "size": 1000, "used": 10 * used_percent, "available": 1000 - 10 *
            used_percent, "used_percent": used_percent, "inodes_used_percent": inodes}


def ids(res, **params):
    return [f["id"] for f in assess(res, dict(PARAMS, **params))]


def test_mounts_are_parsed_with_escapes():
    entries = parse_mounts(MOUNTS)
    assert entries[0] == ("/dev/vda", "/", "ext4")
    assert ("/dev/sdb1", "/srv/my files", "xfs") in entries


def test_real_filesystems_only_by_default():
    real = [mount for source, mount, fstype in parse_mounts(MOUNTS) if is_real(source, mount, fstype)]
    assert real == ["/", "/tmp", "/run/host/incoming", "/var/log", "/srv/data", "/srv/my files"]


def test_an_overlay_counts_only_as_the_root_of_a_container():
    assert is_real("overlay", "/", "overlay")
    assert not is_real("overlay", "/var/lib/docker/overlay2/x/merged", "overlay")


def test_a_filesystem_mounted_twice_is_listed_once_at_its_shortest_path(tmp_path):
    disk, again, scratch = (tmp_path / "disk", tmp_path / "disk/again", tmp_path / "scratch")
    for path in (disk, again, scratch):
        path.mkdir(parents=True)
    entries = [("/dev/vdb", str(again), "ext4"), ("/dev/vdb", str(disk), "ext4"), ("tmpfs", "/run", "tmpfs"),
               ("/dev/vdc", str(scratch), "xfs"), ("/dev/vdd", str(tmp_path / "missing"), "ext4")]
    devices = {str(again): 1, str(disk): 1, str(scratch): 2}
    assert default_mounts(entries, device_of=devices.__getitem__) == [(str(disk), "ext4"), (str(scratch), "xfs")]


def test_a_path_is_on_the_longest_mount_that_holds_it():
    entries = parse_mounts(MOUNTS)
    assert fstype_of("/var/log/pynomaly", entries) == "tmpfs"
    assert fstype_of("/var/lib", entries) == "ext4"
    assert fstype_of("/var/logs", entries) == "ext4"


def test_meminfo_in_bytes():
    mem = meminfo("MemTotal:  2048 kB\nMemAvailable:  1024 kB\nHugePages_Total:  0\n")
    assert mem == {"MemTotal": 2097152, "MemAvailable": 1048576, "HugePages_Total": 0}


def test_cpu_times_count_iowait_as_idle():
    assert cpu_times("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8\n") == (150, 1000)


def test_a_quiet_host_has_no_finding():
    assert ids(resources()) == []


@pytest.mark.parametrize(("used", "expected"), [(84.9, []), (85.0, ["host.disk_low"]), (94.9, ["host.disk_low"]),
                                                (95.0, ["host.disk_full"]), (100.0, ["host.disk_full"])])
def test_disk_thresholds(used, expected):
    assert ids(resources(mounts=[fs(used)])) == expected


def test_disk_full_evidence_names_the_mount_and_the_space_left():
    (full,) = assess(resources(mounts=[fs(97.0)]), PARAMS)
    assert full["severity"] == "critical"
    assert full["evidence"] == {"mount": "/var/log", "used_percent": 97.0, "available": 30.0}


def test_inodes_full_even_with_space_left_and_no_inode_count_is_not_a_finding():
    assert ids(resources(mounts=[fs(10.0, inodes=96.0)])) == ["host.inodes_full"]
    assert ids(resources(mounts=[fs(10.0, inodes=None)])) == []


def test_memory_swap_and_load_warnings():
    busy = resources(memory={"total": 1000, "available": 50, "used_percent": 95.0},
                     swap={"total": 100, "used": 60, "used_percent": 60.0}, load=[4.5, 3.0, 2.0], cpus=2)
    findings = assess(busy, PARAMS)
    assert [f["id"] for f in findings] == ["host.memory_low", "host.swap_heavy", "host.load_high"]
    assert {f["severity"] for f in findings} == {"warning"}
    assert findings[2]["evidence"] == {"load": [4.5, 3.0, 2.0], "cpus": 2, "per_cpu": 2.25}


def test_no_swap_is_not_heavy_swap():
    assert ids(resources(swap={"total": 0, "used": 0, "used_percent": 0.0}), swap_warn_percent=1) == []


def test_warn_above_critical_names_the_option():
    module = types.SimpleNamespace(params=dict(PARAMS, disk_warn_percent=96))
    with pytest.raises(RunbookError) as raised:
        check(module)
    assert raised.value.details == {"option": "disk_warn_percent"}
    assert "disk_critical_percent (95)" in raised.value.msg
