# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The incident report (report.md), a post-mortem draft, from the timeline events of one run.

Pure functions: the callback gives the incident's metadata and the events it
recorded; this says what was found, what it means, what was (or would be)
done, whether recovery was proven and by which figures, who was told and who
was escalated to, what evidence was kept, and what of the runbook's
post-mortem checklist the run already did.
"""

import os

from ansible_collections.sre.runbooks.plugins.module_utils.timestamps import parse_time

# A report lists this many actions of one step; the timeline keeps them all.
ACTIONS_SHOWN = 10


def _phase(event, prefix):
    return event.get("phase", "").startswith(prefix)


def findings_of(events, prefix="triage"):
    seen, out = set(), []
    control = _control_hosts(events)
    for event in events:
        if not _phase(event, prefix):
            continue
        for item in event.get("findings") or []:
            item = _on_server(item, event, control)
            key = (item.get("id"), item.get("summary"))
            if key not in seen:
                seen.add(key)
                out.append(item)
    return out


def _control_hosts(events):
    """The hosts the incident is run from: those of the declare steps."""
    return {event.get("host") for event in events if _phase(event, "declare")}


def _on_server(item, event, control=frozenset()):
    """A finding of a step run on an application server (delegated to it, or in a play on the servers) names
    that server (evidence.host, summary), so the same finding on two servers stays two findings."""
    host = event.get("host")
    on_server = event.get("delegated") or (control and host not in control)
    if not on_server or not host or (item.get("evidence") or {}).get("host"):
        return item
    evidence = dict(item.get("evidence") or {}, host=host)
    return dict(item, summary=f"{host}: {item.get('summary', '')}", evidence=evidence)


def diagnosis_of(events):
    for event in reversed(events):
        if _phase(event, "diagnose") and "scenarios" in event:
            return event
    return None


def _remediation(event):
    """A step of a remediation role (remediate_*, and the restart role they share)."""
    return _phase(event, "remediate") or _phase(event, "restart_service")


def actions_of(events):
    """Remediation steps that acted, would act, failed, or ran and found nothing to change (a rerun)."""
    return [e for e in events if _remediation(e) and (
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
        where = "" if event["step"].endswith(f"({event['host']})") else f" ({event['host']})"
        lines.append(f"- **{_cell(event['step'])}**{where}:")
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


SEVERE = ("warning", "critical")
SERVICES = {"slack": "Slack", "statuspage": "Status page"}
# Results that always make the condensed timeline; routine "ok" tasks do not, unless they carry something below.
KEY_RESULTS = ("failed", "unreachable", "changed", "ignored")


def _clock(event):
    return str(event.get("ts", ""))[11:19]


def _when(value):
    when = parse_time(value)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC") if when else "-"


def _minutes(first, last):
    return f"{(last - first).total_seconds() / 60:.1f} min"


def _size(count):
    count = float(count or 0)
    if count < 1024:
        return f"{count:.0f} bytes"
    return f"{count / 1024:.1f} KiB" if count < 1024 * 1024 else f"{count / 1024 / 1024:.1f} MiB"


def _num(value):
    return f"{value:g}" if isinstance(value, float) else str(value)


def _count(number, noun):
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _severe(event):
    return [f for f in event.get("findings") or [] if isinstance(f, dict) and f.get("severity") in SEVERE]


def _probes(event):
    if isinstance(event.get("probes"), list) and event["probes"]:
        return [p for p in event["probes"] if isinstance(p, dict)]
    return [event["probe"]] if isinstance(event.get("probe"), dict) else []


def _rate(value):
    return f"{value:.1%}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _passed(value):
    return "-" if value is None else ("passed" if value else "**FAILED**")


def _with(events, key):
    return [e for e in events if isinstance(e.get(key), dict)]


def alerts_of(alert):
    """The alerts of the incident's alert: an Alertmanager webhook payload (its alerts) or one alert."""
    if not isinstance(alert, dict) or not alert:
        return []
    many = alert.get("alerts")
    return [a for a in many if isinstance(a, dict)] if isinstance(many, list) else [alert]


