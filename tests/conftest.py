"""Shared test plumbing.

- The collection is importable as ansible_collections.sre.runbooks (pytest.ini's pythonpath).
- `lab`: one lab of real services for the whole session (the same code as `python -m lab up`),
  in its own state directory, stopped at the end with every process checked gone.
- `ansible_module` / `ansible_playbook`: run real modules and playbooks in their own processes
  through the ansible CLIs, pointed at that lab.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lab import aws, db_faults, elb_faults, faults, hosts, notify_server, services
from lab.core import Lab

REPO = Path(__file__).resolve().parent.parent

BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    the_lab = Lab(tmp_path_factory.mktemp("lab"))
    services.up(the_lab)
    yield the_lab
    names = [p.stem for p in (the_lab.root / "run").glob("*.pid")]
    services.down(the_lab)
    assert not [n for n in names if the_lab.alive(n)], "lab down left processes behind"


@pytest.fixture(scope="session")
def incident_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("incidents")


def ansible_env(lab_root: Path | None, incident_dir: Path | None = None) -> dict:
    env = dict(os.environ)
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               PATH=f"{BIN}:{env.get('PATH', '')}")
    if lab_root is not None:
        env["SRE_LAB_DIR"] = str(lab_root)
    if incident_dir is not None:
        env["SRE_INCIDENT_DIR"] = str(incident_dir)
    return env


def run_module(name: str, args: dict, lab_root: Path | None = None, check: bool = False, diff: bool = False,
               host: str = "localhost") -> dict:
    """Run one module of the collection as Ansible does (its own process, over SSH for a lab host); return its
    result.

    The result is read from the builtin `tree` callback's file; `_stdout` holds what a person would see.
    """
    with tempfile.TemporaryDirectory() as tree:
        cmd = [str(BIN / "ansible"), host, "-m", f"sre.runbooks.{name}", "--tree", tree]
        cmd += ["-a", json.dumps(args)] if args else []  # `-a '{}'` would be taken as raw parameters
        cmd += ["--check"] if check else []
        cmd += ["--diff"] if diff else []
        env = ansible_env(lab_root)
        env.update(ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
        done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
        try:
            result = json.loads((Path(tree) / host).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            raise AssertionError(f"no result (rc {done.returncode}):\n{done.stdout}\n{done.stderr}")
    # The tree file leaves out `failed`; ansible's exit code says it (2: a task failed).
    result.setdefault("failed", done.returncode != 0)
    result["_stdout"] = done.stdout + done.stderr
    return result


def run_playbook(playbook: str, lab_root: Path, incident_dir: Path, extra_vars: dict | None = None,
                 check: bool = False, tags: str | None = None) -> subprocess.CompletedProcess:
    cmd = [str(BIN / "ansible-playbook"), playbook]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    cmd += ["--check", "--diff"] if check else []
    cmd += ["--tags", tags] if tags else []
    return subprocess.run(cmd, cwd=REPO, env=ansible_env(lab_root, incident_dir), capture_output=True, text=True,
                          timeout=300, check=False)


def report_of(incident_dir: Path, incident_id: str) -> tuple[str, list[dict]]:
    """The incident record of one run: report.md and the timeline's events."""
    folder = incident_dir / incident_id
    return (folder / "report.md").read_text(), [json.loads(line) for line in
                                                 (folder / "timeline.jsonl").read_text().splitlines()]


@pytest.fixture
def ansible_module(lab):
    def _run(name, args, check=False, diff=False):
        return run_module(name, args, lab.root, check=check, diff=diff)
    return _run


def lab_info(lab: Lab, service: str) -> dict:
    return lab.service(service)


@pytest.fixture
def hanging_port(hanging_server):
    """The port of a TCP server that accepts connections and never answers (a hung dependency)."""
    return hanging_server.port


class HangingServer:
    def __init__(self, port: int, held: list):
        self.port, self._held = port, held

    @property
    def connections(self) -> int:
        """How many connections it accepted so far."""
        return len(self._held)


@pytest.fixture
def hanging_server():
    """A TCP server that accepts connections and never answers (a hung dependency), counting them."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield HangingServer(server.getsockname()[1], held)
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def processes_mentioning(text: str) -> set[int]:
    """Pids of the processes whose command line contains text (to prove nothing was left running)."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if text in handle.read().decode(errors="replace"):
                        found.add(int(entry))
            except OSError:
                continue
    return found


