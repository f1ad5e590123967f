"""redis_info in cluster mode, against a real three-node Redis Cluster started for this test."""

import subprocess

import pytest
from conftest import run_module

from lab import redis_pair
from lab.core import Lab, free_port, port_open, require_binary, wait_until


def cluster_port():
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    while True:
        port = free_port()
        if port + 10000 <= 65535 and not port_open(port + 10000):
            return port


@pytest.fixture
def cluster(tmp_path):
    lab = Lab(tmp_path)
    nodes = []
    for index in range(3):
        port = cluster_port()
        name = f"cluster-{index}"
        lab.spawn(name, [require_binary("redis-server", redis_pair.HINT), "--bind", "127.0.0.1", "--port", str(port),
                         "--save", "", "--appendonly", "no", "--dir", str(lab.path("redis", name)),
                         "--cluster-enabled", "yes", "--cluster-node-timeout", "500",
                         "--cluster-config-file", str(lab.path("redis", name) / "nodes.conf")])
        nodes.append({"name": name, "host": "127.0.0.1", "port": port})
        wait_until(lambda p=port: subprocess.run([require_binary("redis-cli", redis_pair.HINT), "-p", str(p), "ping"],
                                                 capture_output=True, text=True, check=False).stdout.strip() == "PONG",
                   10, name)
    create = subprocess.run([require_binary("redis-cli", redis_pair.HINT), "--cluster", "create",
                             *[f"127.0.0.1:{n['port']}" for n in nodes], "--cluster-yes"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert create.returncode == 0, create.stdout + create.stderr
    yield lab, nodes
    for node in nodes:
        lab.stop(node["name"])


def cluster_state(port):
    out = subprocess.run([require_binary("redis-cli", redis_pair.HINT), "-p", str(port), "cluster", "info"],
                         capture_output=True, text=True, check=False).stdout
    return dict(line.strip().split(":", 1) for line in out.splitlines() if ":" in line)["cluster_state"]


def test_cluster_ok_then_fail(cluster):
    lab, nodes = cluster
    wait_until(lambda: cluster_state(nodes[0]["port"]) == "ok", 15, "the cluster to be ok")
    healthy = run_module("redis_info", {"nodes": nodes})
    assert healthy["status"] == "ok", healthy["findings"]
    assert all(n["cluster"]["state"] == "ok" and n["cluster"]["slots_assigned"] in (16384, "16384")
               for n in healthy["nodes"])

    lab.stop("cluster-2")
    wait_until(lambda: cluster_state(nodes[0]["port"]) == "fail", 15, "the cluster to see the failure")
    failed = run_module("redis_info", {"nodes": nodes})
    assert failed["status"] == "down"
    ids = {f["id"] for f in failed["findings"]}
    assert ids == {"redis.cluster_fail", "redis.node_unreachable"}
