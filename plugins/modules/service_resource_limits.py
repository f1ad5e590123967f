#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: service_resource_limits
short_description: Give a systemd service a memory limit and a CPU quota through a drop-in, within caps, and restart it
version_added: 1.0.0
description:
  - The runbook's Scenario 1 "Application Crash", "restart with increased resources" - C(systemctl edit pynomaly)
    adding C([Service] MemoryLimit=4G CPUQuota=200%), then C(systemctl restart pynomaly) - on the host it runs on.
  - Writes the drop-in C(/etc/systemd/system/<unit>.d/<drop_in>) as C(systemctl edit) would, holding only the limits
    given (a limit left out is removed from this drop-in), then reloads systemd, restarts the unit (clearing its
    failed state first, as C(systemctl reset-failed), when it failed) and waits until systemd reports the new values
    and the unit is active (C(ActiveState=active), C(SubState=running)) with the same main process for 2 seconds
    (a process the new limit kills at startup is not confirmed).
  - The memory limit is written as C(MemoryMax=), or as C(MemoryLimit=) when the memory controller of this host is
    on cgroup v1, that is, when there is no C(/sys/fs/cgroup/cgroup.controllers) (no pure cgroup v2) and the
    C(memory) controller is not listed in C(/sys/fs/cgroup/unified/cgroup.controllers). Returned as
    RV(memory_property).
  - Refuses, changing nothing, when O(memory_max) is above O(memory_cap), when O(cpu_quota) is above
    O(cpu_quota_cap), when O(memory_max) is below the memory the unit uses now (C(MemoryCurrent), when systemd
    knows it), and when the unit is not loaded (not found or masked).
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.wait
  - sre.runbooks.attributes
attributes:
  check_mode:
    support: full
    details: Returns the drop-in it would write, with a diff of the file; writes, reloads and restarts nothing.
  diff_mode:
    support: full
    details: The drop-in file before (empty when absent) and after.
  idempotent:
    support: full
    details: When the drop-in already holds these limits and systemd reports them, nothing is done (no restart) -
      unless the unit failed and O(restart=true), then it is restarted.
