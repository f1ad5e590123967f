# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Diagnosis: ordered rules map finding ids to runbook scenarios, and decide each step.

A rule (data, see roles/diagnose/defaults/main.yml):
  id, title, runbook           which scenario, and where the runbook says so
  match_all: [finding ids]     every one must be present (among unexplained findings)
  match_any: [finding ids]     at least one must be present (when given)
  explains: [finding ids]      findings this scenario accounts for besides its matches
  steps: [{id, description, risk: low|high, auto: bool, automated: bool}]

Rules are tried in order. The findings a matching rule matched or explains are
consumed: a later rule matches only findings no earlier scenario accounts for
(a Redis outage makes /health answer 503; that 503 is not a second scenario).

Step decisions: ``plan`` (check mode or remediation_mode=plan), ``manual`` (a
step this collection does not automate), ``run``, ``needs_approval``.
In ``auto`` mode low-risk steps run, and high-risk steps whose rule marks them
``auto: true`` (their module's guard refuses when the precondition is unsafe);
every other high-risk step needs approval. In ``approve`` mode only approved
steps run.
"""

MODES = ("plan", "approve", "auto")


def _rule_matches(rule, by_id):
    match_all = rule.get("match_all") or []
    match_any = rule.get("match_any") or []
    if not match_all and not match_any:
        return None
    if any(fid not in by_id for fid in match_all):
        return None
    if match_any and not any(fid in by_id for fid in match_any):
        return None
    wanted = set(match_all) | set(match_any)
    return [f for fid in sorted(wanted) for f in by_id.get(fid, [])]


def decide(step, mode, check_mode, approved):
    if check_mode or mode == "plan":
        return "plan"
    if not step.get("automated", True):
        return "manual"
    if mode == "auto" and (step.get("risk", "high") == "low" or step.get("auto", False)):
        return "run"
    if step["id"] in approved:
        return "run"
    return "needs_approval"


def diagnose(findings, rules, mode="plan", check_mode=False, approved=()):
    """Scenarios (in rule order) with matched evidence and decided steps."""
    if mode not in MODES:
        raise ValueError(f"remediation_mode must be one of {', '.join(MODES)}, not {mode!r}")
    remaining = {}
    for item in findings:
        remaining.setdefault(item["id"], []).append(item)
    scenarios = []
    for rule in rules:
        matched = _rule_matches(rule, remaining)
        if not matched:
            continue
        for fid in {f["id"] for f in matched} | set(rule.get("explains") or []):
            remaining.pop(fid, None)
        steps = []
        for step in rule.get("steps") or []:
            decided = dict(step)
            decided.setdefault("risk", "high")
            decided["scenario"] = rule["id"]
            decided["decision"] = decide(decided, mode, check_mode, set(approved))
            steps.append(decided)
        scenarios.append({"id": rule["id"], "title": rule["title"], "runbook": rule.get("runbook"),
                          "matched": matched, "steps": steps})
    unexplained = [f for items in remaining.values() for f in items]
    return scenarios, unexplained


def summarize(scenarios, unexplained):
    if not scenarios and not unexplained:
        return "No problem found: every check is healthy."
    parts = [str(s["title"]) for s in scenarios]
    text = "Diagnosis: " + ("; ".join(parts) if parts else "no runbook scenario matches")
    if unexplained:
        text += f" ({len(unexplained)} finding(s) not explained by a scenario)"
    return text
