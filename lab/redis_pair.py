"""Redis for the lab: a primary and a replica, two real redis-server processes.

Each node keeps nothing on disk (``--save ''``) and listens on 127.0.0.1 on a
free port. ``requirepass``/``masterauth`` are set so that modules are proven to
keep the password out of their output. The application keys written at start
are what the Redis drill checks after a failover.
"""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from lab.core import Lab, LabError, free_port, require_binary, wait_until

PASSWORD = "redis-lab-secret"
APP_KEYS = {f"pynomaly:model:{name}": f"v{n}" for n, name in enumerate(
    ["isolation-forest", "lof", "autoencoder", "ocsvm", "ensemble"], start=1)}
HINT = "install Debian's redis-server package (make setup does)"


def node_name(index: int) -> str:
    return "redis-primary" if index == 0 else f"redis-replica-{index}"


def start_node(lab: Lab, name: str, port: int, replicaof: int | None = None) -> None:
    """Start one redis-server; as a replica of 127.0.0.1:replicaof when given."""
    argv = [require_binary("redis-server", HINT), "--bind", "127.0.0.1", "--port", str(port),
            "--save", "", "--appendonly", "no", "--dir", str(lab.path("redis", name)),
            "--requirepass", PASSWORD, "--masterauth", PASSWORD, "--protected-mode", "no",
            "--repl-diskless-sync-delay", "0"]
    if replicaof:
        argv += ["--replicaof", "127.0.0.1", str(replicaof)]
    lab.spawn(name, argv)
    wait_until(lambda: _ping(port), 10, f"{name} on port {port}")


def client(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, password=PASSWORD, socket_timeout=2,
                       socket_connect_timeout=1, decode_responses=True, retry=Retry(NoBackoff(), 0))


def _ping(port: int) -> bool:
    try:
        return bool(client(port).ping())
    except redis.RedisError:
        return False


def up(lab: Lab, replicas: int = 1) -> dict:
    nodes = []
    primary_port = free_port()
    start_node(lab, node_name(0), primary_port)
    nodes.append({"name": node_name(0), "host": "127.0.0.1", "port": primary_port})
    primary = client(primary_port)
    primary.mset(APP_KEYS)
    for index in range(1, replicas + 1):
        port = free_port()
        start_node(lab, node_name(index), port, replicaof=primary_port)
        nodes.append({"name": node_name(index), "host": "127.0.0.1", "port": port})
    for node in nodes[1:]:
        wait_until(lambda n=node: client(n["port"]).info("replication").get("master_link_status") == "up",
                   15, f"{node['name']} to sync with the primary")
    return {"password": PASSWORD, "nodes": nodes, "app_keys": sorted(APP_KEYS)}


def roles(info: dict) -> dict:
    """Current role of every node: master, slave or down."""
    out = {}
    for node in info.get("nodes", []):
        try:
            out[node["name"]] = client(node["port"]).info("replication")["role"]
        except redis.RedisError:
            out[node["name"]] = "down"
    return out


def master_port(info: dict) -> int | None:
    for node in info.get("nodes", []):
        if roles({"nodes": [node]})[node["name"]] == "master":
            return node["port"]
    return None


def down(lab: Lab) -> None:
    for node in lab.service("redis").get("nodes", []):
        lab.stop(node["name"])


def status(lab: Lab) -> str:
    info = lab.service("redis")
    if not info:
        return "redis down"
    return "redis " + ", ".join(f"{name}={role}" for name, role in roles(info).items())


def restart_as_replica(lab: Lab, name: str) -> None:
    """Bring a stopped node back as a replica of whichever node is master now."""
    info = lab.service("redis")
    node = next(n for n in info["nodes"] if n["name"] == name)
    current = master_port(info)
    # No master anywhere means nothing was promoted: the node comes back as the master it was. It kept nothing
    # (in memory only), and its replicas resync from it: it gets the application's keys back, as a restored
    # cache would, or the application would find them missing everywhere.
    start_node(lab, name, node["port"], replicaof=current)
    if current is None:
        client(node["port"]).mset(APP_KEYS)


def stop_all(lab: Lab) -> None:
    """Every Redis node stopped (the data is in memory only, so it is gone)."""
    for node in lab.service("redis")["nodes"]:
        lab.stop(node["name"])


def start_all(lab: Lab) -> None:
    """The stopped nodes back, on their ports: a primary holding the application keys and its replicas."""
    info = lab.service("redis")
    if master_port(info) is None:
        stopped = [n for n in info["nodes"] if not lab.alive(n["name"])]
        if not stopped:
            raise LabError("no Redis node answers as master and none is stopped: heal by hand (lab down; lab up)")
        start_node(lab, stopped[0]["name"], stopped[0]["port"])
        client(stopped[0]["port"]).mset(APP_KEYS)
    for node in info["nodes"]:
        if not lab.alive(node["name"]):
            restart_as_replica(lab, node["name"])
    for node in info["nodes"]:
        if roles({"nodes": [node]})[node["name"]] == "slave":
            wait_until(lambda n=node: client(n["port"]).info("replication").get("master_link_status") == "up",
                       15, f"{node['name']} to sync with the primary")
