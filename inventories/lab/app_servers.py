#!/usr/bin/env python3
"""The lab's application servers (group app_servers, the runbook's `production` group), read from lab.json.

Ansible runs this as an inventory script. The hosts exist only while the lab runs them: without a lab, or
where the host tier cannot run (no root, no systemd-nspawn), the group is empty and every host step is skipped.
"""

import json
import os
import sys
from pathlib import Path


def inventory() -> dict:
    lab_dir = Path(os.environ.get("SRE_LAB_DIR") or Path(__file__).resolve().parent.parent.parent / ".lab")
    try:
        tier = json.loads((lab_dir / "lab.json").read_text())["services"].get("hosts") or {}
    except (OSError, ValueError, KeyError):
        tier = {}
    hosts = tier.get("hosts", {}) if tier.get("available") else {}
    hostvars = {
        name: {
            "ansible_host": host["address"],
            "ansible_user": tier["user"],
            "ansible_ssh_private_key_file": tier["key"],
            # each lab makes new hosts with new keys on addresses another lab may have used
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
            "ansible_python_interpreter": "/usr/bin/python3",
        }
        for name, host in hosts.items()
    }
    return {"app_servers": {"hosts": sorted(hostvars)}, "_meta": {"hostvars": hostvars}}


if __name__ == "__main__":
    if "--host" in sys.argv:
        print("{}")
    else:
        print(json.dumps(inventory()))
