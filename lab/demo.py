"""The demo: the Redis drill from fault to verified recovery, as a person on call would run it.

    python -m lab demo [--keep]

1. lab up (real PostgreSQL, Redis primary + replica, moto, Kubernetes emulator, demo app)
2. lab break redis-primary-down
3. ansible-playbook playbooks/p0-system-down.yml --check --diff          (plan: what it would do)
4. ansible-playbook playbooks/p0-system-down.yml -e remediation_mode=auto (act, verify)
5. print the incident report; heal; lab down (unless --keep)
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


def run(lab: Lab, keep: bool = False) -> int:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    _banner("lab up")
    services.up(lab)
    print("\n".join(services.status(lab)))
    try:
        _banner("lab break redis-primary-down")
        print(faults.inject(lab, "redis-primary-down"))
        print(app.status(lab))
        _banner("Dry run: what would the playbook do? (--check --diff)")
        _playbook(lab, f"DEMO-{stamp}-plan", "--check", "--diff")
        _banner("The same run with remediation_mode=auto")
        rc = _playbook(lab, f"DEMO-{stamp}", "-e", "remediation_mode=auto")
        report = REPO_ROOT / "incidents" / f"DEMO-{stamp}" / "report.md"
        _banner(f"Incident report: {report}")
        print(report.read_text() if report.exists() else "no report was written")
        print(app.status(lab))
        faults.heal(lab, "redis-primary-down")
        return rc
    finally:
        if not keep:
            _banner("lab down")
            services.down(lab)