def _alert_name(alert):
    return alert.get("name") or (alert.get("labels") or {}).get("alertname") or "alert"


def _note(event):
    """What a key event did, in a few words, for the condensed timeline."""
    notes = []
    message = str(event.get("msg") or "").strip()
    if event["result"] in ("failed", "unreachable") and message:
        notes.append(message.splitlines()[0][:120])
    if isinstance(event.get("notification"), dict):
        sent = event["notification"]
        notes.append(f"{SERVICES.get(sent.get('service'), sent.get('service'))} {sent.get('action')}: "
                     f"{'delivered' if sent.get('delivered') else 'NOT delivered'}")
    if isinstance(event.get("escalation"), dict):
        tier = event["escalation"].get("tier") or 0
        notes.append(f"escalation tier {tier}" + (f" ({event['escalation'].get('name')})" if tier else " (none yet)"))
    if "scenarios" in event and isinstance(event.get("summary"), str):
        notes.append(event["summary"][:120])
    for probe in _probes(event):
        notes.append(f"{probe.get('name') or probe.get('url')}: p95 {probe.get('p95_ms')} ms, "
                     f"{probe.get('errors')}/{probe.get('requests')} errors, {_passed(probe.get('passed'))}")
    for key, what in (("journeys", "journeys passed"), ("queries", "queries within thresholds")):
        if isinstance(event.get(key), list) and event[key]:
            notes.append(f"{sum(1 for one in event[key] if one.get('passed'))}/{len(event[key])} {what}")
    if "firing" in event:
        notes.append(f"{_count(event['firing'], 'alert')} firing" if event["firing"] else "no alert firing")
    if isinstance(event.get("manifest"), dict):
        notes.append(_count(len(event["manifest"].get("files") or []), "evidence file"))
    severe = _severe(event)
    if severe:
        critical = sum(1 for f in severe if f.get("severity") == "critical")
        notes.append(f"{_count(len(severe), 'finding')} ({critical} critical): {severe[0].get('summary')}"[:140])
    if event.get("actions"):
        notes.append(f"{_count(len(event['actions']), 'action')}: {event['actions'][0]}"[:140])
    if str(event.get("action", "")).endswith("assert") and event["result"] == "ok" and _phase(event, "verify"):
        notes.append("recovery proven")
    if event.get("status") and (event["status"] != "ok" or _phase(event, "verify")) and not notes:
        notes.append(f"status {event['status']}")
    return "; ".join(n for n in notes if n)


def key_events(events):
    """The events a person reads in the timeline: each phase's first step, every change, failure, message,
    escalation, figure and finding of note; routine steps are left to timeline.jsonl."""
    chosen, phase = [], None
    for event in events:
        failed = event["result"] in ("failed", "unreachable")
        # Ansible's own check of a role's arguments, and a loop's summary after its items, add nothing to read.
        if event["result"] == "skipped" or (not failed and (
                str(event.get("action", "")).endswith("validate_argument_spec") or "items" in event)):
            continue
        note = _note(event)
        if event.get("phase") != phase or event["result"] in KEY_RESULTS or note:
            chosen.append((event, note))
        phase = event.get("phase")
    return chosen


def _timeline(events):
    chosen = key_events(events)
    lines = ["| time (UTC) | +s | phase | step | result | what |", "|---|---|---|---|---|---|"]
    for event, note in chosen:
        host = f" ({event['host']})" if event.get("host") not in (None, "localhost") else ""
        lines.append(f"| {_clock(event)} | {event.get('elapsed_s')} | {event.get('phase')} "
                     f"| {_cell(event['step'])}{host} | {event['result']} | {_cell(note)} |")
    routine = sum(1 for e in events if e["result"] != "skipped") - len(chosen)
    if routine:
        lines += ["", f"{_count(routine, 'routine task result')} not shown; timeline.jsonl has every one."]
    return lines + [""]


