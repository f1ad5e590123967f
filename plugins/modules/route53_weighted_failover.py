#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: route53_weighted_failover
short_description: Move a Route 53 weighted record's traffic to the secondary region and back, safely
version_added: 1.0.0
description:
  - The runbook's Failover to Secondary Region (C(aws route53 change-resource-record-sets) on a weighted
    routing policy), with its guard and its wait.
  - With O(state=failover), sets the O(primary) set's weight to 0 and the O(secondary) set's weight to the
    primary's weight before (100 when that was 0), in one change batch, and returns C(previous_weights) to pass
    to O(weights) for the failback. A record whose primary weight already is 0 while the secondary's is above 0
    is left alone.
  - With O(state=failback), sets each set of O(weights) to its weight; sets already at their weight are left alone.
  - Refuses, changing nothing, when a set that will take traffic (its weight rises, or changes and stays above 0)
    has a health check that is not healthy, unless O(force=true). Health is read as
    M(sre.runbooks.route53_record_info) reads it (health checkers, CloudWatch C(HealthCheckStatus) and its alarms).
  - Waits until Route 53 reports the change C(INSYNC) on all its DNS servers (C(GetChange)); when that does not
    happen within O(wait_timeout), the task fails with C(changed=true), the change having been submitted.
  - Resolvers keep the old answer for up to the record's TTL after C(INSYNC).
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.aws
  - sre.runbooks.wait
  - sre.runbooks.attributes
attributes:
  check_mode:
    support: full
    details: Reports the weights it would set, with a diff; calls no changing API.
  diff_mode:
    support: full
  idempotent:
    support: full
    details: A record already failed over (or already at O(weights)) is left alone, C(changed=false).
options:
  hosted_zone_id:
    description: Id of the hosted zone. Exclusive with O(zone_name); one of the two is required.
    type: str
  zone_name:
    description: Name of the hosted zone; when a public and a private zone share it, give O(hosted_zone_id).
    type: str
  record_name:
    description: The weighted record's full name, for example C(api.example.com).
    type: str
    required: true
  record_type:
    description: The record's type.
    type: str
    default: A
    choices: [A, AAAA, CAA, CNAME, DS, HTTPS, MX, NAPTR, NS, PTR, SOA, SPF, SRV, SSHFP, SVCB, TLSA, TXT]
  state:
    description: C(failover) moves the traffic from O(primary) to O(secondary); C(failback) sets O(weights).
    type: str
    default: failover
    choices: [failover, failback]
  primary:
    description: Set identifier of the set that takes the traffic now (the primary region). Required for failover.
    type: str
  secondary:
    description: Set identifier of the record set to move the traffic to (the secondary region). Required for failover.
    type: str
  weights:
    description:
      - Set identifier to weight (0 to 255), for O(state=failback); usually the C(previous_weights) a failover returned.
      - Required with O(state=failback). Every set identifier must be a set of the record.
    type: dict
  force:
    description:
      - Change the weights even when a set that will take traffic has a health check that is unhealthy or unknown.
      - Use it only when you know that region serves, for example when its health check itself is broken.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait for the change to be INSYNC when O(wait=true).
    type: int
    default: 180
"""

EXAMPLES = r"""
- name: Fail over api.pynomaly.internal to the secondary region
  sre.runbooks.route53_weighted_failover:
    zone_name: pynomaly.internal
    record_name: api.pynomaly.internal
    primary: primary
    secondary: secondary
    state: failover
  register: dns_failover

- name: Fail back once the primary region is healthy again
  sre.runbooks.route53_weighted_failover:
    zone_name: pynomaly.internal
    record_name: api.pynomaly.internal
    state: failback
    weights: "{{ dns_failover.previous_weights }}"
"""

RETURN = r"""
msg:
  description: What was (or would be) done, or why nothing was needed.
  returned: always
  type: str
  sample: "Fail over api.pynomaly.internal. from primary to secondary (secondary is healthy by checkers)."
actions:
  description: What was done (or would be done in check mode), one sentence each; empty when nothing was needed.
  returned: always
  type: list
  elements: str
  sample: ["Set the weight of api.pynomaly.internal. primary from 100 to 0",
           "Set the weight of api.pynomaly.internal. secondary from 0 to 100"]
before:
  description: Weight of every weighted set of the record, C({set_identifier, weight}), before.
  returned: always
  type: dict
  sample: {primary: 100, secondary: 0}
