import pytest

from ansible_collections.sre.runbooks.plugins.plugin_utils.report import outcome, render_report


def event(phase, result="ok", **extra):
    base = {"ts": "2026-01-01T00:00:00.000+00:00", "elapsed_s": 1.0, "phase": phase, "step": phase + " step",
            "host": "localhost", "result": result, "action": extra.pop("action", "x")}
    base.update(extra)
    return base


def test_outcome_plan_only_in_check_mode():
    assert outcome({"check_mode": True}, []).startswith("PLAN ONLY")


def test_outcome_recovered_lists_what_is_still_open():
    events = [event("verify", status="degraded", findings=[{"id": "redis.node_unreachable", "severity": "warning",
                                                           "summary": "old primary down"}]),
              event("verify", action="ansible.builtin.assert")]
    assert outcome({"mode": "auto"}, events) == "RECOVERED (still open: old primary down)"


def test_outcome_names_the_steps_left_for_approval_while_something_is_still_open():
    events = [event("diagnose", scenarios=[{"steps": [{"id": "asg.raise_max", "decision": "needs_approval"},
                                                      {"id": "asg.scale_out", "decision": "run"}]}]),
              event("triage", findings=[{"id": "asg.at_max", "severity": "warning", "summary": "at max"}]),
              event("verify", action="ansible.builtin.assert")]
    assert outcome({"mode": "auto"}, events) == "RECOVERED (still open: at max; steps not approved: asg.raise_max)"


def test_outcome_not_recovered_when_proof_fails():
    events = [event("verify", result="failed", action="ansible.builtin.assert", msg="Recovery NOT proven: x")]
    assert outcome({"mode": "auto"}, events).startswith("NOT RECOVERED")


def test_report_sections():
    events = [
        event("triage", findings=[{"id": "redis.primary_unreachable", "severity": "critical", "summary": "gone"}]),
        event("diagnose", summary="Diagnosis: Redis", scenarios=[{"title": "Redis down", "runbook": "P0-3",
              "matched": [{"id": "redis.primary_unreachable", "summary": "gone"}],
              "steps": [{"id": "redis.promote_replica", "risk": "high", "decision": "run"}]}]),
        event("remediate_redis", result="changed", actions=["REPLICAOF NO ONE on h:1"], before={"h:1": "replica"},
              after={"h:1": "master"}),
        event("verify", status="ok", endpoints=[{"name": "api", "url": "u", "status_code": 200, "latency_ms": 3}]),
        event("verify", action="assert"),
    ]
    text = render_report({"id": "INC-1", "mode": "auto"}, events)
    for needle in ("# Incident INC-1", "`redis.primary_unreachable`", "### Redis down", "**run**",
                   "Did: `REPLICAOF NO ONE on h:1`", "api u: 200", "**RECOVERED"):
        assert needle in text


def test_a_dry_run_says_what_the_state_would_be():
    events = [event("remediate_redis", result="changed", actions=["REPLICAOF NO ONE on h:1"], check_mode=True,
                    before={"h:1": "replica"}, after={"h:1": "master"})]
    text = render_report({"id": "INC-2", "mode": "approve"}, events)
    assert "Would do: `REPLICAOF NO ONE on h:1`" in text
    assert "after (would be): `{'h:1': 'master'}`" in text


def test_a_step_that_found_its_change_made_says_so_and_a_skipped_one_is_not_listed():
    events = [event("remediate_llm", actions=[], before={"LLM_PROVIDER": "anthropic"},
                    after={"LLM_PROVIDER": "anthropic"}, msg="LLM_PROVIDER is already anthropic"),
              event("remediate_llm", result="skipped", step="cache-only step")]
    text = render_report({"id": "INC-3", "mode": "auto"}, events)
    assert "nothing to change - LLM_PROVIDER is already anthropic" in text
    assert "No remediation step ran." not in text and "cache-only step" not in text


# The post-mortem draft ---------------------------------------------------------------------------------------------

START = "2026-01-01T10:00:00Z"
META = {"id": "INC-7", "mode": "auto", "started_at": START, "ended_at": "2026-01-01T10:40:00+00:00"}


