from ansible_collections.sre.runbooks.plugins.module_utils import elb
from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError

TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/pynomaly-tg/1a"
BLUE = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue/2b"


def target(target_id, state, port=8000, reason=None, description=None):
    return {"id": target_id, "port": port, "state": state, "reason": reason, "description": description}


def test_forward_targets_reads_plain_and_weighted_forwards_once_each():
    actions = [
        {"Type": "authenticate-oidc"},
        {"Type": "forward", "TargetGroupArn": TG},
        {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": TG, "Weight": 90},
                                                               {"TargetGroupArn": BLUE, "Weight": 10}]}},
        {"Type": "redirect", "RedirectConfig": {"Port": "443"}},
    ]
    assert elb.forward_targets(actions) == [TG, BLUE]
    assert elb.forward_targets(None) == []


def test_target_entry_reads_describe_target_health():
    raw = {"Target": {"Id": "i-1", "Port": 8000},
           "TargetHealth": {"State": "unused", "Reason": "Target.InvalidState",
                            "Description": "Target is in the stopped state"}}
    assert elb.target_entry(raw) == target("i-1", "unused", reason="Target.InvalidState",
                                           description="Target is in the stopped state")
    healthy = elb.target_entry({"Target": {"Id": "i-2", "Port": 80}, "TargetHealth": {"State": "healthy"}})
    assert (healthy["state"], healthy["reason"], healthy["description"]) == ("healthy", None, None)


def test_healthy_counts_serving_targets_and_unavailable_only_without_health_checks():
    targets = [target("i-1", "healthy"), target("i-2", "unavailable"), target("i-3", "initial"),
               target("i-4", "draining"), target("i-5", "unhealthy")]
    checked = elb.target_group_entry({"TargetGroupArn": TG, "TargetGroupName": "pynomaly-tg", "Port": 8000}, targets)
    assert (checked["healthy"], checked["total"], checked["health_check_enabled"]) == (1, 5, True)
    assert [t["id"] for t in elb.not_serving(targets)] == ["i-2", "i-5"]
    unchecked = elb.target_group_entry({"TargetGroupArn": TG, "HealthCheckEnabled": False}, targets)
    assert (unchecked["healthy"], unchecked["health_check_enabled"]) == (2, False)
    assert [t["id"] for t in elb.not_serving(targets, health_checks=False)] == ["i-5"]


def test_count_and_describe_states():
    targets = [target("i-1", "unused", reason="Target.InvalidState", description="Target is in the stopped state"),
               target("i-2", "unhealthy", reason="Target.Timeout"), target("i-3", "unused")]
    assert elb.count_states(targets) == {"unhealthy": 1, "unused": 2}
    assert elb.count_states([]) == {}
    assert elb.describe_targets(targets) == ("i-1 unused (Target is in the stopped state), "
                                             "i-2 unhealthy (Target.Timeout), i-3 unused")


def test_state_map_keys_other_ports_by_id_and_port():
    targets = [target("i-1", "healthy"), target("i-1", "initial", port=9000), target("i-2", "healthy", port=None)]
    assert elb.state_map(targets, 8000) == {"i-1": "healthy", "i-1:9000": "initial", "i-2": "healthy"}


def test_not_found_is_told_by_the_aws_error_code():
    assert elb.is_not_found(RunbookError("x", aws_error_code="TargetGroupNotFound"))
    assert elb.is_not_found(RunbookError("x", aws_error_code="LoadBalancerNotFound"))
    assert not elb.is_not_found(RunbookError("x", aws_error_code="AccessDenied"))
    assert not elb.is_not_found(RunbookError("x"))