def impact_window(meta, events):
    """Start (the alert's start when earlier than the declaration), the first failing finding, recovery, end."""
    declared = parse_time(meta.get("started_at"))
    alert_starts = sorted(filter(None, (parse_time(a.get("startsAt")) for a in alerts_of(meta.get("alert")))))
    start = min(filter(None, [declared] + alert_starts[:1]), default=None)
    first_bad = next(((e, _severe(e)[0]) for e in events if _severe(e)), None)
    proofs = [e for e in events if _phase(e, "verify") and str(e.get("action", "")).endswith("assert")
              and e["result"] in ("ok", "failed")]
    recovered = parse_time(proofs[-1]["ts"]) if proofs and proofs[-1]["result"] == "ok" else None
    return {"start": start, "declared": declared, "alert_start": alert_starts[0] if alert_starts else None,
            "first_bad": first_bad, "recovered": recovered, "proven": bool(proofs),
            "end": recovered or parse_time(meta.get("ended_at"))}


def _impact_section(meta, window):
    start, end = window["start"], window["end"]
    lines = []
    if window["alert_start"] and window["alert_start"] == start:
        lines.append(f"- Impact start: {_when(start)} (the alert started firing; the incident was declared "
                     f"{_when(window['declared'])})")
    else:
        lines.append(f"- Impact start: {_when(start)} (the incident was declared)")
    if window["first_bad"]:
        event, found = window["first_bad"]
        lines.append(f"- First failing finding: {_when(event['ts'])} - `{found.get('id')}`: "
                     f"{_cell(found.get('summary'))}")
    else:
        lines.append("- First failing finding: none - no check found a problem")
    if window["recovered"]:
        lines.append(f"- Recovery proven: {_when(window['recovered'])}"
                     + (f" ({_minutes(start, window['recovered'])} after the impact start)" if start else ""))
    elif meta.get("check_mode") or meta.get("mode") == "plan":
        lines.append(f"- Recovery: not attempted (plan only); the run ended {_when(meta.get('ended_at'))}")
    else:
        lines.append(f"- Recovery: NOT proven{'' if window['proven'] else ' (verification did not run)'}; "
                     f"the run ended {_when(meta.get('ended_at'))}")
    if start and end:
        lines.append(f"- Window: {_when(start)} to {_when(end)}, {_minutes(start, end)}"
                     + ("" if window["recovered"] else " so far"))
    return lines + [""]


def _alert_section(meta):
    lines = []
    for alert in alerts_of(meta.get("alert")):
        notes = alert.get("annotations") or {}
        about = notes.get("summary") or notes.get("description") or ""
        state = alert.get("status") or alert.get("state") or "firing"
        lines.append(f"- **{_cell(_alert_name(alert))}** ({state}) since {alert.get('startsAt', '-')}"
                     + (f": {_cell(about)}" if about else ""))
        labels = {k: v for k, v in (alert.get("labels") or {}).items() if k != "alertname"}
        if labels:
            lines.append("  - labels: " + ", ".join(f"`{_cell(k)}={_cell(v)}`" for k, v in sorted(labels.items())))
    return lines + [""]


def _probe_table(probes):
    lines = ["| URL | requests | errors | error rate | p50 ms | p95 ms | max ms | thresholds | result |",
             "|---|---|---|---|---|---|---|---|---|"]
    for probe in probes:
        limits = ", ".join(f"{k} {v}" for k, v in (probe.get("thresholds") or {}).items() if v is not None)
        failed = ", ".join(probe.get("failed_checks") or [])
        lines.append(f"| {_cell(probe.get('name') or '')} {_cell(probe.get('url', ''))} | {probe.get('requests')} "
                     f"| {probe.get('errors')} | {_rate(probe.get('error_rate'))} | {probe.get('p50_ms')} "
                     f"| {probe.get('p95_ms')} | {probe.get('max_ms')} | {_cell(limits) or '-'} "
                     f"| {_passed(probe.get('passed'))}{' (' + _cell(failed) + ')' if failed else ''} |")
    return lines + [""]