def at(minute, phase, result="ok", **extra):
    return event(phase, result, ts=f"2026-01-01T10:{minute:02d}:00.000+00:00", **extra)


def slack(minute, action, delivered=True, **extra):
    note = {"service": "slack", "action": action, "delivered": delivered, "attempts": 1 if delivered else 3,
            "summary": extra.pop("summary", "P0 INCIDENT - System Outage"), "ref": "1767261600.000100"}
    if not delivered:
        note.update(ref="", error=extra.pop("error", "Slack answered 503 after 3 attempts"))
    return at(minute, "communicate", step=f"Slack {action}", notification=note, **extra)


def statuspage(minute, action, status, delivered=True):
    return at(minute, "communicate", step=f"Status page {action}", notification={
        "service": "statuspage", "action": action, "delivered": delivered, "attempts": 1, "summary": status,
        "ref": "p0abc123"})


def escalated(minute, tier, name, crossed, next_tier=None):
    return at(minute, "communicate", step="State the escalation tier", escalation={
        "policy": "system-down-ec2-rds", "tier": tier, "name": name, "elapsed_minutes": float(minute),
        "contacts": [{"name": name, "slack": "@vp-engineering"}] if tier else [], "channels": ["#pynomaly-incidents"],
        "crossed": crossed, "newly_crossed": [{"tier": t, "name": name} for t in crossed[-1:]],
        "next": next_tier, "next_update_at": f"2026-01-01T10:{minute + 15:02d}:00+00:00",
        "summary": f"system-down-ec2-rds: tier {tier} ({name}) since minute {minute}"})


def drill():
    return [
        at(0, "declare", step="Declare the incident"),
        slack(0, "post"),
        statuspage(0, "create", "investigating"),
        at(1, "triage", step="Check redis", status="down",
           findings=[{"id": "redis.primary_unreachable", "severity": "critical", "summary": "redis primary gone"}]),
        at(1, "triage", step="Check postgres", status="ok", findings=[]),
        at(2, "diagnose", summary="Diagnosis: Redis failure", scenarios=[
            {"title": "Redis down", "matched": [{"id": "redis.primary_unreachable", "summary": "redis primary gone"}],
             "steps": [{"id": "redis.promote_replica", "risk": "high", "decision": "run"}]}]),
        at(3, "remediate_redis", "changed", step="Promote the replica", actions=["REPLICAOF NO ONE on h:2"],
           before={"h:2": "replica"}, after={"h:2": "master"}),
        at(5, "verify", step="Probe the API", status="ok", probe={
            "name": "api", "url": "http://127.0.0.1:8000/health", "requests": 10, "errors": 0, "error_rate": 0.0,
            "p50_ms": 3.1, "p95_ms": 4.8, "max_ms": 5.0, "thresholds": {"max_error_rate": 0.0, "max_p95_ms": 1000.0},
            "passed": True}, journeys=[{"name": "login", "passed": True, "steps": []}]),
        at(6, "verify", step="Prometheus error rate", status="ok", queries=[
            {"name": "5xx rate", "expr": 'sum(rate(http_requests_total{code=~"5.."}[5m]))', "value": 0.0,
             "threshold": 0.05, "op": "<=", "passed": True}]),
        at(6, "verify", step="Alertmanager all clear", status="ok", alerts=[], firing=0),
        at(7, "verify", step="Recovery is proven", action="ansible.builtin.assert"),
        at(8, "collect_evidence", step="Collect evidence", evidence_dir="/srv/incidents/INC-7/evidence", manifest={
            "files": [{"path": "hosts/app-1/journal.log", "bytes": 2048, "sha256": "ab" * 32, "source": "journal",
                       "truncated": False},
                      {"path": "prometheus/up.json", "bytes": 512, "sha256": "cd" * 32, "source": "prometheus",
                       "truncated": True}],
            "total_bytes": 2560, "max_bytes": 10485760, "skipped": [{"source": "alb_logs", "reason": "no bucket"}]}),
        escalated(31, 2, "VP Engineering", [1, 2], {"tier": 3, "name": "CTO", "at_minutes": 45}),
        slack(32, "update", summary="RESOLVED - System restored"),
        statuspage(32, "resolve", "resolved"),
    ]


