"""The application servers: Debian containers booted with real systemd, reached over SSH, behind nginx.

Each host (app-1, app-2) is a root filesystem unpacked from the cached image (lab/host_image.py), booted by
``systemd-nspawn --boot`` with systemd as PID 1, in a network namespace of its own joined to this machine by a
veth pair on an address the lab picks from 10.213.0.0/16 (never any other address). Inside it: sshd with a
key the lab generates (Ansible reaches the hosts like production servers), and the demo application as the
systemd unit ``pynomaly`` (lab/demo_app.py), logging to /var/log/pynomaly/application.log and the journal.
/var/log is a small filesystem of its own (a size-limited tmpfs) so that a full disk is real.

What the hosts cannot have here, and what the lab does instead:
- The application's databases listen on this machine's loopback: lab/host_forward.py relays each host's
  gateway address to them (the app connects across the veth).
- On a machine with cgroup v1 (this kind of machine), a container's systemd sees the memory controller read
  only: it accepts MemoryMax/MemoryLimit but cannot enforce them. lab/host_memory.py applies the unit's limit
  from outside, in a real memory cgroup, so the kernel's OOM killer really kills the process past it.
- Each container runs in cgroups of its own (systemd and unified hierarchies): containers sharing the
  default ones would share their units' cgroups, and stopping a unit in one would kill it in the other.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
import sys
from pathlib import Path

from lab import host_image
from lab.core import REPO_ROOT, Lab, LabError, http, port_open, wait_until

HOSTS = ("app-1", "app-2")
APP_PORT = 8000
UNIT_NAME = "pynomaly"
LOG_SIZE = "32M"  # /var/log on each host
MEMORY_LIMIT = "256M"
SUBNETS = ipaddress.ip_network("10.213.0.0/16")

UNIT = f"""[Unit]
Description=pynomaly API (the lab's demo application)
After=network.target
StartLimitIntervalSec=60
StartLimitBurst=3

[Service]
Type=simple
Environment=PYTHONPATH=/opt/pynomaly
WorkingDirectory=/opt/pynomaly
ExecStart=/usr/bin/python3 -m lab.demo_app --port {APP_PORT} --bind 0.0.0.0 --config /etc/pynomaly/config.json \\
    --log-file /var/log/pynomaly/application.log
LogsDirectory=pynomaly
Restart=on-failure
RestartSec=1
MemoryLimit={MEMORY_LIMIT}

[Install]
WantedBy=multi-user.target
"""


def _run(argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed: {(done.stderr or done.stdout).strip()[:300]}")
    return done


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 of 10.213.0.0/16 that no interface of this machine uses (several labs can run at once)."""
    used = _run(["ip", "-o", "-4", "addr", "show"]).stdout
    for subnet in SUBNETS.subnets(new_prefix=24):
        if subnet.network_address.packed[2] in (0, 250, 255):  # 250: kept for people's own experiments
            continue
        prefix = ".".join(str(subnet.network_address).split(".")[:3]) + "."
        if f" {prefix}" not in used:
            return subnet
    raise LabError("no free /24 left in 10.213.0.0/16 for the lab's hosts")


def _layout(subnet: ipaddress.IPv4Network) -> dict:
    third = subnet.network_address.packed[2]
    base = int(subnet.network_address)
    layout = {}
    for index, name in enumerate(HOSTS):
        suffix = f"{third}a{index + 1}"
        layout[name] = {
            "name": name,
            "netns": f"sre{suffix}",
            "veth": f"sre{suffix}",
            "gateway": str(ipaddress.ip_address(base + 4 * index + 1)),
            "address": str(ipaddress.ip_address(base + 4 * index + 2)),
            "cgroup": f"sre-lab-{suffix}",
            "process": f"host-{name}",
        }
    return layout


def cgroup_roots() -> list[Path]:
    """The hierarchies systemd tracks processes in: name=systemd and unified on a hybrid machine, else v2."""
    base = Path("/sys/fs/cgroup")
    if (base / "cgroup.controllers").exists():
        return [base]
    return [base / name for name in ("systemd", "unified") if (base / name).is_dir()]


def _network_up(host: dict) -> None:
    peer = f"{host['veth']}p"
    _run(["ip", "netns", "add", host["netns"]])
    _run(["ip", "link", "add", host["veth"], "type", "veth", "peer", "name", peer])
    _run(["ip", "link", "set", peer, "netns", host["netns"]])
    _run(["ip", "addr", "add", f"{host['gateway']}/30", "dev", host["veth"]])
    _run(["ip", "link", "set", host["veth"], "up"])
    inside = ["ip", "netns", "exec", host["netns"]]
    _run(inside + ["ip", "link", "set", peer, "name", "eth0"])
    _run(inside + ["ip", "addr", "add", f"{host['address']}/30", "dev", "eth0"])
    _run(inside + ["ip", "link", "set", "eth0", "up"])
    _run(inside + ["ip", "link", "set", "lo", "up"])
    _run(inside + ["ip", "route", "add", "default", "via", host["gateway"]])


def _network_down(host: dict) -> None:
    _run(["ip", "link", "del", host["veth"]], check=False)  # deletes both ends
    _run(["ip", "netns", "del", host["netns"]], check=False)


def app_config(host: dict, postgres: dict, redis_info: dict) -> dict:
    """The application's config on a host: the lab's databases through the host's gateway (host_forward)."""
    return {
        "postgres": {**{k: postgres[k] for k in ("port", "user", "password", "database")}, "host": host["gateway"]},
        # The servers use Redis as an optional cache: P0-3's Redis outages are the Kubernetes backend's (the API),
        # whose recovery (a promotion, REDIS_ENABLED=false) does not reach these servers.
        "redis": {"nodes": [{"host": host["gateway"], "port": n["port"]} for n in redis_info["nodes"]],
                  "password": redis_info["password"], "keys": redis_info["app_keys"], "optional": True},
        "fault_file": "/etc/pynomaly/fault",
        "slow_seconds": 3,
    }


def _prepare_rootfs(lab: Lab, host: dict, config: dict) -> Path:
    rootfs = lab.path("hosts", host["name"]) / "rootfs"
    host_image.unpack(rootfs)
    (rootfs / "etc/hostname").write_text(host["name"] + "\n")
    (rootfs / "etc/hosts").write_text(f"127.0.0.1 localhost\n127.0.1.1 {host['name']}\n")
    ssh_dir = rootfs / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text(Path(f"{key_path(lab)}.pub").read_text())
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(rootfs / "etc/ssh/ssh_host_ed25519_key")])
    package = rootfs / "opt/pynomaly/lab"
    package.mkdir(parents=True)
    for name in ("__init__.py", "core.py", "demo_app.py"):
        shutil.copy(REPO_ROOT / "lab" / name, package / name)
    (rootfs / "etc/pynomaly").mkdir()
    (rootfs / "etc/pynomaly/config.json").write_text(json.dumps(config, indent=2))
    (rootfs / "etc/pynomaly/fault").write_text("")
    units = rootfs / "etc/systemd/system"
    (units / f"{UNIT_NAME}.service").write_text(UNIT)
    (units / "multi-user.target.wants").mkdir(parents=True, exist_ok=True)
    (units / "multi-user.target.wants" / f"{UNIT_NAME}.service").symlink_to(f"/etc/systemd/system/{UNIT_NAME}.service")
    return rootfs