def app_health(lab: Lab) -> int | None:
    """The demo application's /health status code, as a person's curl would see it."""
    try:
        with urllib.request.urlopen(lab.service("app")["health_url"], timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


@pytest.fixture
def notify(lab):
    """The lab's Slack/Statuspage stand-in (lab/notify_server.py) as lab.json has it, healthy before and after."""
    notify_server.heal(lab)
    yield lab.service("notify")
    notify_server.heal(lab)


def assert_secret_only_in_authorization(records: list[dict], secret: str) -> None:
    """The recorded requests (lab/notify_server.py) carry the secret in their Authorization header only."""
    for record in records:
        assert secret not in record["path"] and secret not in json.dumps(record["body"])
        assert not [k for k, v in record["headers"].items() if secret in v and k.lower() != "authorization"]


@pytest.fixture
def hosts_lab(lab):
    """The lab with its application servers (lab/hosts.py); skips, saying why, where the host tier cannot run."""
    tier = lab.service("hosts")
    if not tier.get("available"):
        pytest.skip(f"host tier unavailable: {tier.get('reason', 'not started')}")
    return lab


@pytest.fixture
def host_module(hosts_lab):
    """host_module(host, name, args, check=False, diff=False): a module run on a lab host over SSH."""
    def _run(host, name, args, check=False, diff=False):
        return run_module(name, args, hosts_lab.root, check=check, diff=diff, host=host)
    return _run


@pytest.fixture
def host_sh(hosts_lab):
    """host_sh(host, command): a shell command inside a lab host as root (the lab's own way in, not SSH);
    returns the CompletedProcess, whatever its exit code."""
    def _run(host, command, timeout=60):
        return hosts.execute(hosts_lab, host, command, check=False, timeout=timeout)
    return _run


@pytest.fixture
def monitoring(lab):
    """The lab's Prometheus and Alertmanager (lab/monitoring.py) as lab.json has them."""
    return lab.service("monitoring")


@pytest.fixture
def fault(lab):
    """Inject lab faults for one test (fault("name")); each is healed afterwards, the last first."""
    injected = []

    def inject(name):
        faults.inject(lab, name)
        injected.append(name)

    yield inject
    for name in reversed(injected):
        faults.heal(lab, name)


@pytest.fixture
def leak(lab):
    """The lab's db-connection-leak fault for one test; yields the PostgreSQL service info."""
    db_faults.break_connection_leak(lab)
    try:
        yield lab.service("postgres")
    finally:
        db_faults.heal_connection_leak(lab)


@pytest.fixture
def pileup(lab):
    """The lab's db-lock-pileup fault for one test; yields the PostgreSQL service info."""
    db_faults.break_lock_pileup(lab)
    try:
        yield lab.service("postgres")
    finally:
        db_faults.heal_lock_pileup(lab)


def aws_connection(lab: Lab) -> dict:
    """The AWS module options that point at the lab's moto."""
    info = lab.service("aws")
    return {key: info[key] for key in ("endpoint_url", "region", "access_key", "secret_key")}


def target_states(lab: Lab) -> dict:
    """{instance id: target state} of the lab's target group, as describe-target-health shows it."""
    info = lab.service("aws")
    health = aws.client(info, "elbv2").describe_target_health(TargetGroupArn=info["target_group_arn"])
    return {t["Target"]["Id"]: t["TargetHealth"]["State"] for t in health["TargetHealthDescriptions"]}


def group_members(lab: Lab) -> list[str]:
    """The instance ids of the lab's Auto Scaling group, sorted."""
    info = lab.service("aws")
    group = aws.client(info, "autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[info["asg_name"]])
    return sorted(i["InstanceId"] for i in group["AutoScalingGroups"][0]["Instances"])


@pytest.fixture
def seeded_targets(lab):
    """The seeded load balancer: every instance of the group registered and healthy, before and after the test."""
    assert target_states(lab) == dict.fromkeys(group_members(lab), "healthy")
    yield lab.service("aws")
    assert target_states(lab) == dict.fromkeys(group_members(lab), "healthy")


@pytest.fixture
def targets_unhealthy(seeded_targets, lab):
    """The lab fault targets-unhealthy for one test: (deregistered ids, stopped id); healed afterwards."""
    members = group_members(lab)
    elb_faults.break_targets_unhealthy(lab)
    try:
        yield members[:2], members[2]
    finally:
        elb_faults.heal_targets_unhealthy(lab)


def rds_roles(rds, cluster_id: str) -> dict:
    members = rds.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]["DBClusterMembers"]
    return {m["DBInstanceIdentifier"]: "writer" if m["IsClusterWriter"] else "reader" for m in members}


def rds_status(rds, instance_id: str) -> str:
    return rds.describe_db_instances(DBInstanceIdentifier=instance_id)["DBInstances"][0]["DBInstanceStatus"]


@pytest.fixture
def rds(lab):
    """boto3 RDS of the lab; the seeded cluster has its seeded writer before and after the test."""
    info = lab.service("aws")
    client = aws.client(info, "rds")
    seeded = {info["rds_writer_id"]: "writer", info["rds_reader_id"]: "reader"}
    assert rds_roles(client, info["rds_cluster_id"]) == seeded
    yield client
    assert rds_roles(client, info["rds_cluster_id"]) == seeded
    assert {rds_status(client, i) for i in seeded} == {"available"}


def put_lag(lab: Lab, instance_id: str, lag_ms: float) -> None:
    """Publish one AuroraReplicaLag datapoint to the lab's CloudWatch, as RDS does every minute."""
    aws.client(lab.service("aws"), "cloudwatch").put_metric_data(Namespace="AWS/RDS", MetricData=[{
        "MetricName": "AuroraReplicaLag", "Value": lag_ms, "Unit": "Milliseconds",
        "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": instance_id}],
        "Timestamp": datetime.now(UTC) - timedelta(seconds=30),
    }])
