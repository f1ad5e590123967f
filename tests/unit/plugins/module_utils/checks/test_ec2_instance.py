"""The ec2_instance_info findings the lab's moto cannot show: impaired status checks and scheduled events."""

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.checks.ec2_instance import instance_findings, overall_status
from ansible_collections.sre.runbooks.plugins.module_utils.ec2 import validate_selection
from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError


def instance(state="running", system="ok", checks="ok", events=(), name="pynomaly-app-1"):
    return {"id": "i-0a1", "name": name, "state": state, "asg": "pynomaly-asg",
            "status_checks": {"system": system, "instance": checks}, "events": list(events)}


def test_running_with_passing_checks_has_no_finding():
    assert instance_findings(instance()) == []
    assert instance_findings(instance(system="initializing", checks="insufficient-data")) == []


@pytest.mark.parametrize(("system", "checks", "words"), [
    ("impaired", "ok", "fails its system status check"),
    ("ok", "impaired", "fails its instance status check"),
    ("impaired", "impaired", "fails its system and instance status check"),
])
def test_impaired_check_is_critical(system, checks, words):
    (found,) = instance_findings(instance(system=system, checks=checks))
    assert (found["id"], found["severity"]) == ("ec2.status_check_failed", "critical")
    assert found["evidence"] == {"instance": "i-0a1", "system": system, "instance_status": checks}
    assert found["summary"] == f"instance i-0a1 (pynomaly-app-1) {words}"


@pytest.mark.parametrize("state", ["stopping", "stopped", "shutting-down"])
def test_not_running_is_stopped(state):
    (found,) = instance_findings(instance(state=state, system="not-applicable", checks="not-applicable"))
    assert found["id"] == "ec2.instance_stopped"
    assert found["evidence"] == {"instance": "i-0a1", "name": "pynomaly-app-1", "state": state, "asg": "pynomaly-asg"}


def test_pending_is_no_finding():
    assert instance_findings(instance(state="pending", system="not-applicable", checks="not-applicable")) == []


def test_open_scheduled_event_is_a_warning_and_past_ones_are_not():
    events = [{"code": "system-reboot", "description": "scheduled reboot", "not_before": "2024-05-02 03:00:00+00:00"},
              {"code": "instance-stop", "description": "[Completed] The instance is running on degraded hardware",
               "not_before": None},
              {"code": "instance-retirement", "description": "[Canceled] retirement", "not_before": None}]
    (found,) = instance_findings(instance(events=events))
    assert (found["id"], found["severity"]) == ("ec2.scheduled_event", "warning")
    assert found["summary"] == "pynomaly-app-1 has a scheduled system-reboot not before 2024-05-02 03:00:00+00:00"
    assert found["evidence"]["code"] == "system-reboot"


def test_status_is_down_when_nothing_serves():
    healthy, impaired, stopped = instance(), instance(checks="impaired"), instance(state="stopped")
    findings = instance_findings(impaired) + instance_findings(stopped)
    assert overall_status([impaired, stopped], findings) == "down"
    assert overall_status([healthy, impaired], instance_findings(impaired)) == "degraded"
    assert overall_status([healthy], []) == "ok"
    assert overall_status([], []) == "down"


@pytest.mark.parametrize(("params", "option"), [
    ({"instance_ids": [], "tags": {}, "asg_name": None}, "instance_ids"),
    ({"instance_ids": ["web-1"]}, "instance_ids"),
    ({"tags": {"": "x"}}, "tags"),
    ({"asg_name": "a", "service_tags": {"Service": ""}}, "service_tags"),
])
def test_bad_selection_names_the_option(params, option):
    with pytest.raises(RunbookError) as raised:
        validate_selection(params, tag_options=("tags", "service_tags"))
    assert raised.value.details["option"] == option and option in raised.value.msg