after:
  description: The same, after (as read back; in check mode, as it would be).
  returned: always
  type: dict
  sample: {primary: 0, secondary: 100}
previous_weights:
  description:
    - The weights of the sets this run changes (or would change), before it; pass them to O(weights) to fail back.
    - When nothing was needed, the current weights of O(primary) and O(secondary) (failover) or of O(weights).
  returned: always
  type: dict
  sample: {primary: 100, secondary: 0}
health:
  description: Health of the sets that take traffic after the change, C({set_identifier, {health, source, reasons}}).
  returned: always
  type: dict
  sample: {secondary: {health: healthy, source: checkers, reasons: ["checkers: 1 of 1 checkers report success"]}}
change_id:
  description: Id of the Route 53 change submitted.
  returned: when changed and not in check mode
  type: str
  sample: C2682N5HXP0BZ4
check_mode:
  description: True when this was a dry run.
  returned: always
  type: bool
  sample: false
duration:
  description: Seconds spent waiting for the change to be INSYNC.
  returned: when waited
  type: float
  sample: 0.02
"""

from ansible_collections.sre.runbooks.plugins.module_utils.aws_client import (
    BOTO3_IMPORT_ERROR,
    HAS_BOTO3,
    aws_argument_spec,
    call,
    client,
)
from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule, wait_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.errors import NotConfirmed, RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.guards import require
from ansible_collections.sre.runbooks.plugins.module_utils.route53 import (
    find_zone,
    health_check_health,
    metric_client,
    record_name_in_zone,
    record_sets,
    zone_argument_spec,
)
from ansible_collections.sre.runbooks.plugins.module_utils.waiting import wait_for

MAX_WEIGHT = 255


def read_weighted(route53, params):
    """(zone_id, name, {set_identifier: raw}) of the record's weighted sets; refused when there are none."""
    zone_wanted = params["hosted_zone_id"] or params["zone_name"]
    zone = find_zone(route53, params["hosted_zone_id"], params["zone_name"])
    require(zone is not None, "record exists", f"hosted zone {zone_wanted} does not exist (route53.zone_not_found).")
    zone_id, zone_name = zone
    name = record_name_in_zone(params["record_name"], zone_name)
    sets = {raw["SetIdentifier"]: raw for raw in record_sets(route53, zone_id, name, params["record_type"])
            if raw.get("Weight") is not None}
    require(sets, "record exists", f"zone {zone_name} has no weighted {params['record_type']} record {name} "
                                   "(route53.record_not_found).")
    return zone_id, name, sets


def known(sets, identifier, option):
    if identifier not in sets:
        raise RunbookError(f"{option} {identifier!r} is not a set of this record (sets: {', '.join(sorted(sets))}).",
                           option=option)


def weights_option(weights, sets):
    """{set_identifier: int weight} of option weights; RunbookError naming weights when one is wrong."""
    wanted = {}
    for identifier, weight in (weights or {}).items():
        known(sets, identifier, "weights")
        try:
            wanted[identifier] = int(weight)
        except (TypeError, ValueError):
            raise RunbookError(f"weights: the weight of {identifier} must be a number, not {weight!r}.",
                               option="weights") from None
        if not 0 <= wanted[identifier] <= MAX_WEIGHT:
            raise RunbookError(f"weights: the weight of {identifier} must be between 0 and {MAX_WEIGHT}, "
                               f"not {wanted[identifier]}.", option="weights")
    if not wanted:
        raise RunbookError("weights is empty: give the weights to restore (a failover's previous_weights).",
                           option="weights")
    return wanted


def weights_text(weights):
    return ", ".join(f"{identifier} {weight}" for identifier, weight in sorted(weights.items()))


def target_weights(params, current, sets, name):
    """The weights to set, {set_identifier: weight}, and a sentence saying what they are."""
    if params["state"] == "failback":
        wanted = weights_option(params["weights"], sets)
        return wanted, f"Fail back {name} to {weights_text(wanted)}"
    primary, secondary = params["primary"], params["secondary"]
    known(sets, primary, "primary")
    known(sets, secondary, "secondary")
    if primary == secondary:
        raise RunbookError("primary and secondary name the same set.", option="secondary")
    if current[primary] == 0 and current[secondary] > 0:
        return {primary: 0, secondary: current[secondary]}, f"{name} is failed over to {secondary}"
    return {primary: 0, secondary: current[primary] or 100}, f"Fail over {name} from {primary} to {secondary}"


