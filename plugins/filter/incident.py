# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that shape triage results for the incident flow (roles/triage, roles/verify).

Thirteen filters live in this file; each is documented in its own file beside it (all_findings.yml,
triage_lines.yml, step_lines.yml, step.yml, recovery.yml, scenario_findings.yml, scenario_workloads.yml,
scenario_evidence.yml, actions_taken.yml,
notification_line.yml, probe_line.yml, journey_line.yml, pod_log_sources.yml).
"""


def all_findings(checks):
    return [f for name in sorted(checks) for f in checks[name].get("findings", [])]


def triage_lines(checks):
    lines = []
    for name in sorted(checks):
        check = checks[name]
        summaries = [f["summary"] for f in check.get("findings", []) if f.get("severity") != "info"]
        detail = (": " + "; ".join(summaries)) if summaries else ""
        lines.append(f"{name}: {check['status'].upper()}{detail}")
    return lines or ["no check is configured for this inventory"]


def recovery(checks, mitigated=None, required=None):
    """Whether the checks prove recovery: every health endpoint healthy and no dependency down.

    Checks that did not run (skipped, or no status) do not count either way. A check named in
    ``mitigated`` (check name -> what took it out of the request path, e.g. REDIS_ENABLED=false) does not
    count either, and is reported as mitigated: the service recovered around it, not through it.
    A check named in ``required`` (the probe, monitoring, alerts) must be ``ok`` when it ran: a slow probe or an
    alert still firing is not a recovery, though neither is ``down``.
    """
    mitigated = mitigated or {}
    ran = {name: check for name, check in (checks or {}).items()
           if isinstance(check, dict) and check.get("status") and not check.get("skipped") and name not in mitigated}
    problems = [f["summary"] for name in sorted(ran) for f in ran[name].get("findings", [])
                if f.get("severity") in ("warning", "critical")]
    endpoints_ok = ran.get("http", {}).get("status", "ok") == "ok"
    nothing_down = all(check["status"] != "down" for check in ran.values())
    required_ok = all(ran[name]["status"] == "ok" for name in required or [] if name in ran)
    return {"recovered": endpoints_ok and nothing_down and required_ok, "problems": problems,
            "statuses": {name: check["status"] for name, check in ran.items()}, "mitigated": dict(mitigated)}


DECISIONS = {
    "plan": "planned, not done (plan mode)",
    "run": "will run now",
    "needs_approval": "needs approval (add it to approved_steps, or answer the prompt in approve mode)",
    "manual": "a person does this step",
}


def step_lines(steps):
    return [f"- {s['id']} ({s.get('risk', 'high')} risk): {s.get('description', '')} -> "
            f"{DECISIONS.get(s['decision'], s['decision'])}" for s in steps or []]


def step(diagnosis, step_id):
    """The decided step with this id, or an empty dict when no scenario asks for it."""
    for item in (diagnosis or {}).get("steps", []):
        if item.get("id") == step_id:
            return item
    return {}


def scenario_workloads(diagnosis, scenario_id, kinds=None, explained=True):
    """The Kubernetes workloads ({name, kind}) the findings of one diagnosed scenario are about, in order."""
    workloads = []
    for item in _scenario_findings(diagnosis, scenario_id, explained):
        evidence = item.get("evidence") or {}
        workload = {"name": evidence.get("workload"), "kind": evidence.get("kind")}
        if workload["name"] and (not kinds or workload["kind"] in kinds) and workload not in workloads:
            workloads.append(workload)
    return workloads


def _scenario_findings(diagnosis, scenario_id, explained=True):
    for scenario in (diagnosis or {}).get("scenarios", []):
        if scenario.get("id") == scenario_id:
            yield from scenario.get("matched", []) + (scenario.get("explained", []) if explained else [])


def scenario_findings(diagnosis, scenario_id, finding_id=None, explained=True):
    """The findings a diagnosed scenario matched (and explained), optionally only those with one id."""
    return [item for item in _scenario_findings(diagnosis, scenario_id, explained)
            if not finding_id or item.get("id") == finding_id]


def scenario_evidence(diagnosis, scenario_id, key, finding_id=None):
    """The values of one evidence key (lists flattened) in the findings of a diagnosed scenario, once each."""
    values = []
    for item in scenario_findings(diagnosis, scenario_id, finding_id):
        value = (item.get("evidence") or {}).get(key)
        for one in value if isinstance(value, list) else [value]:
            if one is not None and one not in values:
                values.append(one)
    return values


def actions_taken(registered):
    """The actions of the remediation results that really changed something (not dry runs, not skipped; a change
    made but not confirmed in time counts: it was made)."""
    done = []
    for result in registered or []:
        for one in (result or {}).get("results", [result]):
            if isinstance(one, dict) and one.get("changed") and not one.get("check_mode"):
                done.extend(one.get("actions") or [])
    return done


SERVICES = {"slack": "Slack", "statuspage": "Status page"}


def notification_line(notification, dry_run=False):
    """One line a person reads: which service, what was done (or, in a dry run, would be), and whether it arrived."""
    notification = notification or {}
    service = SERVICES.get(notification.get("service"), notification.get("service") or "?")
    what = f"{notification.get('action', '?')}{' ' + str(notification['ref']) if notification.get('ref') else ''}"
    if dry_run and not notification.get("error"):
        return f"{service} - would {what} (dry run: nothing sent)"
    if notification.get("delivered"):
        return f"{service} - {what} - delivered"
    return f"{service} - {what} - NOT delivered - {notification.get('error') or 'no answer'}"


def probe_line(probe):
    """One line for a probe's figures: requests, errors and latency against the thresholds."""
    probe = probe or {}
    if not probe.get("requests"):
        return ""
    verdict = "passed" if probe.get("passed") else "FAILED"
    name = probe.get("name") or probe.get("url", "?")
    return (f"{name} - {probe['requests']} requests, {probe.get('errors', 0)} errors "
            f"({100 * (probe.get('error_rate') or 0):.0f}%), p50 {probe.get('p50_ms')} ms, "
            f"p95 {probe.get('p95_ms')} ms, max {probe.get('max_ms')} ms - {verdict}")


