"""The shipped diagnosis rules (roles/diagnose/defaults/main.yml) pick the right runbook scenario."""

from pathlib import Path

import jinja2
import pytest
import yaml

from ansible_collections.sre.runbooks.plugins.module_utils.diagnosis import diagnose

DEFAULTS = yaml.safe_load((Path(__file__).resolve().parents[3] / "roles/diagnose/defaults/main.yml").read_text())


def rendered(value):
    """The rules as the role hands them over: their templates ({{ k8s_qdrant_statefulset }}) filled in."""
    if isinstance(value, dict):
        return {key: rendered(item) for key, item in value.items()}
    if isinstance(value, list):
        return [rendered(item) for item in value]
    if isinstance(value, str) and "{{" in value:
        return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(value).render(DEFAULTS)
    return value


RULES = rendered(DEFAULTS["diagnosis_rules"])


def findings(*ids):
    """Findings by id; `id@key=value` gives the finding that evidence."""
    made = []
    for spec in ids:
        fid, about = (spec.split("@", 1) + [""])[:2]
        evidence = dict(pair.split("=", 1) for pair in about.split(",")) if about else {}
        evidence = {key: {"true": True, "false": False}.get(value, value) for key, value in evidence.items()}
        made.append({"id": fid, "severity": "critical", "summary": fid, "evidence": evidence})
    return made


@pytest.mark.parametrize("found, scenarios", [
    (["redis.primary_unreachable", "redis.node_unreachable", "redis.replica_link_down", "http.endpoint_error"],
     ["redis-failure"]),
    (["postgres.lock_pileup", "postgres.connections_near_limit", "http.endpoint_error"], ["db-lock-pileup"]),
    (["postgres.idle_in_transaction_leak", "postgres.connections_near_limit", "http.endpoint_error"],
     ["db-connections"]),
    (["postgres.unreachable", "rds.member_failing", "http.endpoint_error"], ["db-writer-failed"]),
    (["postgres.unreachable", "http.endpoint_error"], ["db-unavailable"]),
    (["rds.reader_lagging"], ["rds-degraded"]),
    (["http.endpoint_down"], ["app-down"]),
    (["http.endpoint_error"], ["app-errors"]),
    (["k8s.rollout_failing@workload=backend", "k8s.pods_crashlooping@workload=backend",
      "k8s.no_ready_replicas@workload=backend", "k8s.log_pattern_found@pattern=startup_error",
      "http.endpoint_error"], ["k8s-bad-rollout"]),
    (["k8s.pods_crashlooping@workload=backend", "k8s.no_ready_replicas@workload=backend", "http.endpoint_error"],
     ["k8s-pods-failing"]),
    (["k8s.node_not_ready@node=node-2", "k8s.replicas_unavailable@workload=backend"], ["k8s-node-not-ready"]),
    (["k8s.hpa_at_max@workload=backend", "http.endpoint_slow"], ["k8s-capacity"]),
    (["qdrant.unreachable", "k8s.pods_crashlooping@workload=qdrant", "k8s.no_ready_replicas@workload=qdrant",
      "k8s.log_pattern_found@pattern=qdrant_connection_error", "http.endpoint_error"], ["qdrant-down"]),
    (["qdrant.collection_missing@collection=documents", "http.endpoint_error"], ["qdrant-data-lost"]),
    (["k8s.pods_crashlooping@workload=redis", "k8s.replicas_unavailable@workload=redis",
      "k8s.log_pattern_found@pattern=redis_connection_failed"], ["redis-k8s-pods"]),
    (["llm.provider_outage@primary=true,provider=openai", "k8s.log_pattern_found@pattern=openai_api_error",
      "http.endpoint_error"], ["llm-provider-outage"]),
    (["llm.key_invalid@primary=true,provider=openai", "http.endpoint_error"], ["llm-key-invalid"]),
    (["k8s.api_unreachable"], ["k8s-unreachable"]),
    (["elb.no_healthy_targets", "elb.targets_unhealthy", "elb.instance_not_registered", "ec2.instance_stopped",
      "http.endpoint_error"], ["lb-no-healthy-targets"]),
    (["elb.instance_not_registered"], ["lb-targets-degraded"]),
    (["ec2.status_check_failed"], ["instance-failure"]),
    (["asg.capacity_below_desired", "http.endpoint_slow"], ["asg-capacity"]),
    (["asg.at_max", "asg.capacity_below_desired", "elb_logs.latency_high"], ["asg-at-max"]),
    (["network.path_blocked", "network.path_partly_blocked", "elb.no_healthy_targets"], ["network-path-blocked"]),
    (["network.connect_failed"], ["network-unreachable"]),
    (["route53.health_check_failing@set_identifier=primary", "route53.no_healthy_weighted_record"],
     ["region-primary-down"]),
    (["aws_health.open_event"], ["aws-event"]),
    (["elb.api_unreachable", "ec2.api_unreachable", "asg.api_unreachable", "route53.api_unreachable",
      "rds.api_unreachable"], ["aws-unreachable"]),
    ([], []),
])
def test_each_outage_is_one_scenario(found, scenarios):
    matched, unexplained = diagnose(findings(*found), RULES, mode="auto")
    assert [s["id"] for s in matched] == scenarios
    assert unexplained == []