def _journey_lines(journeys):
    lines = []
    for journey in journeys:
        lines.append(f"- journey **{_cell(journey.get('name'))}**: {_passed(journey.get('passed'))}")
        steps = journey.get("steps") or []
        failed = journey.get("failed_step") or next((s for s in steps if not s.get("passed")), None)
        if failed and not journey.get("passed"):
            why = f" - {_cell(failed['error'])}" if failed.get("error") else ""
            lines.append(f"  - at step {_cell(failed.get('name') or failed.get('path'))}: {failed.get('method', '')} "
                         f"{_cell(failed.get('path', ''))} answered {failed.get('status')} "
                         f"(expected {failed.get('expected', '-')}){why}")
    return lines + ([""] if lines else [])


def _query_table(queries):
    lines = ["| query | expression | value | threshold | result |", "|---|---|---|---|---|"]
    for query in queries:
        value = query.get("value")
        value = f"{value:.4g}" if isinstance(value, float) else value
        limit = f"{query.get('op', '')} {query['threshold']}".strip() if query.get("threshold") is not None else "-"
        lines.append(f"| {_cell(query.get('name'))} | `{_cell(query.get('expr'))}` | {_cell(value)} | {_cell(limit)} "
                     f"| {_passed(query.get('passed'))} |")
    return lines + [""]


def _alerts_lines(event):
    alerts = [a for a in event.get("alerts") or [] if isinstance(a, dict)]
    firing = event.get("firing", len([a for a in alerts if a.get("state") in ("firing", "active")]))
    names = sorted({_alert_name(a) for a in alerts if a.get("state", "firing") in ("firing", "active")})
    if not firing:
        return ["- Alertmanager: no alert firing (all clear)", ""]
    which = f": {_cell(', '.join(names))}" if names else ""
    return [f"- Alertmanager: **{_count(firing, 'alert')} firing**{which}", ""]


def _figures_section(events):
    lines = []
    for event in events:
        probes, journeys, queries = _probes(event), event.get("journeys") or [], event.get("queries") or []
        alerts = "firing" in event or isinstance(event.get("alerts"), list)
        if not (probes or journeys or queries or alerts):
            continue
        lines += [f"**{_cell(event['step'])}** ({event.get('phase')}, {_clock(event)} UTC):", ""]
        lines += (_probe_table(probes) if probes else []) + _journey_lines(journeys)
        lines += (_query_table(queries) if queries else []) + (_alerts_lines(event) if alerts else [])
    return (["### Figures", ""] + lines) if lines else []


def _escalation_section(events):
    stated = [e for e in events if isinstance(e.get("escalation"), dict)]
    if not stated:
        return ["No escalation tier was stated (no escalation policy is set, or the communicate step did not run).", ""]
    last = stated[-1]["escalation"]
    names = {}
    for event in stated:
        names.update({t.get("tier"): t.get("name") for t in event["escalation"].get("newly_crossed") or []
                      if isinstance(t, dict)})
        names[event["escalation"].get("tier")] = event["escalation"].get("name")
    reached = sorted({t for e in stated for t in e["escalation"].get("crossed") or []})
    lines = [f"- Policy: {_cell(last.get('policy') or '-')}"]
    lines.append("- Tiers reached: " + (", ".join(f"{t} ({names[t]})" if names.get(t) else str(t) for t in reached)
                                        or "none yet"))
    if last.get("tier"):
        who = ", ".join(f"{c.get('name')} {c.get('slack') or ''}".strip() for c in last.get("contacts") or [])
        lines.append(f"- Highest: tier {last['tier']} ({_cell(last.get('name'))}) "
                     f"at minute {_num(last.get('elapsed_minutes'))}"
                     + (f" - {_cell(who)}" if who else "")
                     + (f" in {', '.join(last.get('channels'))}" if last.get("channels") else ""))
    if isinstance(last.get("next"), dict):
        nxt = last["next"]
        due = f" ({_when(nxt['at'])})" if nxt.get("at") else ""
        lines.append(f"- Next: tier {nxt.get('tier')} ({_cell(nxt.get('name'))}) "
                     f"at minute {_num(nxt.get('at_minutes'))}{due}")
    if last.get("next_update_at"):
        lines.append(f"- Next update message due: {_when(last['next_update_at'])}")
    return lines + [""]