def section(text, title):
    body = text.split(f"## {title}\n", 1)[1]
    return body.split("\n## ", 1)[0]


def test_the_post_mortem_draft_has_every_section_in_order():
    text = render_report(dict(META, folder="/srv/incidents/INC-7"), drill())
    titles = [line[3:] for line in text.splitlines() if line.startswith("## ")]
    assert titles == ["Summary", "Impact window", "Timeline", "Findings (triage)", "Diagnosis", "Actions",
                      "Verification", "Escalation", "Messages sent", "Evidence", "Post-mortem checklist"]


def test_the_impact_window_runs_from_the_start_to_the_proof_of_recovery():
    window = section(render_report(META, drill()), "Impact window")
    assert "- Impact start: 2026-01-01 10:00:00 UTC (the incident was declared)" in window
    assert ("- First failing finding: 2026-01-01 10:01:00 UTC - `redis.primary_unreachable`: "
            "redis primary gone") in window
    assert "- Recovery proven: 2026-01-01 10:07:00 UTC (7.0 min after the impact start)" in window
    assert "- Window: 2026-01-01 10:00:00 UTC to 2026-01-01 10:07:00 UTC, 7.0 min" in window


def test_without_proof_the_window_runs_to_the_end_of_the_run_and_says_so():
    events = [e for e in drill() if e["step"] != "Recovery is proven"]
    events.append(at(7, "verify", "failed", step="Recovery is proven", action="ansible.builtin.assert",
                     msg="Recovery NOT proven: api answered 503"))
    text = render_report(META, events)
    window = section(text, "Impact window")
    assert "- Recovery: NOT proven; the run ended 2026-01-01 10:40:00 UTC" in window
    assert "40.0 min so far" in window
    assert "recovery not proven" in section(text, "Summary")


def test_an_alert_that_started_the_run_is_shown_and_starts_the_impact_window():
    alert = {"alerts": [{"status": "firing", "startsAt": "2026-01-01T09:55:00Z",
                         "labels": {"alertname": "ApiDown", "job": "pynomaly", "severity": "critical"},
                         "annotations": {"summary": "api has answered 5xx for 5 minutes"}}]}
    text = render_report(dict(META, alert=alert), drill())
    assert "| Alert | ApiDown |" in text
    shown = section(text, "Alert that started this run")
    assert "- **ApiDown** (firing) since 2026-01-01T09:55:00Z: api has answered 5xx for 5 minutes" in shown
    assert "`job=pynomaly`" in shown and "alertname=" not in shown
    window = section(text, "Impact window")
    assert "- Impact start: 2026-01-01 09:55:00 UTC (the alert started firing; the incident was declared " \
           "2026-01-01 10:00:00 UTC)" in window
    assert "12.0 min after the impact start" in window


def test_the_timeline_keeps_key_events_and_counts_the_routine_ones():
    events = drill() + [at(33, "report", step="Write a note"), at(33, "report", step="Another routine step")]
    timeline = section(render_report(META, events), "Timeline")
    assert "| 10:03:00 | 1.0 | remediate_redis | Promote the replica | changed | 1 action: REPLICAOF NO ONE on h:2 |" \
        in timeline
    assert "Slack post: delivered" in timeline and "escalation tier 2 (VP Engineering)" in timeline
    assert "Check redis" in timeline and "Check postgres" not in timeline
    assert "Another routine step" not in timeline and "Write a note" in timeline  # the first step of a phase
    assert "2 routine task results not shown; timeline.jsonl has every one." in timeline


def test_the_timeline_leaves_out_argument_checks_and_loop_summaries_but_not_their_failures():
    events = [at(0, "declare", step="Validating arguments", action="ansible.builtin.validate_argument_spec"),
              at(0, "declare", step="Declare the incident"),
              at(1, "communicate", "changed", step="Tell tier 1 (tier 1)", action="sre.runbooks.slack_notify"),
              at(1, "communicate", "changed", step="Tell tier 1", action="sre.runbooks.slack_notify", items=1),
              at(2, "verify", "failed", step="Validating verify arguments",
                 action="ansible.builtin.validate_argument_spec")]
    timeline = section(render_report(META, events), "Timeline")
    assert "Validating arguments |" not in timeline and "| Declare the incident |" in timeline
    assert "| Tell tier 1 (tier 1) |" in timeline and "| Tell tier 1 |" not in timeline
    assert "| Validating verify arguments | failed |" in timeline


