# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that shape triage results for the incident flow (roles/triage, roles/verify).

Five filters live in this file; each is documented in its own file beside it
(checks_by_name.yml, all_findings.yml, triage_lines.yml, step_lines.yml, step.yml).
"""


def _failed_check(name, why):
    return {
        "status": "unknown",
        "findings": [{"id": "triage.check_failed", "severity": "warning",
                      "summary": f"The {name} check did not report: {why}", "evidence": {"check": name}}],
    }


def checks_by_name(results):
    checks = {}
    for item in results or []:
        name = item.get("item", {}).get("check", "check")
        if item.get("skipped"):
            continue
        if not item.get("finished"):
            checks[name] = _failed_check(name, "no answer before the triage timeout")
        elif item.get("failed") or "status" not in item:
            checks[name] = _failed_check(name, item.get("msg") or "it failed")
        else:
            checks[name] = {k: v for k, v in item.items()
                            if k not in ("item", "ansible_loop_var", "ansible_job_id", "results_file",
                                         "started", "finished", "attempts", "invocation", "changed")}
    return checks


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


def recovery(checks):
    """Whether the checks prove recovery: every health endpoint healthy and no dependency down.

    Checks that did not run (skipped, or no status) do not count either way.
    """
    ran = {name: check for name, check in (checks or {}).items()
           if isinstance(check, dict) and check.get("status") and not check.get("skipped")}
    problems = [f["summary"] for name in sorted(ran) for f in ran[name].get("findings", [])
                if f.get("severity") in ("warning", "critical")]
    endpoints_ok = ran.get("http", {}).get("status", "ok") == "ok"
    nothing_down = all(check["status"] != "down" for check in ran.values())
    return {"recovered": endpoints_ok and nothing_down, "problems": problems,
            "statuses": {name: check["status"] for name, check in ran.items()}}


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


class FilterModule:
    def filters(self):
        return {"checks_by_name": checks_by_name, "all_findings": all_findings, "triage_lines": triage_lines,
                "step_lines": step_lines, "step": step, "recovery": recovery}