def journey_line(journey):
    """One line for a smoke or user-journey check: passed, or the first step that failed."""
    journey = journey or {}
    failed = [step for step in journey.get("steps", []) if not step.get("passed")]
    if journey.get("passed") and not failed:
        return f"{journey.get('name', '?')} passed"
    step = failed[0] if failed else {}
    where = f"{step.get('method', 'GET')} {step.get('path') or step.get('url', '?')}"
    return (f"{journey.get('name', '?')} FAILED at {where}"
            f" ({step.get('status', 'no answer')}, expected {step.get('expected', '?')})")


POD_OWNERS = {"Deployment": "deployment", "StatefulSet": "statefulset"}


def pod_log_sources(findings, namespace, limit=5):
    """evidence_collect sources for the pod logs of the workloads the findings name (Deployments, StatefulSets),
    once each, at most ``limit``."""
    sources = []
    for item in findings or []:
        evidence = (item or {}).get("evidence") or {}
        key = POD_OWNERS.get(evidence.get("kind"))
        source = {"type": "k8s_pod_logs", "namespace": namespace, key: evidence.get("workload")} if key else None
        if source and evidence.get("workload") and source not in sources and len(sources) < limit:
            sources.append(source)
    return sources


class FilterModule:
    def filters(self):
        return {"all_findings": all_findings, "triage_lines": triage_lines,
                "step_lines": step_lines, "step": step, "recovery": recovery,
                "scenario_workloads": scenario_workloads, "scenario_evidence": scenario_evidence,
                "scenario_findings": scenario_findings, "actions_taken": actions_taken,
                "notification_line": notification_line, "probe_line": probe_line, "journey_line": journey_line,
                "pod_log_sources": pod_log_sources}
