"""alertmanager_alerts_info against the lab's real Alertmanager, fed by the lab's Prometheus and its rules."""

from __future__ import annotations

from test_lab_monitoring import firing, poll, wait_all_clear

from lab import faults
from lab.core import free_port


def alerts(ansible_module, monitoring, **args):
    result = ansible_module("alertmanager_alerts_info", dict({"url": monitoring["alertmanager_url"], "timeout": 5},
                                                             **args))
    assert result["failed"] is False and result["changed"] is False, result.get("msg")
    return result


def test_all_clear_when_nothing_fires(lab, ansible_module, monitoring):
    wait_all_clear(monitoring, lab)
    result = alerts(ansible_module, monitoring)
    assert (result["status"], result["findings"], result["alerts"], result["firing"]) == ("ok", [], [], 0)
    assert result["summary"] == "All clear - no alert firing"


def test_5xx_alert_fires_names_itself_and_clears_after_healing(lab, ansible_module, monitoring, fault):
    wait_all_clear(monitoring, lab)
    fault("app-5xx")
    poll(lambda: firing(monitoring), lambda names: "HighErrorRate5xx" in names, "HighErrorRate5xx to fire", lab)
    result = alerts(ansible_module, monitoring, matchers=["alertname=HighErrorRate5xx", 'severity=~"critical|page"'])
    assert result["status"] == "degraded" and result["firing"] == 1
    [alert] = result["alerts"]
    assert (alert["name"], alert["state"], alert["labels"]["runbook"]) == ("HighErrorRate5xx", "firing",
                                                                           "system-down-ec2-rds")
    assert alert["annotations"]["summary"].endswith("of the application's requests answer 5xx") and alert["startsAt"]
    [found] = result["findings"]
    assert (found["id"], found["severity"], found["summary"]) == ("alertmanager.firing", "critical",
                                                                  "1 alert firing: HighErrorRate5xx")
    assert found["evidence"]["alerts"][0]["name"] == "HighErrorRate5xx"
    other = alerts(ansible_module, monitoring, matchers=["alertname!=HighErrorRate5xx", "alertname!~Latency.*"])
    assert "HighErrorRate5xx" not in [a["name"] for a in other["alerts"]]

    faults.heal(lab, "app-5xx")
    poll(lambda: firing(monitoring), lambda names: "HighErrorRate5xx" not in names, "HighErrorRate5xx to clear", lab)
    cleared = alerts(ansible_module, monitoring, matchers=["alertname=HighErrorRate5xx"])
    assert (cleared["status"], cleared["firing"], cleared["summary"]) == ("ok", 0, "All clear - no alert firing")


def test_unreachable_alertmanager_is_unknown_not_a_failure(ansible_module):
    result = ansible_module("alertmanager_alerts_info", {"url": f"http://127.0.0.1:{free_port()}", "timeout": 1})
    assert result["failed"] is False and result["status"] == "unknown" and result["firing"] == 0
    [found] = result["findings"]
    assert found["id"] == "alertmanager.unreachable" and "does not answer: connection refused" in found["summary"]
    assert "Traceback" not in result["_stdout"]


def test_bad_matcher_fails_naming_the_option(ansible_module, monitoring):
    for matchers, says in ((["severity"], "matchers[0] 'severity' is not a matcher"),
                           (["alertname=~\"(\""], "Alertmanager refused the matchers")):
        result = ansible_module("alertmanager_alerts_info", {"url": monitoring["alertmanager_url"],
                                                             "matchers": matchers})
        assert result["failed"] is True and says in result["msg"], result["msg"]
        assert "Traceback" not in result["_stdout"]
