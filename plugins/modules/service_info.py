#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: service_info
short_description: Check the application's systemd service on an application server
version_added: 1.0.0
description:
  - The runbook's C(systemctl status pynomaly) and C(ps aux | grep pynomaly) (Application Server Issues, Check
    Process Status), run on the application server itself.
  - Reads the unit from systemd (load and active state, result of the last run, restarts, main process, exit
    status, memory and CPU limits, drop-ins) and the main process from C(/proc); optionally whether something
    listens on the application's port (C(/proc/net/tcp) and C(tcp6)).
  - A service that is missing, stopped, failed or restarting is a finding, not a failure of the task.
  - Where the cgroup memory controller cannot be read (C(MemoryCurrent) not set), the memory in use is the sum
    of the resident memory of the unit's processes.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.attributes
  - sre.runbooks.attributes.INFO_MODULE
options:
  name:
    description: The systemd unit; C(.service) is added when the name has no unit type.
    type: str
    default: pynomaly
  port:
    description: A TCP port the service listens on when it works (1 to 65535). Default - not checked.
    type: int
  restart_loop_threshold:
    description: A unit systemd has restarted at least this many times (C(NRestarts)) is in a restart loop.
    type: int
    default: 3
  memory_warn_percent:
    description: Memory in use at or above this percentage of the unit's memory limit is a warning (1 to 100).
    type: int
    default: 90
notes:
  - Runs on the application server (Python 3 standard library, C(systemctl)); needs a systemd host.
"""

EXAMPLES = r"""
- name: Check if the application is running (Application Server Issues, Check Process Status)
  sre.runbooks.service_info:
    name: pynomaly
    port: 8000
  register: app_service

- name: Say why the application is down
  ansible.builtin.debug:
    msg: "{{ app_service.findings | map(attribute='summary') | list }}"
  when: app_service.status != 'ok'
"""

RETURN = r"""
status:
  description:
    - C(down) (the unit is missing, not active, failed, or active with nothing listening on O(port));
      C(degraded) (a warning, or a restart loop of a unit that is active now); C(ok).
  returned: always
  type: str
  sample: down
findings:
  description:
    - Ids C(service.not_found) (systemd has no such unit; critical),
    - C(service.inactive) (the unit is not active - inactive, activating, deactivating; critical),
    - C(service.failed) (the unit failed; critical; evidence C(result) such as C(exit-code), C(signal),
      C(oom-kill), C(start-limit-hit), C(exit_code), C(exit_status)),
    - C(service.restart_loop) (C(NRestarts) at or above O(restart_loop_threshold), or the start limit was hit;
      critical; evidence C(restarts), C(result)),
    - C(service.port_not_listening) (the unit is active but nothing listens on O(port); critical),
    - C(service.memory_near_limit) (memory in use at or above O(memory_warn_percent) of the limit; warning;
      evidence C(memory_current), C(memory_limit), C(property), C(used_percent)).
    - The evidence of every finding includes C(unit).
  returned: always
  type: list
  elements: dict
  sample:
    - id: service.failed
      severity: critical
      summary: "pynomaly.service failed (result exit-code, exited with status 1)"
      evidence: {unit: pynomaly.service, result: exit-code, exit_code: exited, exit_status: 1}
service:
  description:
    - The unit as systemd reports it. C(process) is the main process (C(pid), C(user), C(rss_bytes), C(started),
      C(command)) or null. C(exit_code) is C(exited), C(killed) or C(dumped) (null before the main process ended);
      C(exit_status) the exit status or signal number.
    - C(memory_current) (bytes, null when unknown), C(memory_current_source) (C(cgroup), or C(rss) when summed
      from the unit's processes), C(memory_limit) (bytes or null) and the property that sets it
      (C(memory_limit_property), C(MemoryMax) or C(MemoryLimit), or null), C(cpu_quota) (C(200%) or null).
    - C(since) is when the unit entered its current state (ISO 8601, UTC). C(port) is C(port), C(listening),
      or null without O(port).
  returned: always
  type: dict
  sample:
    unit: pynomaly.service
    load_state: loaded
    active_state: active
    sub_state: running
    result: success
    restarts: 0
    main_pid: 71
    process: {pid: 71, user: pynomaly, rss_bytes: 20480000, started: "2024-05-01T10:00:00Z",
              command: /usr/bin/python3 -m pynomaly.server}
    exit_code: null
    exit_status: null
    memory_current: 20480000
    memory_current_source: rss
    memory_limit: 209715200
    memory_limit_property: MemoryMax
    cpu_quota: 200%
    drop_ins: [/etc/systemd/system/pynomaly.service.d/override.conf]
    since: "2024-05-01T10:00:00Z"
    fragment_path: /etc/systemd/system/pynomaly.service
    port: {port: 8000, listening: true}
"""

import os
import re

from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.findings import check_result, finding
from ansible_collections.sre.runbooks.plugins.module_utils.host import (
    listening_ports,
    process_info,
    read_text,
    systemd_time,
    to_int,
    unit_name,
    unit_properties,
)
from ansible_collections.sre.runbooks.plugins.module_utils.redact import redact_text

DOWN_IDS = ("service.not_found", "service.inactive", "service.failed", "service.port_not_listening")
EXIT_CODES = {"1": "exited", "2": "killed", "3": "dumped"}
TIMESPAN_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0}
# Where the unit's processes are listed, by cgroup layout (v2; v1 hybrid; v1 legacy).
CGROUP_ROOTS = ("/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd")


def cpu_quota(value):
    """CPUQuotaPerSecUSec ('2s', '500ms', 'infinity') -> '200%', '50%' or None."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(min|ms|us|s)", value or "")
    if not parts:
        return None
    seconds = sum(float(number) * TIMESPAN_UNITS[unit] for number, unit in parts)
    return f"{round(seconds * 100)}%"