def _messages_section(events):
    sent = [e for e in events if isinstance(e.get("notification"), dict)]
    if not sent:
        return ["No message was sent (no Slack or status page is configured, or the communicate step did not run).", ""]
    lines = ["| time (UTC) | service | action | delivered | ref | what was sent |", "|---|---|---|---|---|---|"]
    for event in sent:
        note = event["notification"]
        service = SERVICES.get(note.get("service"), note.get("service"))
        lines.append(f"| {_clock(event)} | {service} | {note.get('action')} "
                     f"| {'yes' if note.get('delivered') else '**NO**'} | {_cell(note.get('ref') or '-')} "
                     f"| {_cell(str(note.get('summary') or '')[:300])} |")
    lost = [e for e in sent if not e["notification"].get("delivered")]
    if lost:
        lines += ["", "Not delivered:"]
        for event in lost:
            note = event["notification"]
            lines.append(f"- {SERVICES.get(note.get('service'), note.get('service'))} {note.get('action')} at "
                         f"{_clock(event)} UTC was NOT delivered after {note.get('attempts', '?')} attempts: "
                         f"{_cell(note.get('error') or 'no answer')}")
    return lines + [""]


def _manifest_link(meta, folder):
    target = os.path.join(folder, "manifest.json")
    if meta.get("folder") and os.path.isabs(target):
        return os.path.relpath(target, meta["folder"])
    return target


def _evidence_section(meta, events):
    kept = [e for e in events if isinstance(e.get("manifest"), dict)]
    if not kept:
        return ["No evidence was collected in this run.", ""]
    lines = []
    for event in kept:
        manifest = event["manifest"]
        files = [f for f in manifest.get("files") or [] if isinstance(f, dict)]
        folder = str(event.get("evidence_dir") or manifest.get("evidence_dir") or "evidence")
        limit = f" (limit {_size(manifest['max_bytes'])})" if manifest.get("max_bytes") else ""
        total = manifest.get("total_bytes", sum(f.get("bytes") or 0 for f in files))
        lines.append(f"- {_count(len(files), 'file')}, {_size(total)}{limit} in `{_cell(folder)}` - "
                     f"[manifest.json]({_manifest_link(meta, folder)}) lists each with its SHA-256")
        for item in files[:ACTIONS_SHOWN]:
            cut = ", truncated" if item.get("truncated") else ""
            lines.append(f"  - `{_cell(item.get('path'))}` ({_size(item.get('bytes'))}{cut}) "
                         f"from {_cell(item.get('source', '-'))}")
        if len(files) > ACTIONS_SHOWN:
            lines.append(f"  - ... and {len(files) - ACTIONS_SHOWN} more (in manifest.json)")
        for skipped in manifest.get("skipped") or []:
            lines.append(f"  - not collected: {_cell(skipped.get('source'))} - {_cell(skipped.get('reason'))}")
    return lines + [""]


