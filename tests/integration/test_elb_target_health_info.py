"""elb_target_health_info against the lab's moto: the seeded ALB pynomaly-alb -> pynomaly-tg <- pynomaly-asg,
healthy and under the lab fault targets-unhealthy."""

from __future__ import annotations

from conftest import aws_connection, group_members, run_module, target_states


def health_info(lab, **args) -> dict:
    return run_module("elb_target_health_info", {**aws_connection(lab), **args}, lab.root)


def ids(result) -> list[str]:
    return sorted(f["id"] for f in result["findings"])


def by_id(result, finding_id) -> dict:
    (found,) = [f for f in result["findings"] if f["id"] == finding_id]
    return found


def test_healthy_estate_shows_listener_group_and_targets(lab, seeded_targets):
    info = seeded_targets
    result = health_info(lab, load_balancer_name=info["load_balancer_name"], asg_name=info["asg_name"])
    assert result["failed"] is False and result["changed"] is False
    assert result["status"] == "ok" and result["findings"] == []
    lb = result["load_balancer"]
    assert (lb["name"], lb["arn"], lb["state"]) == ("pynomaly-alb", info["load_balancer_arn"], "active")
    assert lb["dns_name"].startswith("pynomaly-alb")
    assert result["listeners"] == [{"port": 80, "protocol": "HTTP", "target_group_arns": [info["target_group_arn"]]}]
    (group,) = result["target_groups"]
    assert (group["name"], group["arn"], group["vpc_id"]) == ("pynomaly-tg", info["target_group_arn"], info["vpc_id"])
    assert (group["port"], group["protocol"], group["healthy"], group["total"]) == (8000, "HTTP", 3, 3)
    assert [(t["id"], t["port"], t["state"]) for t in group["targets"]] == [
        (i, 8000, "healthy") for i in group_members(lab)]


def test_fault_shows_no_healthy_target_and_the_missing_instances(lab, targets_unhealthy):
    info = lab.service("aws")
    deregistered, stopped = targets_unhealthy
    assert target_states(lab) == {stopped: "unused"}
    result = health_info(lab, load_balancer_name=info["load_balancer_name"], asg_name=info["asg_name"])
    assert result["failed"] is False and result["status"] == "down"
    assert ids(result) == ["elb.instance_not_registered", "elb.no_healthy_targets", "elb.targets_unhealthy"]
    down = by_id(result, "elb.no_healthy_targets")
    assert down["severity"] == "critical"
    assert down["evidence"] == {"target_group": "pynomaly-tg", "target_group_arn": info["target_group_arn"],
                                "total": 1, "states": {"unused": 1}}
    unhealthy = by_id(result, "elb.targets_unhealthy")
    assert unhealthy["evidence"]["targets"] == [{"id": stopped, "state": "unused", "reason": "Target.InvalidState"}]
    assert "stopped state" in unhealthy["summary"]
    missing = by_id(result, "elb.instance_not_registered")
    assert missing["severity"] == "warning"
    assert missing["evidence"] == {"target_group": "pynomaly-tg", "target_group_arn": info["target_group_arn"],
                                   "asg": "pynomaly-asg", "instances": deregistered}
    assert (result["target_groups"][0]["healthy"], result["target_groups"][0]["total"]) == (0, 1)


def test_fault_by_target_group_arn_without_asg(lab, targets_unhealthy):
    info = lab.service("aws")
    _deregistered, stopped = targets_unhealthy
    result = health_info(lab, target_group_arns=[info["target_group_arn"]])
    assert result["status"] == "down" and ids(result) == ["elb.no_healthy_targets", "elb.targets_unhealthy"]
    (target,) = result["target_groups"][0]["targets"]
    assert (target["id"], target["state"], target["reason"]) == (stopped, "unused", "Target.InvalidState")
    assert target["description"] == "Target is in the stopped state"


def test_by_target_group_name_shows_its_load_balancer(lab, seeded_targets):
    info = seeded_targets
    result = health_info(lab, target_group_names=[info["target_group_name"]], asg_name="no-such-asg")
    assert result["failed"] is False and result["status"] == "degraded"
    assert ids(result) == ["elb.asg_not_found"] and by_id(result, "elb.asg_not_found")["evidence"] == {
        "asg": "no-such-asg"}
    assert result["load_balancer"]["name"] == "pynomaly-alb" and result["listeners"][0]["port"] == 80
    assert [(g["name"], g["healthy"], g["total"]) for g in result["target_groups"]] == [("pynomaly-tg", 3, 3)]


def test_unknown_load_balancer_and_group_are_findings_not_failures(lab, seeded_targets):
    result = health_info(lab, load_balancer_name="no-such-alb", target_group_names=["no-such-tg"])
    assert result["failed"] is False and result["changed"] is False and result["status"] == "down"
    assert ids(result) == ["elb.not_found", "elb.not_found"]
    assert [f["evidence"] for f in result["findings"]] == [{"kind": "load balancer", "id": "no-such-alb"},
                                                           {"kind": "target group", "id": "no-such-tg"}]
    assert result["load_balancer"] is None and result["listeners"] == [] and result["target_groups"] == []


def test_unreachable_endpoint_is_a_finding_not_a_failure(lab):
    args = {**aws_connection(lab), "endpoint_url": "http://127.0.0.1:1", "max_attempts": 1}
    result = run_module("elb_target_health_info", {**args, "load_balancer_name": "pynomaly-alb"}, lab.root)
    assert result["failed"] is False and result["status"] == "unknown"
    assert ids(result) == ["elb.api_unreachable"]
    assert result["findings"][0]["evidence"]["endpoint_url"] == "http://127.0.0.1:1"
    assert "Traceback" not in result["_stdout"]


def test_bad_arguments_name_the_option(lab):
    result = health_info(lab, asg_name="pynomaly-asg")
    assert result["failed"] is True and "Traceback" not in result["_stdout"]
    assert all(option in result["msg"] for option in ("load_balancer_name", "target_group_arns", "target_group_names"))
    result = health_info(lab, target_group_arns=["pynomaly-tg"])
    assert result["failed"] is True and "target_group_arns" in result["msg"]
    assert "not a target group ARN" in result["msg"] and "Traceback" not in result["_stdout"]
