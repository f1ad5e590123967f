"""The host-tier filters (plugins/filter/hosts.py): the `hosts` triage check, scenario narrowing, log lines."""

from ansible_collections.sre.runbooks.plugins.filter.hosts import (
    app_server_endpoint,
    host_checks,
    log_lines,
    only_scenarios,
    scenario_hosts,
    server_results,
)


def started(host, **extra):
    return dict({"item": host, "ansible_job_id": f"j-{host}", "started": 1, "finished": 0}, **extra)


def collected(host, result=None, **start):
    """An async_status loop item: the job's result, with the start result (which loops over hosts) as item."""
    return dict(result or {}, item=started(host, **start), finished=1, ansible_job_id=f"j-{host}", changed=False)


SERVICE_DOWN = {"status": "down", "service": {"unit": "pynomaly.service", "active_state": "failed"},
                "findings": [{"id": "service.failed", "severity": "critical", "summary": "pynomaly.service failed",
                              "evidence": {"unit": "pynomaly.service"}}]}
OK = {"status": "ok", "findings": []}


def test_host_findings_name_their_server_and_a_down_service_makes_the_check_down():
    check = host_checks({"service": [collected("app-1", SERVICE_DOWN), collected("app-2", OK)],
                         "resources": [collected("app-1", OK), collected("app-2", OK)],
                         "logs": [collected("app-1", OK), collected("app-2", OK)]})
    assert check["status"] == "down"
    assert [(f["id"], f["evidence"]) for f in check["findings"]] == [
        ("service.failed", {"unit": "pynomaly.service", "host": "app-1"})]
    assert check["findings"][0]["summary"] == "app-1: pynomaly.service failed"
    assert check["hosts"]["app-1"]["status"] == "down" and check["hosts"]["app-2"]["status"] == "ok"
    assert check["hosts"]["app-1"]["service"]["service"]["active_state"] == "failed"
    assert "ansible_job_id" not in check["hosts"]["app-1"]["service"] and "item" not in check["hosts"]["app-2"]["logs"]


def test_an_unreachable_server_is_one_finding_and_never_hides_the_others():
    unreachable = {"item": "app-2", "unreachable": True, "msg": "Connection timed out", "changed": False}
    skipped = {"item": unreachable, "skipped": True, "changed": False}
    check = host_checks({kind: [collected("app-1", OK), skipped] for kind in ("service", "resources", "logs")})
    assert [(f["id"], f["severity"], f["evidence"]) for f in check["findings"]] == [
        ("host.unreachable", "critical", {"host": "app-2"})]
    assert check["status"] == "down"
    assert check["hosts"]["app-1"]["status"] == "ok" and check["hosts"]["app-2"]["unreachable"] is True


def test_a_check_that_did_not_finish_or_failed_is_reported_not_raised():
    late = dict(collected("app-1"), finished=0)
    failed = dict(collected("app-1"), msg="Unsupported parameters for (log_scan_info) module: bogus")
    check = host_checks({"service": [collected("app-1", OK)], "resources": [late], "logs": [failed]}, 30)
    assert [(f["id"], f["evidence"]["module"]) for f in check["findings"]] == [
        ("triage.check_failed", "host_resources_info"), ("triage.check_failed", "log_scan_info")]
    assert "within 30 seconds" in check["findings"][0]["summary"] and "bogus" in check["findings"][1]["summary"]
    assert check["status"] == "unknown" and check["hosts"]["app-1"]["resources"] is None


def test_no_server_is_an_ok_check_without_findings():
    assert host_checks({"service": [], "resources": [], "logs": []}) == {"status": "ok", "findings": [], "hosts": {}}


DIAGNOSIS = {
    "scenarios": [
        {"id": "app-crash", "matched": [{"id": "service.failed", "evidence": {"host": "app-1"}}],
         "explained": [{"id": "log.pattern_found", "evidence": {"host": "app-2"}},
                       {"id": "service.port_not_listening", "evidence": {"host": "app-3"}}]},
        {"id": "db-connections", "matched": [{"id": "postgres.idle_in_transaction_leak", "evidence": {}}],
         "explained": []},
    ],
    "steps": [{"id": "app.restart", "scenario": "app-crash", "risk": "low", "decision": "run"},
              {"id": "app.restart", "scenario": "db-connections", "risk": "high", "decision": "needs_approval"}],
    "run_steps": ["app.restart"],
}