def _boot(lab: Lab, host: dict, rootfs: Path) -> None:
    for root in cgroup_roots():
        (root / host["cgroup"]).mkdir(exist_ok=True)
    join = " ".join(f"echo $$ > {root / host['cgroup'] / 'cgroup.procs'};" for root in cgroup_roots())
    nspawn = ["systemd-nspawn", "-D", str(rootfs), "--boot", "--register=no", "--keep-unit", "--console=passive",
              f"--network-namespace-path=/run/netns/{host['netns']}", f"--machine={host['name']}",
              f"--tmpfs=/var/log:mode=0755,size={LOG_SIZE}",
              # dmesg on the host reads this machine's kernel log, as on a server (OOM kills show there)
              "--capability=CAP_SYSLOG", "--bind-ro=/dev/kmsg"]
    lab.spawn(host["process"], ["sh", "-c", f"{join} exec \"$@\"", "nspawn", *nspawn])


def _wait_ready(lab: Lab, host: dict) -> None:
    lab.wait_started(host["process"], lambda: port_open(22, host["address"]), 60, f"sshd on {host['name']}")
    lab.wait_started(host["process"], lambda: http(f"http://{host['address']}:{APP_PORT}/health", timeout=2)[0],
                     60, f"the pynomaly unit on {host['name']} to answer /health")


def key_path(lab: Lab) -> Path:
    return lab.path("hosts") / "id_ed25519"


def up(lab: Lab, postgres: dict, redis_info: dict) -> dict:
    """Boot the hosts and the helpers they need; {"available": False, "reason": ...} where they cannot run."""
    reason = host_image.unavailable_reason()
    if reason:
        return {"available": False, "reason": reason}
    host_image.build()
    key = key_path(lab)
    if not key.exists():
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sre-runbooks-lab", "-f", str(key)])
    layout = _layout(_free_subnet())
    info = {"available": True, "key": str(key), "user": "root", "app_port": APP_PORT, "unit": UNIT_NAME,
            "hosts": layout}
    lab.set_service("hosts", info)  # saved first: down() undoes whatever part of this came up
    for host in layout.values():
        _network_up(host)
        _boot(lab, host, _prepare_rootfs(lab, host, app_config(host, postgres, redis_info)))
    _start_helpers(lab, layout, postgres, redis_info)
    for host in layout.values():
        _wait_ready(lab, host)
    return info