def test_auto_mode_runs_guarded_steps_and_waits_for_a_failover_approval():
    decisions = {}
    for ids in (["redis.primary_unreachable"], ["postgres.lock_pileup"], ["postgres.unreachable", "rds.no_writer"]):
        for scenario in diagnose(findings(*ids), RULES, mode="auto")[0]:
            decisions.update({s["id"]: s["decision"] for s in scenario["steps"]})
    assert decisions["redis.promote_replica"] == "run"
    assert decisions["postgres.end_blocking_sessions"] == "run"
    assert decisions["rds.failover"] == "needs_approval"
    assert decisions["app.restart"] == "manual"


def test_a_failing_secondary_alone_is_no_region_failover():
    matched, unexplained = diagnose(findings("route53.health_check_failing@set_identifier=secondary"), RULES)
    assert matched == [] and len(unexplained) == 1


def test_aws_steps_low_risk_run_in_auto_mode_region_and_max_wait_for_approval():
    decisions = {}
    for ids in (["elb.no_healthy_targets"], ["asg.capacity_below_desired"], ["asg.at_max"],
                ["route53.health_check_failing@set_identifier=primary"], ["network.path_blocked"]):
        for scenario in diagnose(findings(*ids), RULES, mode="auto")[0]:
            decisions.update({s["id"]: s["decision"] for s in scenario["steps"]})
    assert decisions == {"ec2.recover_instances": "run", "elb.register_targets": "run", "asg.scale_out": "run",
                         "asg.raise_max": "needs_approval", "route53.failover": "needs_approval",
                         "network.fix_rule": "manual"}


def test_crashlooping_qdrant_and_backend_are_two_scenarios():
    found = findings("qdrant.unreachable", "k8s.pods_crashlooping@workload=qdrant",
                     "k8s.pods_crashlooping@workload=backend")
    assert [s["id"] for s in diagnose(found, RULES)[0]] == ["qdrant-down", "k8s-pods-failing"]


def test_an_outage_of_the_fallback_provider_alone_is_not_the_primary_outage_scenario():
    matched, unexplained = diagnose(findings("llm.provider_outage@primary=false,provider=anthropic"), RULES)
    assert matched == [] and len(unexplained) == 1


def test_every_rule_is_well_formed():
    ids = [rule["id"] for rule in RULES]
    assert len(ids) == len(set(ids))
    for rule in RULES:
        assert rule.get("match_all") or rule.get("match_any"), rule["id"]
        assert rule.get("runbook"), rule["id"]
        for step in rule["steps"]:
            assert step.get("description"), step["id"]