def test_only_scenarios_keeps_the_steps_of_those_scenarios():
    db = only_scenarios(DIAGNOSIS, ["db-connections"])
    assert [s["id"] for s in db["scenarios"]] == ["db-connections"]
    assert db["steps"] == [DIAGNOSIS["steps"][1]] and db["run_steps"] == []
    assert only_scenarios(DIAGNOSIS, "app-crash")["run_steps"] == ["app.restart"]
    assert only_scenarios({}, ["app-crash"])["steps"] == []


def test_scenario_hosts_are_those_of_the_matched_findings_unless_ids_are_given():
    assert scenario_hosts(DIAGNOSIS) == ["app-1"]
    assert scenario_hosts(DIAGNOSIS, ["service.failed", "service.port_not_listening"]) == ["app-1", "app-3"]
    assert scenario_hosts(None) == []


def test_log_lines_keep_each_line_once_with_its_source():
    scan = {"sources": [
        {"source": "/var/log/pynomaly/application.log", "last_matches": {"startup": ["FATAL: config missing"]}},
        {"source": "journal:pynomaly.service",
         "last_matches": {"startup": ["Main process exited", "Main process exited", "Failed with result 'exit-code'"]}},
        {"source": "kernel", "last_matches": {}}]}
    assert log_lines(scan, "startup", 1) == ["/var/log/pynomaly/application.log: FATAL: config missing",
                                             "journal:pynomaly.service: Failed with result 'exit-code'"]
    assert len(log_lines(scan, "startup", 0)) == 3
    assert log_lines({}, "startup") == []


def test_a_port_that_listens_on_the_server_but_gets_no_answer_from_here_is_unreachable():
    service = {"item": {"item": "app-1", "ansible_job_id": "1"}, "finished": 1, "status": "ok", "findings": [],
               "service": {"active_state": "active", "port": {"port": 8000, "listening": True}}}
    reach = {"finished": 1, "status": "down", "endpoints": [
        {"name": "app-1", "url": "http://10.0.0.2:8000/health", "status_code": None, "error": "timed out"}]}
    check = host_checks({"service": [service], "reach": reach})
    assert [(f["id"], f["evidence"]["host"], f["evidence"]["port"]) for f in check["findings"]] == [
        ("service.port_unreachable", "app-1", 8000)]
    assert check["status"] == "down" and check["hosts"]["app-1"]["status"] == "down"
    reach["endpoints"][0].update(status_code=200, error=None)
    assert host_checks({"service": [service], "reach": reach})["findings"] == []


def test_app_server_endpoint_uses_the_servers_address():
    assert app_server_endpoint("app-1", {"app-1": {"ansible_host": "10.0.0.2"}}, 8000, "/health") == {
        "name": "app-1", "url": "http://10.0.0.2:8000/health", "expect_status": [200]}
    assert app_server_endpoint("web-3", {}, 80)["url"] == "http://web-3:80/health"


def test_the_servers_own_results_read_as_host_checks_and_a_server_the_play_missed_says_so():
    hostvars = {"app-1": {"triage_server_service": dict(SERVICE_DOWN, changed=False)},
                "app-2": {"triage_server_service": dict(OK, changed=False)},
                "app-3": {},
                "app-4": {"triage_server_service": {"unreachable": True, "msg": "ssh: connect to host: timed out"}}}
    hosts = ["app-1", "app-2", "app-3", "app-4"]
    results = server_results(hosts, hostvars, "triage_server_service")
    assert [r["item"] for r in results] == hosts
    check = host_checks({"service": results})
    assert check["status"] == "down"
    assert {(f["id"], f["evidence"]["host"]) for f in check["findings"]} == {
        ("service.failed", "app-1"), ("triage.check_failed", "app-3"), ("host.unreachable", "app-4")}
    missed = next(f for f in check["findings"] if f["evidence"]["host"] == "app-3")
    assert "did not run on this server" in missed["summary"]
    assert check["hosts"]["app-2"]["status"] == "ok" and check["hosts"]["app-2"]["service"] == {"status": "ok",
                                                                                                "findings": []}


def test_a_check_skipped_after_its_server_went_unreachable_stays_one_unreachable_finding():
    hostvars = {"app-1": {"triage_server_service": {"unreachable": True, "msg": "no route to host"},
                          "triage_server_logs": {"skipped": True,
                                                 "false_condition": "triage_server_service is not unreachable"}}}
    check = host_checks({kind: server_results(["app-1"], hostvars, f"triage_server_{kind}")
                         for kind in ("service", "resources", "logs")})
    assert [f["id"] for f in check["findings"]] == ["host.unreachable"]