options:
  name:
    description: The systemd unit; C(.service) is added when the name has no unit suffix.
    type: str
    default: pynomaly
  memory_max:
    description: Memory limit, a size in bytes or with a suffix K, M, G or T (powers of 1024), e.g. C(512M), C(4G).
    type: str
  memory_cap:
    description: The highest O(memory_max) allowed (the inventory's ceiling), a size like O(memory_max).
    type: str
  cpu_quota:
    description: CPU quota as a percentage of one CPU, e.g. C(200%) (two CPUs' worth); up to two decimals.
    type: str
  cpu_quota_cap:
    description: The highest O(cpu_quota) allowed (the inventory's ceiling), a percentage like O(cpu_quota).
    type: str
  drop_in:
    description: File name of the drop-in, a plain name ending in C(.conf) (no slash).
    type: str
    default: 50-sre-runbooks-limits.conf
  restart:
    description: Restart the unit once the limits are in place, so that they apply to a fresh process.
    type: bool
    default: true
notes:
  - At least one of O(memory_max) or O(cpu_quota) is required; O(memory_cap) is required with O(memory_max) and
    O(cpu_quota_cap) with O(cpu_quota).
  - On a host whose cgroup memory controller is read-only (some containers), systemd accepts and reports the limit
    but cannot enforce it; the module reports the configured limit.
"""

EXAMPLES = r"""
- name: Restart the application with increased resources (Scenario 1)
  sre.runbooks.service_resource_limits:
    name: pynomaly
    memory_max: "{{ app_memory_max_on_oom }}"
    memory_cap: "{{ app_memory_cap }}"
    cpu_quota: "200%"
    cpu_quota_cap: "{{ app_cpu_quota_cap }}"
  become: true

- name: Raise only the CPU quota, restarting later
  sre.runbooks.service_resource_limits:
    cpu_quota: "150%"
    cpu_quota_cap: "200%"
    restart: false
"""

RETURN = r"""
msg:
  description: What was (or would be) done, or why nothing was needed.
  returned: always
  type: str
  sample: "Write /etc/systemd/system/pynomaly.service.d/50-sre-runbooks-limits.conf (MemoryLimit=512M, CPUQuota=200%).
    Reload systemd (daemon-reload). Restart pynomaly.service."
actions:
  description: What was done (or would be done in check mode), one sentence each; empty when nothing was needed.
  returned: always
  type: list
  elements: str
  sample: ["Write /etc/systemd/system/pynomaly.service.d/50-sre-runbooks-limits.conf (MemoryLimit=512M,
            CPUQuota=200%)", "Reload systemd (daemon-reload)", "Restart pynomaly.service"]
before:
  description:
    - The unit before - C(drop_in) (the drop-in's content, empty when absent), C(memory_limit) (bytes, null when
      unlimited; C(MemoryMax), else C(MemoryLimit)), C(cpu_quota) (e.g. C(200%), null when none) and
      C(active_state).
  returned: always
  type: dict
  sample: {drop_in: "", memory_limit: null, cpu_quota: null, active_state: failed}
after:
  description: The same, after (as systemd reports it; in check mode, as it would be).
  returned: always
  type: dict
  sample: {drop_in: "[Service]\nMemoryLimit=512M\nCPUQuota=200%\n", memory_limit: 536870912, cpu_quota: 200%,
           active_state: active}
unit:
  description: The unit's name as systemd knows it.
  returned: always
  type: str
  sample: pynomaly.service
drop_in_path:
  description: Path of the drop-in.
  returned: always
  type: str
  sample: /etc/systemd/system/pynomaly.service.d/50-sre-runbooks-limits.conf
drop_in:
  description: The drop-in's content as written (or as it would be written in check mode).
  returned: always
  type: str
  sample: "# Written by sre.runbooks.service_resource_limits.\n[Service]\nMemoryLimit=512M\nCPUQuota=200%\n"
memory_property:
  description: The property the memory limit is written as (C(MemoryMax) on cgroup v2, C(MemoryLimit) on v1).
  returned: always
  type: str
  sample: MemoryLimit
restarted:
  description: True when the unit was restarted (in check mode, when it would be).
  returned: always
  type: bool
  sample: true
check_mode:
  description: True when this was a dry run (check mode for the whole run, or for this step only).
  returned: always
  type: bool
  sample: false
duration:
  description: Seconds spent waiting for the unit to be active with the new limits.
  returned: when waited
  type: float
  sample: 1.05
"""

import os
import re
import tempfile
import time
from decimal import Decimal

from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule, wait_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.errors import NotConfirmed, RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.guards import require
from ansible_collections.sre.runbooks.plugins.module_utils.host import (
    daemon_reload,
    run,
    systemctl_path,
    to_int,
    unit_name,
    unit_properties,
)
from ansible_collections.sre.runbooks.plugins.module_utils.waiting import wait_for

UNIT_DIR = "/etc/systemd/system"
HEADER = "# Written by sre.runbooks.service_resource_limits (runbook Scenario 1: restart with increased resources).\n"
SETTLE = 2.0  # seconds a restarted unit must keep running, with the same main process, to be confirmed
SIZE = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]?)$")
PERCENT = re.compile(r"^(\d+(?:\.\d{1,2})?)%$")
SPAN = re.compile(r"(\d+(?:\.\d+)?)\s*(us|ms|min|s|h|d|w)")
USEC = {"us": 1, "ms": 1000, "s": 10 ** 6, "min": 60 * 10 ** 6, "h": 3600 * 10 ** 6, "d": 86400 * 10 ** 6,
        "w": 7 * 86400 * 10 ** 6}


def parse_size(value, option):
    """'512M' / '4G' / '1048576' -> bytes (K, M, G, T: powers of 1024, as systemd reads them)."""
    match = SIZE.match(value.strip())
    size = int(Decimal(match.group(1)) * 1024 ** " KMGT".index(match.group(2) or " ")) if match else 0
    if size <= 0:
        raise RunbookError(f"{option} must be a size like 512M or 4G (K, M, G, T: powers of 1024), not {value!r}",
                           option=option)
    return size


def parse_percent(value, option):
    """'200%' -> Decimal('200')."""
    match = PERCENT.match(value.strip())
    percent = Decimal(match.group(1)) if match else Decimal(0)
    if percent <= 0:
        raise RunbookError(f"{option} must be a percentage like 200% (up to two decimals), not {value!r}",
                           option=option)
    return percent


def quota_percent(text):
    """systemctl's CPUQuotaPerSecUSec ('2s', '330ms', '1.500000s', '1min 40s', 'infinity') -> '200%' or None."""
    tokens = SPAN.findall(text or "")
    if not tokens:
        return None
    usec = sum(Decimal(number) * USEC[unit] for number, unit in tokens)
    return format_percent(usec / 10000)


def format_percent(percent):
    text = f"{percent.quantize(Decimal('0.01')):f}".rstrip("0").rstrip(".")
    return f"{text}%"


def format_size(size):
    for exponent, suffix in ((4, "T"), (3, "G"), (2, "M"), (1, "K")):
        if size % 1024 ** exponent == 0:
            return f"{size // 1024 ** exponent}{suffix}"
    return f"{size / 1024 ** 2:.1f}M" if size >= 1024 ** 2 else f"{size}B"


def check_drop_in(name):
    if "/" in name or not name.endswith(".conf") or name.startswith("."):
        raise RunbookError(f"drop_in must be a plain file name ending in .conf (systemd reads only those), not "
                           f"{name!r}", option="drop_in")
    return name


def memory_property(root="/sys/fs/cgroup", props=None):
    """MemoryMax when the memory controller is on cgroup v2 (pure or in the hybrid's unified tree), else MemoryLimit;
    but MemoryMax where the unit already sets it: on cgroup v1 systemd applies MemoryMax= whenever it is set, and a
    MemoryLimit= beside it would change nothing."""
    if os.path.exists(os.path.join(root, "cgroup.controllers")):
        return "MemoryMax"
    if (props or {}).get("MemoryMax") not in (None, "", "infinity"):
        return "MemoryMax"
    try:
        with open(os.path.join(root, "unified", "cgroup.controllers")) as handle:
            return "MemoryMax" if "memory" in handle.read().split() else "MemoryLimit"
    except OSError:
        return "MemoryLimit"


def render(memory_key, memory_max, cpu_quota):
    lines = [HEADER, "[Service]\n"]
    if memory_max is not None:
        lines.append(f"{memory_key}={memory_max.strip()}\n")
    if cpu_quota is not None:
        lines.append(f"CPUQuota={cpu_quota.strip()}\n")
    return "".join(lines)


def state(props, content):
    memory = to_int(props.get("MemoryMax"))
    return {"drop_in": content,
            "memory_limit": memory if memory is not None else to_int(props.get("MemoryLimit")),
            "cpu_quota": quota_percent(props.get("CPUQuotaPerSecUSec")),
            "active_state": props.get("ActiveState")}


def reports(seen, wanted):
    """systemd reports every wanted value (a key left out of wanted is not looked at)."""
    return all(seen[key] == value for key, value in wanted.items())


def read_file(path):
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def write_file(module, path, content):
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".sre-runbooks-")
    with os.fdopen(handle, "w") as out:
        out.write(content)
    os.chmod(temp, 0o644)
    module.atomic_move(temp, path)


def check_guards(params, unit, props, asked):
    """asked: memory_max (bytes), memory (its cap), cpu_quota (percent), quota (its cap); None when not asked."""
    load = props.get("LoadState")
    require(load == "loaded", "unit loaded", f"{unit} is not a loaded unit on this host (LoadState={load}).")
    memory, quota = asked["memory_max"], asked["cpu_quota"]
    if memory is not None:
        require(memory <= asked["memory"], "within memory_cap", f"memory_max={params['memory_max']} is above "
                f"memory_cap={params['memory_cap']}.", override="raise memory_cap in the inventory")
        current = to_int(props.get("MemoryCurrent"))
        require(current is None or memory >= current, "not below current use",
                f"{unit} uses {format_size(current or 0)} now (MemoryCurrent={current}); memory_max="
                f"{params['memory_max']} is below it and the kernel would kill it.",
                override=f"ask for more than {format_size(current or 0)}")
    if quota is not None:
        require(quota <= asked["quota"], "within cpu_quota_cap", f"cpu_quota={params['cpu_quota']} is above "
                f"cpu_quota_cap={params['cpu_quota_cap']}.", override="raise cpu_quota_cap in the inventory")


def settled(wanted, restarted, settle, clock=time.monotonic):
    """ready(seen) for wait_for: systemd reports the wanted values and, after a restart, the unit is active and
    running with the same main process for settle seconds (a process the new limit kills at startup is not)."""
    since = {}

    def ready(seen):
        if not reports(seen, wanted):
            return False
        if not restarted:
            return True
        if (seen["active_state"], seen["sub_state"]) != ("active", "running"):
            since.clear()
            return False
        first = since.setdefault(seen["main_pid"], clock())
        return clock() - first >= settle
    return ready


def confirm(module, unit, wanted, restarted, content, result):
    params = module.params

    def observe():
        props = unit_properties(module, unit)
        return dict(state(props, content), sub_state=props.get("SubState"), drop_ins=props.get("DropInPaths"),
                    main_pid=props.get("MainPID"))

    settle = min(SETTLE, params["wait_timeout"] / 2)
    ok, seen, duration = wait_for(observe, settled(wanted, restarted, settle), params["wait_timeout"],
                                  min(params["wait_sleep"], settle or params["wait_sleep"]))
    if not ok:
        memory = seen.get("memory_limit")
        last = seen.get("error") or (f"ActiveState={seen['active_state']}, SubState={seen['sub_state']}, memory limit "
                                     f"{format_size(memory) if memory else 'none'}, CPU quota "
                                     f"{seen['cpu_quota'] or 'none'}, drop-ins: {seen['drop_ins'] or 'none'}")
        raise NotConfirmed(f"{unit} did not show the new limits{' and keep running' if restarted else ''} within "
                           f"{params['wait_timeout']}s (last seen: {last}). Done: {'; '.join(result['actions'])}.",
                           **result)
    return duration


def set_limits(module):
    params = module.params
    unit = unit_name(params["name"])
    drop_in = check_drop_in(params["drop_in"])
    memory = parse_size(params["memory_max"], "memory_max") if params["memory_max"] is not None else None
    quota = parse_percent(params["cpu_quota"], "cpu_quota") if params["cpu_quota"] is not None else None
    caps = {"memory": memory is not None and parse_size(params["memory_cap"], "memory_cap"),
            "quota": quota is not None and parse_percent(params["cpu_quota_cap"], "cpu_quota_cap")}
    systemctl = systemctl_path(module)
    props = unit_properties(module, unit)
    check_guards(params, unit, props, dict(caps, memory_max=memory, cpu_quota=quota))
    unit = props.get("Id") or unit
    key = memory_property(props=props)
    path = os.path.join(UNIT_DIR, unit + ".d", drop_in)
    current, content = read_file(path), render(key, params["memory_max"], params["cpu_quota"])
    before = state(props, current)
    wanted = {k: v for k, v in (("memory_limit", memory), ("cpu_quota", quota and format_percent(quota)))
              if v is not None}
    result = {"unit": unit, "drop_in_path": path, "drop_in": content, "memory_property": key, "restarted": False,
              "before": before, "after": before, "actions": []}
    limits = ", ".join(content.splitlines()[2:])
    held, failed = current == content and reports(before, wanted), before["active_state"] == "failed"
    if held and not (params["restart"] and failed):
        result["msg"] = f"{unit} already has {limits} ({path}); nothing to do."
        return result
    if current != content:
        result["actions"].append(f"Write {path} ({limits})")
    if not held:
        result["actions"].append("Reload systemd (daemon-reload)")
    if params["restart"] and failed:
        result["actions"].append(f"Clear the failed state of {unit} (reset-failed), so that systemd starts it again")
    if params["restart"]:
        result["actions"].append(f"Restart {unit}")
    result["restarted"] = params["restart"]
    result["msg"] = ". ".join(result["actions"]) + "."
    result["after"] = dict(before, drop_in=content, **wanted)
    if params["restart"]:
        result["after"]["active_state"] = "active"
    if module.check_mode:
        return result
    if current != content:
        write_file(module, path, content)
    try:
        if not held:
            daemon_reload(module)
        if params["restart"] and failed:
            run(module, [systemctl, "reset-failed", unit])
        if params["restart"]:
            run(module, [systemctl, "restart", unit])
    except RunbookError as exc:
        written = "was written" if current != content else "already held the limits"
        raise NotConfirmed(f"{exc.msg.rstrip('.')}. {path} {written}.", **result) from exc
    if params["wait"]:
        result["duration"] = confirm(module, unit, wanted, params["restart"], content, result)
    result["after"] = state(unit_properties(module, unit), content)
    return result


def main():
    module = RunbookModule(
        argument_spec={
            "name": {"type": "str", "default": "pynomaly"},
            "memory_max": {"type": "str"},
            "memory_cap": {"type": "str"},
            "cpu_quota": {"type": "str"},
            "cpu_quota_cap": {"type": "str"},
            "drop_in": {"type": "str", "default": "50-sre-runbooks-limits.conf"},
            "restart": {"type": "bool", "default": True},
        },
        shared=(wait_argument_spec,),
        required_one_of=[("memory_max", "cpu_quota")],
        required_by={"memory_max": "memory_cap", "cpu_quota": "cpu_quota_cap"},
        bounds={"wait_timeout": (0, None)},
        supports_check_mode=True,
    )
    result = module.run(set_limits)
    result.update(changed=bool(result["actions"]), check_mode=module.check_mode)
    if module._diff:
        result["diff"] = {"before": result["before"]["drop_in"], "after": result["after"]["drop_in"],
                          "before_header": result["drop_in_path"], "after_header": result["drop_in_path"]}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
