# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Diagnosis: ordered rules map finding ids to runbook scenarios, and decide each step.

A rule (data, see roles/diagnose/defaults/main.yml):
  id, title, runbook           which scenario, and where the runbook says so
  match_all: [matchers]        every one must be present (among unexplained findings)
  match_any: [matchers]        at least one must be present (when given)
  explains: [matchers]         findings this scenario accounts for besides its matches

A matcher is a finding id (``redis.primary_unreachable``), or a dict
``{id: ..., evidence: {key: value}}`` that also requires the finding's evidence
to hold those values (``{id: k8s.pods_crashlooping, evidence: {workload: qdrant}}``):
the same finding id can then mean different scenarios by what it is about.
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


def _matcher(item):
    """(id, evidence) of a rule's matcher: a finding id, or {id, evidence}."""
    if isinstance(item, dict):
        return item["id"], item.get("evidence") or {}
    return item, {}


def _matching(item, remaining):
    """The unconsumed findings a matcher selects."""
    fid, evidence = _matcher(item)
    return [f for f in remaining.get(fid, [])
            if all((f.get("evidence") or {}).get(key) == value for key, value in evidence.items())]


def _rule_matches(rule, remaining):
    match_all = rule.get("match_all") or []
    match_any = rule.get("match_any") or []
    if not match_all and not match_any:
        return None
    all_found = [_matching(item, remaining) for item in match_all]
    if not all(all_found):
        return None
    any_found = [found for found in (_matching(item, remaining) for item in match_any) if found]
    if match_any and not any_found:
        return None
    matched = []
    for found in all_found + any_found:
        matched.extend(f for f in found if not any(f is seen for seen in matched))
    return matched


def _consume(findings, remaining):
    for item in findings:
        same = remaining.get(item["id"], [])
        same[:] = [f for f in same if f is not item]
        if not same:
            remaining.pop(item["id"], None)


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
        explained = [f for item in rule.get("explains") or [] for f in _matching(item, remaining)]
        _consume(matched + explained, remaining)
        steps = []
        for step in rule.get("steps") or []:
            decided = dict(step)
            decided.setdefault("risk", "high")
            decided["scenario"] = rule["id"]
            decided["decision"] = decide(decided, mode, check_mode, set(approved))
            steps.append(decided)
        scenarios.append({"id": rule["id"], "title": rule["title"], "runbook": rule.get("runbook"),
                          "matched": matched, "explained": explained, "steps": steps})
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