def checklist(events):
    """The runbooks' post-mortem checklist and post-incident actions, ticked where this run did the item."""
    delivered = [e["notification"] for e in events if isinstance(e.get("notification"), dict)
                 and e["notification"].get("delivered")]
    status_page = [n for n in delivered if n.get("service") == "statuspage"]
    slack = [n for n in delivered if n.get("service") == "slack"]
    files = sum(len(e["manifest"].get("files") or []) for e in _with(events, "manifest"))
    tiers = [e["escalation"] for e in _with(events, "escalation") if e["escalation"].get("tier")]
    last_status = f" (last status set: {_cell(status_page[-1].get('summary'))})" if status_page else ""
    items = [
        (bool(events), "Incident timeline documented (the Timeline above; every step in timeline.jsonl)"),
        (bool(files), "Logs and metrics collected" + (f" ({_count(files, 'evidence file')})" if files else "")),
        (bool(status_page), "Status page updated" + last_status),
        (bool(slack), "Stakeholders notified (Slack)"),
    ]
    if tiers:
        items.append((True, f"Escalated by policy (tier {tiers[-1]['tier']}, {_cell(tiers[-1].get('name'))})"))
    items += [
        (False, "Root cause identified and documented in the incident ticket (start from the Diagnosis above)"),
        (False, "Impact assessment completed (start from the Impact window above)"),
        (False, "Customer communication sent"),
        (False, "Action items created to prevent recurrence (tickets)"),
        (False, "Monitoring and alerting improvements identified (thresholds)"),
        (False, "Runbook updates needed"),
        (False, "Post-mortem meeting scheduled (within 24 hours); blameless post-mortem held (within a week)"),
        (False, "Team debrief scheduled"),
    ]
    return [f"- [{'x' if done else ' '}] {text}" for done, text in items] + [""]


def _summary_lines(meta, events, diag, window):
    lines = [(diag or {}).get("summary") or "No diagnosis.", "", f"- Outcome: {outcome(meta, events)}"]
    if window["start"] and window["end"]:
        proven = "" if window["recovered"] else ", recovery not proven"
        lines.append(f"- Impact window: {_when(window['start'])} to {_when(window['end'])} "
                     f"({_minutes(window['start'], window['end'])}{proven})")
    stated = _with(events, "escalation")
    if stated:
        last = stated[-1]["escalation"]
        lines.append(f"- Escalation: {_cell(last.get('summary') or 'tier ' + str(last.get('tier')))}")
    told = _with(events, "notification")
    sent = [e["notification"] for e in told if not e.get("check_mode")]
    if len(sent) < len(told):  # a dry run sends nothing: it is not a delivery failure
        lines.append(f"- Messages: {len(told) - len(sent)} would be sent (dry run: nothing sent)")
    if sent:
        lost = sum(1 for n in sent if not n.get("delivered"))
        lines.append(f"- Messages: {len(sent)} sent{f', {lost} NOT delivered' if lost else ', all delivered'}")
    files = sum(len(e["manifest"].get("files") or []) for e in _with(events, "manifest"))
    if files:
        lines.append(f"- Evidence: {_count(files, 'file')}")
    return lines + [""]


def render_report(meta, events):
    check_mode = bool(meta.get("check_mode"))
    diag = diagnosis_of(events)
    window = impact_window(meta, events)
    failures = [e for e in events if e["result"] in ("failed", "unreachable") and not _remediation(e)]
    alert_names = ", ".join(_alert_name(a) for a in alerts_of(meta.get("alert")))
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
    ]
    if alert_names:
        lines.append(f"| Alert | {_cell(alert_names)} |")
    lines += [f"| Outcome | **{outcome(meta, events)}** |", ""]
    lines += ["## Summary", ""] + _summary_lines(meta, events, diag, window)
    if alert_names:
        lines += ["## Alert that started this run", ""] + _alert_section(meta)
    lines += ["## Impact window", ""] + _impact_section(meta, window)
    lines += ["## Timeline", ""] + _timeline(events)
    lines += ["## Findings (triage)", ""]
    lines += _findings_table(findings_of(events))
    lines += ["## Diagnosis", ""] + _diagnosis_section(diag)
    lines += [f"## Actions{' (plan: nothing was changed)' if check_mode else ''}", ""]
    lines += _actions_section(events, check_mode)
    lines += ["## Verification", ""] + _verification_section(events) + _figures_section(events)
    lines += ["## Escalation", ""] + _escalation_section(events)
    lines += ["## Messages sent", ""] + _messages_section(events)
    lines += ["## Evidence", ""] + _evidence_section(meta, events)
    if failures:
        lines += ["## Steps that failed", ""]
        lines += [f"- {_cell(e['step'])} on {e['host']}: {_cell(e.get('msg', ''))}" for e in failures]
        lines.append("")
    lines += ["## Post-mortem checklist", ""] + checklist(events)
    return "\n".join(lines)
