# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that shape triage results for the incident flow (roles/triage, roles/verify)."""



DOCUMENTATION = r"""
name: checks_by_name
short_description: Gathered triage jobs as one result per check
version_added: 1.0.0
description:
  - Takes the C(results) of the triage role's C(async_status) loop and returns a dict from check name to the
    check's result. A check that failed or did not finish in time becomes status C(unknown) with a
    C(triage.check_failed) finding, so one broken check never hides the others.
  - Its companions in this file are C(all_findings) (every finding of every check, one list) and
    C(triage_lines) (one line per check for the person on call).
options:
  _input:
    description: The C(results) list of the gathering loop.
    type: list
    elements: dict
    required: true
author: sre.runbooks contributors
"""

EXAMPLES = r"""
- name: Put every finding in one list
  ansible.builtin.set_fact:
    incident_checks: "{{ triage_gathered.results | sre.runbooks.checks_by_name }}"
"""

RETURN = r"""
_value:
  description: Check name to result (C(status), C(findings), and the check's own keys).
  type: dict
"""


def _failed_check(name, why):
    return {
        "status": "unknown",
        "findings": [{"id": "triage.check_failed", "severity": "warning",
                      "summary": "The %s check did not report: %s" % (name, why), "evidence": {"check": name}}],
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
            checks[name] = dict((k, v) for k, v in item.items()
                                if k not in ("item", "ansible_loop_var", "ansible_job_id", "results_file",
                                             "started", "finished", "attempts", "invocation", "changed"))
    return checks


def all_findings(checks):
    return [f for name in sorted(checks) for f in checks[name].get("findings", [])]


def triage_lines(checks):
    lines = []
    for name in sorted(checks):
        check = checks[name]
        summaries = [f["summary"] for f in check.get("findings", []) if f.get("severity") != "info"]
        lines.append("%s: %s%s" % (name, check["status"].upper(), (": " + "; ".join(summaries)) if summaries else ""))
    return lines or ["no check is configured for this inventory"]


DECISIONS = {
    "plan": "planned, not done (plan mode)",
    "run": "will run now",
    "needs_approval": "needs approval (add it to approved_steps, or answer the prompt in approve mode)",
    "manual": "a person does this step",
}


def step_lines(steps):
    return ["- %s (%s risk): %s -> %s" % (s["id"], s.get("risk", "high"), s.get("description", ""),
                                          DECISIONS.get(s["decision"], s["decision"])) for s in steps or []]


def step(diagnosis, step_id):
    """The decided step with this id, or an empty dict when no scenario asks for it."""
    for item in (diagnosis or {}).get("steps", []):
        if item.get("id") == step_id:
            return item
    return {}


class FilterModule:
    def filters(self):
        return {"checks_by_name": checks_by_name, "all_findings": all_findings, "triage_lines": triage_lines,
                "step_lines": step_lines, "step": step}