def test_verification_figures_show_probe_queries_and_alerts_against_thresholds():
    figures = section(render_report(META, drill()), "Verification")
    assert ("| api http://127.0.0.1:8000/health | 10 | 0 | 0.0% | 3.1 | 4.8 | 5.0 "
            "| max_error_rate 0.0, max_p95_ms 1000.0 | passed |") in figures
    assert "- journey **login**: passed" in figures
    assert '| 5xx rate | `sum(rate(http_requests_total{code=~"5.."}[5m]))` | 0 | <= 0.05 | passed |' in figures
    assert "- Alertmanager: no alert firing (all clear)" in figures


def test_a_failed_verification_is_plain():
    probe = {"name": "api", "url": "http://a/health", "requests": 10, "errors": 10, "error_rate": 1.0,
             "p50_ms": None, "p95_ms": None, "max_ms": None, "thresholds": {"max_error_rate": 0.0},
             "failed_checks": ["error_rate"], "passed": False}
    failed_step = {"name": "health", "method": "GET", "path": "/health", "status": 503, "expected": [200],
                   "error": "answered 503 (expected 200)"}
    query = {"name": "5xx rate", "expr": "sum(rate(x[5m]))", "value": 0.4213, "threshold": 0.05, "op": "<=",
             "passed": False}
    events = [at(5, "verify", step="Probe the API", status="down", probe=probe,
                 journeys=[{"name": "detections", "passed": False, "steps": [], "failed_step": failed_step}]),
              at(6, "verify", step="Prometheus", status="degraded", queries=[query]),
              at(6, "verify", step="Alertmanager", status="degraded", firing=2,
                 alerts=[{"name": "ApiDown", "state": "firing"}, {"name": "High5xx", "state": "firing"}])]
    figures = section(render_report(META, events), "Verification")
    assert "| 100.0% |" in figures and "| **FAILED** (error_rate) |" in figures
    assert "- journey **detections**: **FAILED**" in figures
    assert "  - at step health: GET /health answered 503 (expected [200]) - answered 503 (expected 200)" in figures
    assert "| 0.4213 | <= 0.05 | **FAILED** |" in figures
    assert "- Alertmanager: **2 alerts firing**: ApiDown, High5xx" in figures


def test_escalation_tiers_reached_and_the_next_one():
    events = [escalated(16, 1, "Engineering Lead", [1], {"tier": 2, "name": "VP Engineering", "at_minutes": 30}),
              escalated(31, 2, "VP Engineering", [1, 2],
                        {"tier": 3, "name": "CTO", "at_minutes": 45, "at": "2026-01-01T10:45:00+00:00"})]
    text = render_report(META, events)
    shown = section(text, "Escalation")
    assert "- Policy: system-down-ec2-rds" in shown
    assert "- Tiers reached: 1 (Engineering Lead), 2 (VP Engineering)" in shown
    assert "- Highest: tier 2 (VP Engineering) at minute 31 - VP Engineering @vp-engineering in #pynomaly-incidents" \
        in shown
    assert "- Next: tier 3 (CTO) at minute 45 (2026-01-01 10:45:00 UTC)" in shown
    assert "- Next update message due: 2026-01-01 10:46:00 UTC" in shown
    assert "- [x] Escalated by policy (tier 2, VP Engineering)" in section(text, "Post-mortem checklist")


def test_no_escalation_says_why():
    assert "No escalation tier was stated" in section(render_report(META, []), "Escalation")


def test_messages_sent_state_an_undelivered_one_plainly():
    events = [slack(0, "post", delivered=False), statuspage(0, "create", "investigating")]
    text = render_report(META, events)
    shown = section(text, "Messages sent")
    assert "| 10:00:00 | Slack | post | **NO** | - | P0 INCIDENT - System Outage |" in shown
    assert "| 10:00:00 | Status page | create | yes | p0abc123 | investigating |" in shown
    assert "- Slack post at 10:00:00 UTC was NOT delivered after 3 attempts: Slack answered 503 after 3 attempts" \
        in shown
    assert "- Messages: 2 sent, 1 NOT delivered" in section(text, "Summary")
    checklist = section(text, "Post-mortem checklist")
    assert "- [ ] Stakeholders notified (Slack)" in checklist
    assert "- [x] Status page updated (last status set: investigating)" in checklist