# The application servers (Scenario 1 and 3): host findings carry evidence.host.
@pytest.mark.parametrize("found, scenarios", [
    (["log.oom_kill@host=app-1,before_current_run=false", "service.failed@host=app-1,result=oom-kill",
      "log.pattern_found@host=app-1", "http.endpoint_error"], ["app-oom"]),
    (["host.disk_full@host=app-1,mount=/var/log", "service.failed@host=app-1", "log.pattern_found@host=app-1",
      "http.endpoint_down"], ["disk-full"]),
    (["host.inodes_full@host=app-2,mount=/tmp"], ["disk-full"]),
    (["service.failed@host=app-1", "service.port_not_listening@host=app-2", "log.pattern_found@host=app-1",
      "http.endpoint_error"], ["app-crash"]),
    (["service.restart_loop@host=app-1"], ["app-crash"]),
    (["service.inactive@host=app-2", "http.endpoint_down"], ["app-crash"]),
])
def test_each_application_server_outage_is_one_scenario(found, scenarios):
    matched, unexplained = diagnose(findings(*found), RULES, mode="auto")
    assert [s["id"] for s in matched] == scenarios
    assert unexplained == []


def test_an_oom_kill_wins_over_a_plain_crash():
    found = findings("service.failed@host=app-1,result=oom-kill", "service.restart_loop@host=app-1",
                     "log.oom_kill@host=app-1,process=python3,before_current_run=false")
    matched, unexplained = diagnose(found, RULES, mode="auto")
    assert [s["id"] for s in matched] == ["app-oom"] and unexplained == []
    steps = [(s["id"], s["decision"]) for s in matched[0]["steps"]]
    assert steps == [("host.raise_limits", "run"), ("app.restart", "run")]


def test_a_full_disk_explains_the_crash_it_caused_and_cleans_before_restarting():
    matched, unexplained = diagnose(findings("host.disk_full@host=app-1", "service.failed@host=app-1"), RULES,
                                    mode="auto")
    assert [s["id"] for s in matched] == ["disk-full"] and unexplained == []
    assert [s["id"] for s in matched[0]["steps"]] == ["host.disk_cleanup", "app.restart"]


def test_host_steps_name_the_servers_their_findings_are_about():
    from ansible_collections.sre.runbooks.plugins.filter.hosts import only_scenarios, scenario_hosts

    found = findings("log.oom_kill@host=app-1,before_current_run=false", "service.failed@host=app-1",
                     "log.pattern_found@host=app-2", "host.disk_full@host=app-2,mount=/var/log")
    scenarios, unexplained = diagnose(found, RULES, mode="auto")
    steps = [step for scenario in scenarios for step in scenario["steps"]]
    diagnosis = {"scenarios": scenarios, "steps": steps}
    assert [s["id"] for s in scenarios] == ["app-oom", "disk-full"] and unexplained == []
    assert scenario_hosts(only_scenarios(diagnosis, ["app-oom"])) == ["app-1"]
    assert scenario_hosts(only_scenarios(diagnosis, ["disk-full"])) == ["app-2"]
    down = ["service.failed", "service.inactive", "service.restart_loop", "service.port_not_listening"]
    assert scenario_hosts(only_scenarios(diagnosis, ["app-oom", "disk-full", "app-crash"]), down) == ["app-1"]


def test_the_pool_reset_of_scenario_2_restarts_every_server_only_when_approved():
    scenarios = diagnose(findings("postgres.idle_in_transaction_leak"), RULES, mode="auto")[0]
    assert [(s["id"], s["risk"], s["decision"]) for s in scenarios[0]["steps"]] == [
        ("postgres.end_idle_in_transaction", "low", "run"), ("app.restart", "high", "needs_approval")]
    approved = diagnose(findings("postgres.idle_in_transaction_leak"), RULES, mode="approve",
                        approved=["app.restart"])[0]
    assert approved[0]["steps"][1]["decision"] == "run"


def test_an_oom_kill_of_an_earlier_run_is_a_record_not_an_oom_outage():
    found = findings("log.oom_kill@host=app-1,before_current_run=true", "http.endpoint_down@endpoint=api")
    assert "app-oom" not in [s["id"] for s in diagnose(found, RULES, mode="auto")[0]]