def guard_health(route53, cloudwatch, sets, current, wanted, force):
    """Health of every set that will take traffic; refused when one is not healthy (unless force)."""
    gaining = sorted(i for i, w in wanted.items() if w > 0 and w != current[i])
    health = {i: health_check_health(route53, cloudwatch, sets[i].get("HealthCheckId")) for i in gaining}
    for identifier in gaining:
        seen = health[identifier]
        why = "; ".join(seen["reasons"])
        require(force or seen["health"] == "healthy", "target healthy",
                f"{identifier} would take traffic but its health check {sets[identifier].get('HealthCheckId')} "
                f"is {seen['health']} ({why}); nothing was changed.",
                override="make that region healthy first, or set force=true if you know it serves")
    return health


def change_weights(module, route53, zone_id, name, sets, changing, result):
    comment = f"sre.runbooks route53_weighted_failover {module.params['state']} {name}"
    changes = [{"Action": "UPSERT", "ResourceRecordSet": dict(sets[i], Weight=w)} for i, w in sorted(changing.items())]
    info = call(route53.change_resource_record_sets, HostedZoneId=zone_id,
                ChangeBatch={"Comment": comment, "Changes": changes})["ChangeInfo"]
    change_id = info["Id"].split("/")[-1]
    result["change_id"] = change_id
    params = module.params
    if params["wait"]:
        ok, state, duration = wait_for(lambda: call(route53.get_change, Id=change_id)["ChangeInfo"],
                                       lambda c: c.get("Status") == "INSYNC", params["wait_timeout"],
                                       params["wait_sleep"])
        result["duration"] = duration
        if not ok:
            details = {key: value for key, value in result.items() if key != "msg"}
            raise NotConfirmed(f"Route 53 change {change_id} was submitted but not INSYNC within "
                               f"{params['wait_timeout']}s (last seen: {state.get('Status', state)}).", **details)


def switch(module):
    params = module.params
    route53 = client(params, "route53")
    zone_id, name, sets = read_weighted(route53, params)
    current = {i: raw["Weight"] for i, raw in sets.items()}
    wanted, what = target_weights(params, current, sets, name)
    changing = {i: w for i, w in wanted.items() if current[i] != w}
    result = {"before": current, "after": dict(current, **wanted), "health": {}, "actions": [],
              "previous_weights": {i: current[i] for i in (changing or wanted)}}
    if not changing:
        result["msg"] = (f"{name} is already failed over to {params['secondary']}; nothing to do."
                         if params["state"] == "failover" else
                         f"{name} already has the weights asked for ({weights_text(wanted)}); nothing to do.")
        return result
    result["health"] = guard_health(route53, metric_client(params), sets, current, wanted, params["force"])
    result["actions"] = [f"Set the weight of {name} {i} from {current[i]} to {w}" for i, w in sorted(changing.items())]
    healths = ", ".join(f"{i} is {h['health']} by {h['source'] or 'no source'}" for i, h in result["health"].items())
    result["msg"] = what + (f" ({healths})." if healths else ".")
    if not module.check_mode:
        change_weights(module, route53, zone_id, name, sets, changing, result)
        result["after"] = {raw["SetIdentifier"]: raw["Weight"] for raw in
                           record_sets(route53, zone_id, name, params["record_type"]) if raw.get("Weight") is not None}
    return result


def main():
    module = RunbookModule(
        argument_spec={
            "state": {"type": "str", "default": "failover", "choices": ["failover", "failback"]},
            "primary": {"type": "str"},
            "secondary": {"type": "str"},
            "weights": {"type": "dict"},
            "force": {"type": "bool", "default": False},
        },
        shared=(aws_argument_spec, zone_argument_spec, lambda: wait_argument_spec(180)),
        mutually_exclusive=[("hosted_zone_id", "zone_name")],
        required_one_of=[("hosted_zone_id", "zone_name")],
        required_if=[("state", "failover", ("primary", "secondary")), ("state", "failback", ("weights",))],
        bounds={"wait_timeout": (0, None), "wait_sleep": (0, None)},
        supports_check_mode=True,
    )
    module.require_library("boto3", HAS_BOTO3, BOTO3_IMPORT_ERROR)
    module.run_change(switch)


if __name__ == "__main__":
    main()