def test_evidence_links_its_manifest_beside_the_report():
    shown = section(render_report(dict(META, folder="/srv/incidents/INC-7"), drill()), "Evidence")
    assert ("- 2 files, 2.5 KiB (limit 10.0 MiB) in `/srv/incidents/INC-7/evidence` - "
            "[manifest.json](evidence/manifest.json) lists each with its SHA-256") in shown
    assert "  - `prometheus/up.json` (512 bytes, truncated) from prometheus" in shown
    assert "  - not collected: alb_logs - no bucket" in shown
    assert "No evidence was collected in this run." in render_report(META, [])


def test_the_checklist_ticks_what_the_run_did_and_leaves_the_rest_to_people():
    checklist = section(render_report(META, drill()), "Post-mortem checklist")
    for done in ("Incident timeline documented", "Logs and metrics collected (2 evidence files)",
                 "Status page updated (last status set: resolved)", "Stakeholders notified (Slack)"):
        assert f"- [x] {done}" in checklist
    for todo in ("Root cause identified", "Impact assessment completed", "Customer communication sent",
                 "Action items created", "Monitoring and alerting improvements", "Runbook updates needed",
                 "Team debrief scheduled"):
        assert f"- [ ] {todo}" in checklist
    nothing = section(render_report(META, [at(0, "declare")]), "Post-mortem checklist")
    assert "- [ ] Logs and metrics collected\n" in nothing and "- [ ] Status page updated\n" in nothing


def test_the_summary_says_outcome_window_escalation_messages_and_evidence():
    summary = section(render_report(META, drill()), "Summary")
    assert summary.startswith("\nDiagnosis: Redis failure\n")
    for line in ("- Outcome: RECOVERED: every verification check is healthy",
                 "- Impact window: 2026-01-01 10:00:00 UTC to 2026-01-01 10:07:00 UTC (7.0 min)",
                 "- Escalation: system-down-ec2-rds: tier 2 (VP Engineering) since minute 31",
                 "- Messages: 4 sent, all delivered", "- Evidence: 2 files"):
        assert line in summary


@pytest.mark.parametrize("delegated", [True, False], ids=["delegated to the server", "a play on the servers"])
def test_a_finding_of_a_step_on_a_server_names_the_server_and_two_servers_stay_two(delegated):
    """Delegated from the control node, or run in a play on the servers themselves: the control node is the host
    of the declare steps, and a finding of any other host names it."""
    from ansible_collections.sre.runbooks.plugins.plugin_utils.report import findings_of
    full = {"id": "host.disk_full", "severity": "critical", "summary": "/var/log is 100.0% full", "evidence": {}}
    events = [{"phase": "declare", "host": "localhost", "delegated": False}]
    events += [{"phase": "triage", "host": name, "delegated": delegated, "findings": [full]}
               for name in ("app-1", "app-2")]
    events.append({"phase": "triage", "host": "localhost", "delegated": False,
                   "findings": [{"id": "http.endpoint_down", "summary": "api is down", "evidence": {}}]})
    assert [(f["summary"], f["evidence"].get("host")) for f in findings_of(events)] == [
        ("app-1: /var/log is 100.0% full", "app-1"), ("app-2: /var/log is 100.0% full", "app-2"),
        ("api is down", None)]


def test_a_dry_run_says_its_messages_would_be_sent_not_that_they_were_lost():
    from ansible_collections.sre.runbooks.plugins.plugin_utils.report import _summary_lines
    told = [{"phase": "communicate", "check_mode": True, "notification": {"delivered": False}}] * 2
    lines = _summary_lines({}, told, {}, {"start": None, "end": None})
    assert "- Messages: 2 would be sent (dry run: nothing sent)" in lines
    assert not [line for line in lines if "NOT delivered" in line]