def _start_helpers(lab: Lab, layout: dict, postgres: dict, redis_info: dict) -> None:
    ports = [postgres["port"]] + [n["port"] for n in redis_info["nodes"]]
    relays = [f"{host['gateway']}:{port}" for host in layout.values() for port in ports]
    env = {"PYTHONPATH": str(REPO_ROOT)}
    lab.spawn("host-forward", [sys.executable, "-m", "lab.host_forward", *relays], env=env)
    lab.wait_started("host-forward", lambda: all(port_open(port, layout[HOSTS[0]]["gateway"]) for port in ports),
                     10, "the database relay on the hosts' gateways")
    if Path("/sys/fs/cgroup/memory").is_dir():  # cgroup v1: the containers cannot enforce memory limits
        lab.spawn("host-memory", [sys.executable, "-m", "lab.host_memory", "--lab-dir", str(lab.root)], env=env)


def down(lab: Lab) -> None:
    info = lab.service("hosts")
    for name in ("host-memory", "host-forward"):
        lab.stop(name)
    for host in (info.get("hosts") or {}).values():
        lab.stop(host["process"], timeout=15)
        _network_down(host)
        for root in cgroup_roots():
            _remove_cgroup(root / host["cgroup"])
        from lab import host_memory
        _remove_cgroup(host_memory.memory_cgroup(host))
        shutil.rmtree(lab.root / "hosts" / host["name"], ignore_errors=True)


def _remove_cgroup(path: Path) -> None:
    """Remove a cgroup directory and the ones under it (they must be empty of processes)."""
    if not path.is_dir():
        return
    for child in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        try:
            child.rmdir()
        except OSError:
            pass
    try:
        path.rmdir()
    except OSError:
        pass


def leader_pid(lab: Lab, name: str) -> int:
    """The pid (on this machine) of the host's systemd: the child of its systemd-nspawn."""
    pid = lab.pid(f"host-{name}")
    if pid is None:
        raise LabError(f"host {name} is not running")
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError as exc:
        raise LabError(f"host {name} is not running ({exc})") from exc
    if not children:
        raise LabError(f"host {name} has no init process yet")
    return int(children[0])


def execute(lab: Lab, name: str, command: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    """A shell command inside a host, as root (the lab's own way in, for faults and tests; Ansible uses SSH)."""
    argv = ["nsenter", "-t", str(leader_pid(lab, name)), "-a", "--", "/bin/sh", "-c", command]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", "SYSTEMD_COLORS": "0"})
    if check and done.returncode != 0:
        raise LabError(f"on {name}: {command!r} failed (rc {done.returncode}): {(done.stderr or done.stdout)[-400:]}")
    return done


def run_in_netns(host: dict, argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    """A command of this machine run in a host's network namespace (its firewall, its addresses)."""
    return _run(["ip", "netns", "exec", host["netns"], *argv], check=check)


def status(lab: Lab) -> str:
    info = lab.service("hosts")
    if not info:
        return "hosts down"
    if not info.get("available"):
        return f"hosts unavailable: {info.get('reason')}"
    lines = []
    for name, host in info["hosts"].items():
        code, _ = http(f"http://{host['address']}:{APP_PORT}/health", timeout=2)
        state = "running" if lab.alive(host["process"]) else "stopped"
        lines.append(f"{name} {host['address']} {state} /health {code}")
    return "hosts " + "; ".join(lines)


def wait_healthy(lab: Lab, name: str, timeout: float = 30) -> None:
    """Wait until the application on a host answers /health 200."""
    address = lab.service("hosts")["hosts"][name]["address"]
    wait_until(lambda: http(f"http://{address}:{APP_PORT}/health", timeout=2)[0] == 200, timeout,
               f"{UNIT_NAME} on {name} to answer /health 200", interval=0.2)


def wait_unit(lab: Lab, name: str, states: tuple[str, ...], timeout: float = 30) -> str:
    """Wait until the pynomaly unit on a host is in one of the ActiveStates; return it."""
    def current():
        state = execute(lab, name, f"systemctl show -p ActiveState --value {UNIT_NAME}", check=False).stdout.strip()
        return state if state in states else None
    return wait_until(current, timeout, f"{UNIT_NAME} on {name} to be {'/'.join(states)}", interval=0.2)

