# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the host tier (roles/triage, roles/remediate_host, roles/restart_service, roles/verify).

Six filters live in this file; each is documented in its own file beside it (host_checks.yml,
server_results.yml, only_scenarios.yml, scenario_hosts.yml, log_lines.yml, app_server_endpoint.yml).
"""

from ansible_collections.sre.runbooks.plugins.module_utils.findings import finding, worst_status

# The modules of the host checks, by the key each result has under hosts.<name>.
HOST_CHECKS = {"service": "service_info", "resources": "host_resources_info", "logs": "log_scan_info"}
# What async_status and the loop add to a module's result: not the check's data.
PLUMBING = ("ansible_job_id", "started", "finished", "results_file", "stdout", "stdout_lines", "stderr",
            "stderr_lines", "invocation", "changed", "failed", "attempts", "item", "ansible_loop_var", "erased",
            "skipped", "skip_reason", "false_condition", "unreachable", "msg", "check_mode",
            "failed_when_result")


def _host_of(collected):
    """The inventory name a collected result is about: async_status loops over the start results, which
    loop over the hosts."""
    start = collected.get("item") if isinstance(collected.get("item"), dict) else collected
    return start.get("item") if isinstance(start, dict) else None


def _one(name, kind, collected, timeout):
    """(result or None, findings) of one check of one host."""
    start = collected.get("item") if isinstance(collected.get("item"), dict) else collected
    module = HOST_CHECKS[kind]
    if start.get("unreachable") or collected.get("unreachable"):
        why = str(collected.get("msg") or start.get("msg") or "").strip()[:200]
        return None, [finding("host.unreachable", "critical",
                              f"{name} does not answer over SSH: its checks could not run ({why})", {"host": name})]
    if start.get("failed") or collected.get("failed") or (collected.get("finished") and "status" not in collected):
        why = str(collected.get("msg") or start.get("msg") or "it failed").strip()[:300]
        return None, [finding("triage.check_failed", "warning", f"The {kind} check of {name} did not report: {why}",
                              {"check": "hosts", "host": name, "module": module})]
    if not collected.get("finished"):
        return None, [finding("triage.check_failed", "warning",
                              f"The {kind} check of {name} did not report within {timeout} seconds",
                              {"check": "hosts", "host": name, "module": module})]
    result = {key: value for key, value in collected.items() if key not in PLUMBING and not key.startswith("_")}
    found = [dict(f, summary=f"{name}: {f.get('summary', '')}", evidence=dict(f.get("evidence") or {}, host=name))
             for f in result.get("findings") or []]
    return dict(result, findings=found), found


def host_checks(collected, timeout=30):
    """The `hosts` triage check from the async_status results of the host checks.

    ``collected`` maps service / resources / logs to the async_status loop results (each item is the start
    result of one host). Gives {status, findings, hosts: {name: {status, service, resources, logs}}}:
    every host finding with evidence.host; an unreachable host is one host.unreachable finding (never a
    failure); status is down with any critical finding, else the worst status of the checks.
    """
    hosts, findings, statuses = {}, [], []
    for kind in HOST_CHECKS:
        for item in (collected or {}).get(kind) or []:
            name = _host_of(item)
            if not name:
                continue
            entry = hosts.setdefault(name, {"status": "ok", "service": None, "resources": None, "logs": None})
            if entry.get("unreachable"):
                continue
            result, found = _one(name, kind, item, timeout)
            if any(f["id"] == "host.unreachable" for f in found):
                entry["unreachable"] = True
            entry[kind] = result
            entry["status"] = worst_status(entry["status"], (result or {}).get("status") or "unknown")
            if any(f["severity"] == "critical" for f in found):
                entry["status"] = "down"
            findings.extend(found)
            statuses.append(entry["status"])
    for found in _unreachable_ports(hosts, (collected or {}).get("reach") or {}):
        hosts[found["evidence"]["host"]]["status"] = "down"
        statuses.append("down")
        findings.append(found)
    return {"status": worst_status(*statuses) if statuses else "ok", "findings": findings, "hosts": hosts}


def _unreachable_ports(hosts, reach):
    """service.port_unreachable for each server whose service listens on its port there, while the port gets no
    answer from the control node (the http_health_info result of app_server_endpoint's endpoints)."""
    found = []
    for endpoint in reach.get("endpoints") or []:
        entry = hosts.get(endpoint.get("name")) or {}
        port = ((entry.get("service") or {}).get("service") or {}).get("port") or {}
        if endpoint.get("status_code") is None and port.get("listening"):
            summary = (f"{endpoint['name']}: the service listens on port {port.get('port')} there, but "
                       f"{endpoint.get('url')} gets no answer from here ({endpoint.get('error') or 'no answer'}): "
                       "a firewall on the server or in the network drops it")
            evidence = {"host": endpoint["name"], "port": port.get("port"), "url": endpoint.get("url"),
                        "error": endpoint.get("error")}
            found.append(finding("service.port_unreachable", "critical", summary, evidence))
    return found


def server_results(hosts, hostvars, name):
    """The results one check registered (as ``name``) on each server of a play over the servers, in the shape
    host_checks reads (each result with its server as ``item``, finished). A server with no such result (the
    play did not reach it, for example left out by --limit) is a failed check that says so."""
    out = []
    for host in hosts or []:
        result = (hostvars.get(host) or {}).get(name)
        if not isinstance(result, dict) or (result.get("skipped") and not result.get("unreachable")):
            out.append({"item": host, "failed": True, "msg": "the check did not run on this server (the play on "
                        "the application servers did not reach it)"})
        else:
            out.append(dict(result, item=host, finished=1))
    return out


def app_server_endpoint(host, hostvars, port, path="/health"):
    """The health endpoint of one application server as the control node reaches it (its ansible_host)."""
    address = (hostvars.get(host) or {}).get("ansible_host") or host
    return {"name": host, "url": f"http://{address}:{port}{path or '/'}", "expect_status": [200]}


def only_scenarios(diagnosis, scenario_ids):
    """The diagnosis restricted to some scenarios (their scenarios, steps and run_steps only)."""
    wanted = [scenario_ids] if isinstance(scenario_ids, str) else list(scenario_ids or [])
    diagnosis = diagnosis or {}
    steps = [s for s in diagnosis.get("steps") or [] if s.get("scenario") in wanted]
    return dict(diagnosis, scenarios=[s for s in diagnosis.get("scenarios") or [] if s.get("id") in wanted],
                steps=steps, run_steps=[s["id"] for s in steps if s.get("decision") == "run"])


def scenario_hosts(diagnosis, finding_ids=None):
    """The hosts (evidence.host) the diagnosed scenarios are about, once each, in finding order: those of the
    findings they matched, or, with ``finding_ids``, of the matched and explained findings with those ids."""
    hosts = []
    for scenario in (diagnosis or {}).get("scenarios") or []:
        items = scenario.get("matched") or []
        if finding_ids:
            items = [f for f in items + (scenario.get("explained") or []) if f.get("id") in finding_ids]
        for item in items:
            host = (item.get("evidence") or {}).get("host")
            if host and host not in hosts:
                hosts.append(host)
    return hosts


def log_lines(result, pattern, limit=10):
    """The last lines log_scan_info kept for one pattern, at most ``limit`` per source (0: all), each once and
    prefixed with its source, the newest last."""
    lines = []
    for source in (result or {}).get("sources") or []:
        kept = []
        for line in (source.get("last_matches") or {}).get(pattern) or []:
            if line not in kept:
                kept.append(line)
        lines.extend(f"{source.get('source', '?')}: {line}" for line in (kept[-limit:] if limit else kept))
    return lines


class FilterModule:
    def filters(self):
        return {"host_checks": host_checks, "only_scenarios": only_scenarios, "scenario_hosts": scenario_hosts,
                "log_lines": log_lines, "app_server_endpoint": app_server_endpoint, "server_results": server_results}
