"""The demo: drills from fault to verified recovery, as a person on call would run them.

    python -m lab demo [--fault FAULT ...] [--keep]

1. lab up (real PostgreSQL, Redis primary + replica, moto, the Kubernetes emulator and its controller
   loop, the Qdrant and LLM stand-ins, the demo app)
2. for each fault (default: redis-primary-down, bad-deploy, targets-unhealthy, then app-oom where the lab runs
   its application servers):
   lab break FAULT;
   ansible-playbook playbooks/p0-system-down.yml --check --diff          (plan: what it would do);
   ansible-playbook playbooks/p0-system-down.yml -e remediation_mode=auto (act, verify);
   print the incident report; heal
3. lab down (unless --keep)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from lab import app, faults, services
from lab.core import REPO_ROOT, Lab


def _banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def _playbook(lab: Lab, incident_id: str, *args: str) -> int:
    env = dict(os.environ, SRE_LAB_DIR=str(lab.root), ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"))
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    cmd = ["ansible-playbook", "playbooks/p0-system-down.yml", "-e", f"incident_id={incident_id}", *args]
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=REPO_ROOT, env=env, check=False).returncode


DEFAULT_FAULTS = ("redis-primary-down", "bad-deploy", "targets-unhealthy")
HOST_FAULTS = ("app-oom",)  # drilled when the lab runs its application servers


def drill(lab: Lab, fault: str, incident_id: str) -> int:
    _banner(f"lab break {fault}")
    print(faults.inject(lab, fault))
    print(app.status(lab))
    _banner("Dry run: what would the playbook do? (--check --diff)")
    _playbook(lab, f"{incident_id}-plan", "--check", "--diff")
    _banner("The same run with remediation_mode=auto")
    rc = _playbook(lab, incident_id, "-e", "remediation_mode=auto")
    report = REPO_ROOT / "incidents" / incident_id / "report.md"
    _banner(f"Incident report: {report}")
    print(report.read_text() if report.exists() else "no report was written")
    print(app.status(lab))
    faults.heal(lab, fault)
    return rc


def run(lab: Lab, keep: bool = False, chosen: list[str] | None = None) -> int:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    _banner("lab up")
    services.up(lab)
    print("\n".join(services.status(lab)))
    try:
        hosts = HOST_FAULTS if lab.service("hosts").get("available") else ()
        codes = [drill(lab, fault, f"DEMO-{stamp}-{fault}") for fault in chosen or DEFAULT_FAULTS + hosts]
        return max(codes)
    finally:
        if not keep:
            _banner("lab down")
            services.down(lab)
