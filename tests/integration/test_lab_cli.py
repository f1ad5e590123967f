"""`python -m lab` as a person uses it: up, status, break, heal, down, and nothing left behind."""

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO, processes_mentioning

from lab import host_memory, hosts


def lab_cli(state, *args):
    env = dict(os.environ, SRE_LAB_DIR=str(state))
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def pids(state):
    return [int(p.read_text()) for p in (state / "run").glob("*.pid")]


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"




def test_lab_cli_round_trip(tmp_path):
    up = lab_cli(tmp_path, "up")
    started, cluster_dir, tier = pids(tmp_path), None, {}
    try:  # whatever fails from here on, the lab goes down again: a failed test leaves no process behind
        assert up.returncode == 0, up.stderr
        state = json.loads((tmp_path / "lab.json").read_text())
        assert set(state["services"]) == {"postgres", "redis", "aws", "aws_health", "k8s", "qdrant", "llm", "notify",
                                          "app", "hosts", "nginx", "monitoring"}
        tier = state["services"]["hosts"]
        cluster_dir = state["services"]["postgres"]["cluster_dir"]
        assert processes_mentioning(cluster_dir), "PostgreSQL should be running from the lab's cluster"
        assert started and all(alive(p) for p in started)
        broken = lab_cli(tmp_path, "break", "app-5xx")
        assert broken.returncode == 0 and "answers 500" in broken.stdout
        assert "faults: app-5xx" in lab_cli(tmp_path, "status").stdout
        assert lab_cli(tmp_path, "heal", "app-5xx").returncode == 0
        assert "/health 200" in lab_cli(tmp_path, "status").stdout
        unknown = lab_cli(tmp_path, "break", "meteor-strike")
        assert unknown.returncode == 1
        assert "unknown fault 'meteor-strike'" in unknown.stderr and "Traceback" not in unknown.stderr
    finally:
        down = lab_cli(tmp_path, "down")
    assert down.returncode == 0, down.stderr
    assert not [p for p in started if alive(p)]
    assert not processes_mentioning(cluster_dir)
    assert not processes_mentioning(str(tmp_path))
    assert_hosts_gone(tier, tmp_path)


def assert_hosts_gone(tier: dict, lab_root) -> None:
    """lab down leaves no container, network namespace, veth, cgroup or mount of the host tier behind."""
    if not tier.get("available"):
        return
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=False).stdout
    mounts = Path("/proc/mounts").read_text()
    for host in tier["hosts"].values():
        assert host["netns"] not in netns
        assert f" {host['veth']}:" not in links and f" {host['veth']}@" not in links
        assert not [root for root in hosts.cgroup_roots() if (root / host["cgroup"]).exists()]
        assert not host_memory.memory_cgroup(host).exists()
    assert str(lab_root) not in mounts
    assert not (lab_root / "hosts" / "app-1").exists()
