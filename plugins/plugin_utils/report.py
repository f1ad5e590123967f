# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The incident report (report.md) from the timeline events of one run.

Pure functions: the callback gives the incident's metadata and the events it
recorded; this says what was found, what it means, what was (or would be)
done, and whether recovery was proven.
"""


# A report lists this many actions of one step; the timeline keeps them all.
ACTIONS_SHOWN = 10


def _phase(event, prefix):
    return event.get("phase", "").startswith(prefix)


def findings_of(events, prefix="triage"):
    seen, out = set(), []
    for event in events:
        if not _phase(event, prefix):
            continue
        for item in event.get("findings") or []:
            key = (item.get("id"), item.get("summary"))
            if key not in seen:
                seen.add(key)
                out.append(item)
    return out


def diagnosis_of(events):
    for event in reversed(events):
        if _phase(event, "diagnose") and "scenarios" in event:
            return event
    return None


def actions_of(events):
    """Remediation steps that acted, would act, failed, or ran and found nothing to change (a rerun)."""
    return [e for e in events if _phase(e, "remediate") and (
        e.get("actions") or e["result"] == "failed" or ("before" in e and e["result"] != "skipped"))]


def verification_of(events):
    return [e for e in events if _phase(e, "verify") and "status" in e]


def outcome(meta, events):
    """One line: recovered, not recovered, plan only, or not verified (from the verify role's proof step)."""
    if meta.get("check_mode") or meta.get("mode") == "plan":
        return "PLAN ONLY: nothing was changed"
    proofs = [e for e in events if _phase(e, "verify") and e.get("action", "").endswith("assert")
              and e["result"] in ("ok", "failed")]
    checks = verification_of(events) or [e for e in events if _phase(e, "triage") and e.get("findings")]
    if not proofs:
        return "NOT VERIFIED: the verify step did not run"
    if proofs[-1]["result"] == "failed":
        return f"NOT RECOVERED: {str(proofs[-1].get('msg', '')).strip()[:400]}"
    still_open = [f["summary"] for e in checks for f in (e.get("findings") or [])
                  if f.get("severity") in ("warning", "critical")]
    if still_open:
        # A degraded dependency does not fail the proof; say too which diagnosed steps were left for approval,
        # or a run that changed nothing reads as if it had fixed something.
        unapproved = sorted({step["id"] for scenario in (diagnosis_of(events) or {}).get("scenarios", [])
                             for step in scenario.get("steps", []) if step.get("decision") == "needs_approval"})
        waiting = f"; steps not approved: {', '.join(unapproved)}" if unapproved else ""
        return f"RECOVERED (still open: {'; '.join(still_open)[:400]}{waiting})"
    return "RECOVERED: every verification check is healthy"


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def _findings_table(findings):
    if not findings:
        return ["No findings: every check is healthy.", ""]
    lines = ["| severity | finding | what | ", "|---|---|---|"]
    order = {"critical": 0, "warning": 1, "info": 2}
    for item in sorted(findings, key=lambda f: order.get(f.get("severity"), 3)):
        lines.append(f"| {item.get('severity')} | `{item.get('id')}` | {_cell(item.get('summary'))} |")
    return lines + [""]


def _diagnosis_section(diag):
    if not diag:
        return ["Diagnosis did not run.", ""]
    lines = [diag.get("summary") or "", ""]
    for scenario in diag.get("scenarios") or []:
        lines.append(f"### {scenario['title']}")
        if scenario.get("runbook"):
            lines.append(f"Runbook: {scenario['runbook']}")
        lines.append("")
        lines.append("Evidence that matched:")
        for item in scenario.get("matched") or []:
            lines.append(f"- `{item.get('id')}`: {_cell(item.get('summary'))}")
        lines.append("")
        lines.append("Steps:")
        for step in scenario.get("steps") or []:
            lines.append(f"- `{step['id']}` ({step.get('risk')} risk): {step.get('description', '')}: "
                         f"**{step.get('decision')}**")
        lines.append("")
    for item in diag.get("unexplained") or []:
        lines.append(f"- not explained by a scenario: `{item.get('id')}` {_cell(item.get('summary'))}")
    return lines + [""]


def _actions_section(events, check_mode):
    acted = actions_of(events)
    if not acted:
        return ["No remediation step ran.", ""]
    lines = []
    for event in acted:
        verb = "Would do" if check_mode or event.get("check_mode") else "Did"
        if event["result"] == "failed":
            lines.append(f"- **{_cell(event['step'])}** refused or failed: {_cell(event.get('msg', ''))}")
            continue
        actions = event.get("actions") or []
        if not actions:
            lines.append(f"- **{_cell(event['step'])}** ({event['host']}): nothing to change - "
                         f"{_cell(event.get('msg', 'already in the wanted state'))}")
            continue
        lines.append(f"- **{_cell(event['step'])}** ({event['host']}):")
        for action in actions[:ACTIONS_SHOWN]:
            lines.append(f"  - {verb}: `{_cell(action)}`")
        if len(actions) > ACTIONS_SHOWN:
            lines.append(f"  - ... and {len(actions) - ACTIONS_SHOWN} more (every one is in timeline.jsonl)")
        if event.get("before") is not None:
            lines.append(f"  - before: `{_cell(event['before'])}`")
            after_label = "after (would be)" if verb == "Would do" else "after"
            lines.append(f"  - {after_label}: `{_cell(event.get('after'))}`")
        for note in event.get("not_repointed") or []:
            lines.append(f"  - left for a person: {_cell(note)}")
    return lines + [""]


def _verification_section(events):
    checks = verification_of(events)
    if not checks:
        if any(_phase(e, "verify") for e in events):
            return [("No remediation step ran for real, so verification did not look again: the triage "
                     "results above stand."), ""]
        return ["Verification did not run.", ""]
    lines = []
    for event in checks:
        lines.append(f"- {_cell(event['step'])}: **{event['status']}**")
        for endpoint in event.get("endpoints") or []:
            answer = endpoint.get("status_code") or endpoint.get("error")
            lines.append(f"  - {endpoint.get('name')} {endpoint.get('url')}: {answer} "
                         f"in {endpoint.get('latency_ms')} ms")
        for item in event.get("findings") or []:
            lines.append(f"  - `{item.get('id')}`: {_cell(item.get('summary'))}")
    return lines + [""]


def _timeline(events):
    lines = ["| time (UTC) | +s | phase | step | host | result |", "|---|---|---|---|---|---|"]
    for event in events:
        if event["result"] == "skipped":
            continue
        lines.append(f"| {event['ts'][11:23]} | {event['elapsed_s']} | {event['phase']} | {_cell(event['step'])} "
                     f"| {event['host']} | {event['result']} |")
    return lines + [""]


def render_report(meta, events):
    check_mode = bool(meta.get("check_mode"))
    diag = diagnosis_of(events)
    failures = [e for e in events if e["result"] in ("failed", "unreachable") and not _phase(e, "remediate")]
    lines = [
        f"# Incident {meta.get('id')}: {meta.get('title', 'P0 system down')}",
        "",
        "| | |", "|---|---|",
        f"| Severity | {meta.get('severity', 'P0')} |",
        f"| Service | {meta.get('service', '-')} ({meta.get('environment', '-')}) |",
        f"| Started | {meta.get('started_at')} |",
        f"| Report written | {meta.get('ended_at')} |",
        f"| Elapsed (this run) | {meta.get('elapsed_s')} s |",
        f"| Playbook | {meta.get('playbook')} |",
        f"| Remediation mode | {meta.get('mode')}{' (check mode: plan)' if check_mode else ''} |",
        f"| Outcome | **{outcome(meta, events)}** |",
        "",
        "## Summary", "", (diag or {}).get("summary") or "No diagnosis.", "",
        "## Findings (triage)", "",
    ]
    lines += _findings_table(findings_of(events))
    lines += ["## Diagnosis", ""] + _diagnosis_section(diag)
    lines += [f"## Actions{' (plan: nothing was changed)' if check_mode else ''}", ""]
    lines += _actions_section(events, check_mode)
    lines += ["## Verification", ""] + _verification_section(events)
    if failures:
        lines += ["## Steps that failed", ""]
        lines += [f"- {_cell(e['step'])} on {e['host']}: {_cell(e.get('msg', ''))}" for e in failures]
        lines.append("")
    lines += ["## Timeline", ""] + _timeline(events)
    return "\n".join(lines)