def memory_limit(props):
    """(bytes, property) of the limit that applies: MemoryMax, else the cgroup v1 MemoryLimit; (None, None)."""
    for name in ("MemoryMax", "MemoryLimit"):
        limit = to_int(props.get(name))
        if limit is not None:
            return limit, name
    return None, None


def unit_rss(control_group):
    """The resident memory of the unit's processes (bytes), from its cgroup's process list; None if unreadable."""
    for root in CGROUP_ROOTS if control_group else ():
        procs = read_text(os.path.join(root, control_group.lstrip("/"), "cgroup.procs"))
        if procs is None:
            continue
        infos = [process_info(pid) for pid in procs.split()]
        return sum(info["rss_bytes"] for info in infos if info)
    return None


def describe(props, port=None, listening=None):
    """The service entry from the unit's properties (and the port check)."""
    limit, limit_property = memory_limit(props)
    main_pid = to_int(props.get("MainPID"), 0)
    process = process_info(main_pid) if main_pid else None
    if process:
        process["command"] = redact_text(process["command"])
    current, source = to_int(props.get("MemoryCurrent")), "cgroup"
    if current is None and props.get("ActiveState") == "active":
        current, source = unit_rss(props.get("ControlGroup")), "rss"
    code = EXIT_CODES.get(props.get("ExecMainCode", ""))
    return {
        "unit": props.get("Id"),
        "load_state": props.get("LoadState"),
        "active_state": props.get("ActiveState"),
        "sub_state": props.get("SubState"),
        "result": props.get("Result") or None,
        "restarts": to_int(props.get("NRestarts"), 0),
        "main_pid": main_pid or None,
        "process": process,
        "exit_code": code,
        "exit_status": to_int(props.get("ExecMainStatus")) if code else None,
        "memory_current": current,
        "memory_current_source": source if current is not None else None,
        "memory_limit": limit,
        "memory_limit_property": limit_property,
        "cpu_quota": cpu_quota(props.get("CPUQuotaPerSecUSec")),
        "drop_ins": (props.get("DropInPaths") or "").split(),
        "since": systemd_time(props.get("StateChangeTimestamp")),
        "fragment_path": props.get("FragmentPath") or None,
        "port": {"port": port, "listening": listening} if port else None,
    }


def exit_text(service):
    code, status = service["exit_code"], service["exit_status"]
    if code == "exited":
        return f"exited with status {status}"
    if code in ("killed", "dumped"):
        return f"{code} by signal {status}"
    return None


def assess(service, restart_loop_threshold, memory_warn_percent):
    """The findings about one service entry (see describe)."""
    unit = service["unit"]
    state = service["active_state"]
    if service["load_state"] == "not-found":
        return [finding("service.not_found", "critical", f"systemd has no unit {unit} on this host",
                        {"unit": unit, "load_state": service["load_state"]})]
    findings = []
    if state == "failed":
        how = ", ".join(t for t in (f"result {service['result']}", exit_text(service)) if t)
        findings.append(finding("service.failed", "critical", f"{unit} failed ({how})", {
            "unit": unit, "result": service["result"], "exit_code": service["exit_code"],
            "exit_status": service["exit_status"]}))
    elif state not in ("active", "reloading", "refreshing"):
        masked = " (masked)" if service["load_state"] == "masked" else ""
        findings.append(finding("service.inactive", "critical",
                                f"{unit} is {state} ({service['sub_state']}){masked}, not active", {
                                    "unit": unit, "active_state": state, "sub_state": service["sub_state"],
                                    "load_state": service["load_state"], "since": service["since"]}))
    if service["restarts"] >= restart_loop_threshold or service["result"] == "start-limit-hit":
        findings.append(finding(
            "service.restart_loop", "critical",
            f"{unit} is in a restart loop: systemd restarted it {service['restarts']} time(s)"
            + (", start limit hit" if service["result"] == "start-limit-hit" else ""),
            {"unit": unit, "restarts": service["restarts"], "result": service["result"],
             "threshold": restart_loop_threshold}))
    port = service["port"]
    if port and state == "active" and not port["listening"]:
        findings.append(finding("service.port_not_listening", "critical",
                                f"{unit} is active but nothing listens on port {port['port']}",
                                {"unit": unit, "port": port["port"]}))
    current, limit = service["memory_current"], service["memory_limit"]
    if current is not None and limit:
        percent = round(100.0 * current / limit, 1)
        if percent >= memory_warn_percent:
            findings.append(finding(
                "service.memory_near_limit", "warning",
                f"{unit} uses {percent}% of its memory limit ({service['memory_limit_property']}={limit})",
                {"unit": unit, "memory_current": current, "memory_limit": limit,
                 "property": service["memory_limit_property"], "used_percent": percent}))
    return findings


def check(module):
    params = module.params
    unit = unit_name(params["name"])
    props = unit_properties(module, unit)
    props.setdefault("Id", unit)
    listening = params["port"] in listening_ports() if params["port"] else None
    service = describe(props, params["port"], listening)
    findings = assess(service, params["restart_loop_threshold"], params["memory_warn_percent"])
    return check_result(findings, DOWN_IDS, service=service)


def main():
    module = RunbookModule(
        argument_spec={
            "name": {"type": "str", "default": "pynomaly"},
            "port": {"type": "int"},
            "restart_loop_threshold": {"type": "int", "default": 3},
            "memory_warn_percent": {"type": "int", "default": 90},
        },
        bounds={"port": (1, 65535), "restart_loop_threshold": (1, None), "memory_warn_percent": (1, 100)},
        supports_check_mode=True,
    )
    module.exit_json(changed=False, **module.run(check))


if __name__ == "__main__":
    main()
