import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.checks import elb_target_health
from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError

TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/pynomaly-tg/1a"


def group(*targets, healthy=None, checks=True):
    targets = [{"id": i, "port": 8000, "state": s, "reason": r, "description": None} for i, s, r in targets]
    count = sum(1 for t in targets if t["state"] == "healthy") if healthy is None else healthy
    return {"name": "pynomaly-tg", "arn": TG, "healthy": count, "total": len(targets), "targets": targets,
            "health_check_enabled": checks}


def ids(found):
    return [f["id"] for f in found]


def test_all_healthy_and_joining_or_leaving_targets_are_no_finding():
    joining = ("i-2", "initial", "Elb.RegistrationInProgress")
    leaving = ("i-3", "draining", "Target.DeregistrationInProgress")
    assert elb_target_health.group_findings(group(("i-1", "healthy", None), joining, leaving)) == []


def test_some_unhealthy_targets_are_a_warning():
    found = elb_target_health.group_findings(group(("i-1", "healthy", None), ("i-2", "unhealthy", "Target.Timeout")))
    assert ids(found) == ["elb.targets_unhealthy"] and found[0]["severity"] == "warning"
    assert found[0]["evidence"]["targets"] == [{"id": "i-2", "state": "unhealthy", "reason": "Target.Timeout"}]


def test_no_healthy_target_is_critical_with_the_states():
    found = elb_target_health.group_findings(group(("i-1", "unused", "Target.InvalidState"),
                                                   ("i-2", "unhealthy", "Target.Timeout")))
    assert ids(found) == ["elb.no_healthy_targets", "elb.targets_unhealthy"]
    assert found[0]["evidence"] == {"target_group": "pynomaly-tg", "target_group_arn": TG, "total": 2,
                                    "states": {"unhealthy": 1, "unused": 1}}
    empty = elb_target_health.group_findings(group())
    assert ids(empty) == ["elb.no_healthy_targets"] and "none registered" in empty[0]["summary"]


def test_unavailable_targets_serve_when_health_checks_are_off():
    assert elb_target_health.group_findings(group(("i-1", "unavailable", "Target.HealthCheckDisabled"),
                                                  healthy=1, checks=False)) == []


def params(**given):
    return {"load_balancer_name": None, "target_group_arns": None, "target_group_names": None, **given}


def test_validate_needs_a_selection_and_real_target_group_arns():
    with pytest.raises(RunbookError, match="load_balancer_name") as empty:
        elb_target_health.validate(params(target_group_arns=[]))
    assert empty.value.details["option"] == "load_balancer_name"
    with pytest.raises(RunbookError, match="not a target group ARN") as bad:
        elb_target_health.validate(params(target_group_arns=[TG.replace("targetgroup", "loadbalancer/app")]))
    assert bad.value.details["option"] == "target_group_arns"
    elb_target_health.validate(params(target_group_arns=[TG]))
    elb_target_health.validate(params(load_balancer_name="pynomaly-alb"))
