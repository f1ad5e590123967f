# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reads of a load balancer (ELBv2), its listeners, target groups and target health.

Shared by the elb_target_health check and the elb_register_targets remediation, so both see a
target group, a target and its state the same way.
"""

from ansible_collections.sre.runbooks.plugins.module_utils.aws_client import call, paginate

NOT_FOUND_CODES = ("LoadBalancerNotFound", "TargetGroupNotFound")
# States of a registered target that takes no traffic and is neither joining (initial) nor leaving (draining).
NOT_SERVING = ("unhealthy", "unused", "unavailable")


def is_not_found(error):
    """True when a RunbookError of aws_client.call says the load balancer or target group does not exist."""
    return error.details.get("aws_error_code") in NOT_FOUND_CODES


def forward_targets(actions):
    """The target group ARNs the forward actions of a listener (or rule) send traffic to, in order."""
    arns = []
    for action in actions or []:
        if action.get("Type") != "forward":
            continue
        weighted = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
        for arn in [action.get("TargetGroupArn")] + [g.get("TargetGroupArn") for g in weighted]:
            if arn and arn not in arns:
                arns.append(arn)
    return arns


def load_balancer_entry(raw):
    return {"name": raw.get("LoadBalancerName"), "arn": raw.get("LoadBalancerArn"),
            "state": (raw.get("State") or {}).get("Code"), "dns_name": raw.get("DNSName"),
            "type": raw.get("Type"), "scheme": raw.get("Scheme"), "vpc_id": raw.get("VpcId")}


def read_load_balancer(elbv2, name=None, arn=None):
    """One load balancer as load_balancer_entry(); RunbookError (LoadBalancerNotFound) when it does not exist."""
    kwargs = {"Names": [name]} if name else {"LoadBalancerArns": [arn]}
    return load_balancer_entry(call(elbv2.describe_load_balancers, **kwargs)["LoadBalancers"][0])


def read_listeners(elbv2, load_balancer_arn):
    """[{port, protocol, target_group_arns}] of one load balancer by port; the groups its default actions forward to."""
    raw = paginate(elbv2.describe_listeners, "Listeners", token_in="Marker", token_out="NextMarker",
                   LoadBalancerArn=load_balancer_arn)
    listeners = [{"port": item.get("Port"), "protocol": item.get("Protocol"),
                  "target_group_arns": forward_targets(item.get("DefaultActions"))} for item in raw]
    return sorted(listeners, key=lambda item: item["port"] or 0)


def read_target_group(elbv2, arn=None, name=None):
    """One target group as AWS returns it; RunbookError (TargetGroupNotFound) when it does not exist."""
    kwargs = {"TargetGroupArns": [arn]} if arn else {"Names": [name]}
    return call(elbv2.describe_target_groups, **kwargs)["TargetGroups"][0]


def target_groups_of(elbv2, load_balancer_arn):
    """Every target group the load balancer sends traffic to, as AWS returns them."""
    return paginate(elbv2.describe_target_groups, "TargetGroups", token_in="Marker", token_out="NextMarker",
                    LoadBalancerArn=load_balancer_arn)


def target_entry(raw):
    """What the modules show of one target of describe-target-health."""
    target, health = raw.get("Target") or {}, raw.get("TargetHealth") or {}
    return {"id": target.get("Id"), "port": target.get("Port"), "state": health.get("State"),
            "reason": health.get("Reason"), "description": health.get("Description")}


def read_targets(elbv2, target_group_arn):
    """Every registered target of one group with its health, sorted by id and port."""
    raw = call(elbv2.describe_target_health, TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]
    return sorted((target_entry(t) for t in raw), key=lambda t: (t["id"] or "", t["port"] or 0))


def serving(target, health_checks=True):
    """True when the target takes traffic: healthy, or unavailable in a group whose health checks are off."""
    return target["state"] == "healthy" or (not health_checks and target["state"] == "unavailable")


def not_serving(targets, health_checks=True):
    """The registered targets that take no traffic and are neither joining (initial) nor leaving (draining)."""
    return [t for t in targets if t["state"] in NOT_SERVING and not serving(t, health_checks)]


def target_group_entry(raw, targets):
    """One target group with its targets and how many of them take traffic (healthy) of how many (total)."""
    checks = raw.get("HealthCheckEnabled", True) is not False
    return {"arn": raw.get("TargetGroupArn"), "name": raw.get("TargetGroupName"), "vpc_id": raw.get("VpcId"),
            "port": raw.get("Port"), "protocol": raw.get("Protocol"), "target_type": raw.get("TargetType"),
            "health_check_enabled": checks, "load_balancer_arns": list(raw.get("LoadBalancerArns") or []),
            "healthy": sum(1 for t in targets if serving(t, checks)), "total": len(targets), "targets": targets}


def count_states(targets):
    """{state: how many targets are in it}."""
    counts = {}
    for target in targets:
        counts[target["state"]] = counts.get(target["state"], 0) + 1
    return dict(sorted(counts.items()))


def describe_targets(targets):
    """'i-0a1 unused (Target is in the stopped state), i-0b2 healthy': targets as a person reads them."""
    parts = []
    for target in targets:
        why = target["description"] or target["reason"]
        parts.append(f"{target['id']} {target['state']}" + (f" ({why})" if why else ""))
    return ", ".join(parts)


def target_key(target, group_port):
    """The key of a target in before/after maps: its id, with :port when it is not the group's port."""
    if target["port"] in (None, group_port):
        return target["id"]
    return f"{target['id']}:{target['port']}"


def state_map(targets, group_port):
    """{target_key: state} of registered targets."""
    return {target_key(t, group_port): t["state"] for t in targets}
