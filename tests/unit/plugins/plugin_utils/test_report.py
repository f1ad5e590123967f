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
