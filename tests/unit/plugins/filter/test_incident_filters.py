from ansible_collections.sre.runbooks.plugins.filter.incident import all_findings, notification_line, step, triage_lines


def test_findings_and_lines_of_checks_by_name():
    failed = {"id": "triage.check_failed", "severity": "warning", "summary": "The redis check did not report: hung"}
    checks = {"redis": {"status": "unknown", "findings": [failed]}, "http": {"status": "ok", "findings": []}}
    assert [f["id"] for f in all_findings(checks)] == ["triage.check_failed"]
    assert triage_lines(checks) == ["http: OK", "redis: UNKNOWN: The redis check did not report: hung"]


def test_step_lookup():
    diagnosis = {"steps": [{"id": "redis.promote_replica", "decision": "run"}]}
    assert step(diagnosis, "redis.promote_replica")["decision"] == "run"
    assert step(diagnosis, "other") == {}


def test_recovery_needs_healthy_endpoints_and_nothing_down():
    from ansible_collections.sre.runbooks.plugins.filter.incident import recovery

    degraded_redis = {"status": "degraded", "findings": [{"severity": "warning", "summary": "old primary down"}]}
    assert recovery({"http": {"status": "ok", "findings": []}, "redis": degraded_redis}) == {
        "recovered": True, "problems": ["old primary down"], "statuses": {"http": "ok", "redis": "degraded"},
        "mitigated": {}}
    assert recovery({"http": {"status": "ok"}, "postgres": {"status": "down"}})["recovered"] is False
    assert recovery({"http": {"status": "degraded"}})["recovered"] is False
    assert recovery({"http": {"skipped": True}, "redis": {"status": "ok"}})["recovered"] is True


def test_recovery_around_a_mitigated_dependency_is_said_so():
    from ansible_collections.sre.runbooks.plugins.filter.incident import recovery

    checks = {"http": {"status": "ok"}, "redis": {"status": "down", "findings": [{"severity": "critical",
                                                                                  "summary": "no primary"}]}}
    assert recovery(checks)["recovered"] is False
    result = recovery(checks, {"redis": "REDIS_ENABLED=false"})
    assert result["recovered"] is True and result["problems"] == []
    assert result["mitigated"] == {"redis": "REDIS_ENABLED=false"} and "redis" not in result["statuses"]


def test_scenario_workloads_reads_the_evidence_of_matched_and_explained_findings():
    from ansible_collections.sre.runbooks.plugins.filter.incident import scenario_workloads

    def about(fid, name, kind):
        return {"id": fid, "evidence": {"workload": name, "kind": kind}}

    diagnosis = {"scenarios": [
        {"id": "k8s-pods-failing", "matched": [about("k8s.pods_crashlooping", "backend", "Deployment")],
         "explained": [about("k8s.replicas_unavailable", "backend", "Deployment"),
                       about("k8s.replicas_unavailable", "qdrant", "StatefulSet"),
                       {"id": "http.endpoint_error", "evidence": {"name": "api"}}]},
        {"id": "other", "matched": [about("k8s.pods_crashlooping", "frontend", "Deployment")]}]}
    assert scenario_workloads(diagnosis, "k8s-pods-failing") == [
        {"name": "backend", "kind": "Deployment"}, {"name": "qdrant", "kind": "StatefulSet"}]
    assert scenario_workloads(diagnosis, "k8s-pods-failing", ["Deployment"]) == [
        {"name": "backend", "kind": "Deployment"}]
    assert scenario_workloads(diagnosis, "absent") == []


def test_scenario_workloads_of_matched_findings_only():
    from ansible_collections.sre.runbooks.plugins.filter.incident import scenario_workloads
    diagnosis = {"scenarios": [{"id": "k8s-bad-rollout",
                                "matched": [{"id": "k8s.rollout_failing",
                                             "evidence": {"workload": "backend", "kind": "Deployment"}}],
                                "explained": [{"id": "k8s.pods_crashlooping",
                                               "evidence": {"workload": "frontend", "kind": "Deployment"}}]}]}
    assert scenario_workloads(diagnosis, "k8s-bad-rollout", None, False) == [{"name": "backend", "kind": "Deployment"}]


def test_scenario_evidence_flattens_and_filters_by_finding():
    from ansible_collections.sre.runbooks.plugins.filter.incident import scenario_evidence
    diagnosis = {"scenarios": [{"id": "qdrant-down", "matched": [
        {"id": "qdrant.unreachable", "evidence": {"url": "http://q"}},
        {"id": "k8s.pods_crashlooping", "evidence": {"workload": "qdrant", "pods": ["qdrant-0", "qdrant-1"]}}],
        "explained": [{"id": "k8s.no_ready_replicas", "evidence": {"workload": "qdrant", "pods": ["qdrant-1"]}}]}]}
    assert scenario_evidence(diagnosis, "qdrant-down", "pods") == ["qdrant-0", "qdrant-1"]
    assert scenario_evidence(diagnosis, "qdrant-down", "pods", "k8s.no_ready_replicas") == ["qdrant-1"]
    assert scenario_evidence(diagnosis, "qdrant-down", "url") == ["http://q"]
    assert scenario_evidence(diagnosis, "other", "pods") == []


def test_scenario_findings_by_id():
    from ansible_collections.sre.runbooks.plugins.filter.incident import scenario_findings
    failing = {"id": "k8s.rollout_failing", "evidence": {"workload": "backend", "previous_revision": 2}}
    diagnosis = {"scenarios": [{"id": "k8s-bad-rollout", "matched": [failing],
                                "explained": [{"id": "k8s.pods_crashlooping", "evidence": {}}]}]}
    assert scenario_findings(diagnosis, "k8s-bad-rollout", "k8s.rollout_failing") == [failing]
    assert len(scenario_findings(diagnosis, "k8s-bad-rollout")) == 2
    assert scenario_findings(diagnosis, "k8s-bad-rollout", None, False) == [failing]


def test_actions_taken_only_from_real_changes():
    from ansible_collections.sre.runbooks.plugins.filter.incident import actions_taken
    done = {"changed": True, "check_mode": False, "actions": ["restart backend"]}
    shown = {"changed": True, "check_mode": True, "actions": ["restart frontend"]}
    skipped = {"changed": False, "skipped": True}
    unconfirmed = {"changed": True, "check_mode": False, "failed": True, "actions": ["undo"]}
    looped = {"results": [done, shown, unconfirmed]}
    assert actions_taken([looped, {"changed": True, "check_mode": False, "actions": ["scale"]}, skipped, None]) == [
        "restart backend", "undo", "scale"]


def test_notification_lines_say_delivered_refused_or_dry_run():
    posted = {"service": "slack", "action": "post", "delivered": True, "ref": "1.2"}
    refused = {"service": "statuspage", "action": "create", "delivered": False, "error": "Statuspage answered 503"}
    dry = {"service": "slack", "action": "post", "delivered": False}
    assert notification_line(posted) == "Slack - post 1.2 - delivered"
    assert notification_line(refused) == "Status page - create - NOT delivered - Statuspage answered 503"
    assert notification_line(dry, True) == "Slack - would post (dry run: nothing sent)"
    assert notification_line(refused, True).endswith("NOT delivered - Statuspage answered 503")
