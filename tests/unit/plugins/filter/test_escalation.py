import copy
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.sre.runbooks.plugins.filter.escalation import escalation

ROOT = Path(__file__).resolve().parents[4]
SHIPPED = yaml.safe_load((ROOT / "inventories/production/group_vars/all/escalation.yml").read_text())
SYSTEM_DOWN = SHIPPED["escalation_policies"]["system_down_ec2_rds"]
P0_K8S = SHIPPED["escalation_policies"]["p0_kubernetes_llm"]
START = "2026-01-01T10:00:00Z"


def at(minutes, seconds=0):
    return f"2026-01-01T{10 + minutes // 60:02d}:{minutes % 60:02d}:{seconds:02d}Z"


@pytest.mark.parametrize("minutes, tier, name, next_tier, crossed", [
    (0, 0, "", 1, []),
    (14, 0, "", 1, []),
    (15, 1, "Engineering Lead", 2, [1]),
    (29, 1, "Engineering Lead", 2, [1]),
    (31, 2, "VP Engineering", 3, [1, 2]),
    (61, 4, "Executive communication", None, [1, 2, 3, 4]),
])
def test_system_down_policy_by_elapsed_minutes(minutes, tier, name, next_tier, crossed):
    result = escalation(SYSTEM_DOWN, START, at(minutes))
    assert (result["tier"], result["name"], result["crossed"]) == (tier, name, crossed)
    assert result["elapsed_minutes"] == minutes
    assert (result["next"] or {}).get("tier") == next_tier
    assert result["policy"] == "system-down-ec2-rds"


@pytest.mark.parametrize("minutes, tier, name, next_tier, next_at", [
    (0, 1, "On-call engineer", 2, 15),
    (14, 1, "On-call engineer", 2, 15),
    (15, 2, "Engineering Manager", 3, 30),
    (29, 2, "Engineering Manager", 3, 30),
    (31, 3, "CTO", 4, 60),
    (61, 4, "Executive briefing", None, None),
])
def test_p0_kubernetes_policy_by_elapsed_minutes(minutes, tier, name, next_tier, next_at):
    result = escalation(P0_K8S, START, at(minutes))
    assert (result["tier"], result["name"]) == (tier, name)
    assert (result["next"] or {}).get("tier") == next_tier
    assert (result["next"] or {}).get("at_minutes") == next_at
    assert result["crossed"] == list(range(1, tier + 1))


def test_the_tier_reached_says_who_and_where_and_when_the_next_is_due():
    result = escalation(P0_K8S, START, at(31))
    assert result["contacts"] == [{"name": "CTO", "role": "CTO", "slack": "@cto"}]
    assert result["channels"] == ["#pubsec-incidents"]
    assert result["next"] == {"tier": 4, "name": "Executive briefing", "at_minutes": 60,
                              "at": "2026-01-01T11:00:00+00:00"}
    assert result["next_update_at"] == "2026-01-01T10:46:00+00:00"
    assert result["summary"] == ("p0-kubernetes-llm: tier 3 (CTO) since minute 30; "
                                 "next tier 4 (Executive briefing) at minute 60")


def test_a_tier_is_reached_at_its_minute_not_a_second_before():
    assert escalation(SYSTEM_DOWN, START, "2026-01-01T10:14:59Z")["tier"] == 0
    assert escalation(SYSTEM_DOWN, START, "2026-01-01T10:15:00Z")["tier"] == 1


def test_times_with_z_and_with_offsets_are_the_same_instant():
    plus_two = escalation(P0_K8S, "2026-01-01T12:00:00+02:00", "2026-01-01T10:31:00Z")
    minus_five = escalation(P0_K8S, "2026-01-01T05:00:00-05:00", "2026-01-01T11:31:00+01:00")
    fractional = escalation(P0_K8S, "2026-01-01T10:00:00.250Z", "2026-01-01T10:31:00.000000+00:00")
    assert plus_two["tier"] == minus_five["tier"] == fractional["tier"] == 3
    assert plus_two["elapsed_minutes"] == minus_five["elapsed_minutes"] == 31
    # a time without a zone is UTC
    assert escalation(P0_K8S, "2026-01-01T10:00:00", "2026-01-01T10:31:00Z")["tier"] == 3


def test_a_start_in_the_future_counts_as_minute_zero():
    result = escalation(SYSTEM_DOWN, START, "2026-01-01T09:59:00Z")
    assert result["elapsed_minutes"] == 0 and result["tier"] == 0


def test_without_now_the_current_time_is_used():
    assert escalation(P0_K8S, "2000-01-01T00:00:00Z")["tier"] == 4


def test_newly_crossed_tiers_are_those_above_the_one_last_notified():
    assert [t["tier"] for t in escalation(SYSTEM_DOWN, START, at(31))["newly_crossed"]] == [1, 2]
    assert [t["tier"] for t in escalation(SYSTEM_DOWN, START, at(31), previous_tier=1)["newly_crossed"]] == [2]
    assert escalation(SYSTEM_DOWN, START, at(31), previous_tier=2)["newly_crossed"] == []
    crossed = escalation(SYSTEM_DOWN, START, at(46), 1)["newly_crossed"]
    assert [(t["tier"], t["name"]) for t in crossed] == [(2, "VP Engineering"), (3, "CTO")]
    assert crossed[1]["contacts"][0]["slack"] == "@cto" and crossed[1]["channels"] == ["#pynomaly-incidents"]


def test_a_run_notifies_a_newly_crossed_tier_once():
    notified = 0
    told = []
    for minutes in (0, 5, 16, 20, 31, 33, 61, 70):
        new = escalation(P0_K8S, START, at(minutes), notified)["newly_crossed"]
        told += [t["tier"] for t in new]
        notified = max([notified] + [t["tier"] for t in new])
    assert told == [1, 2, 3, 4]


def test_previous_tier_may_be_the_last_result():
    last = escalation(P0_K8S, START, at(16))
    assert [t["tier"] for t in escalation(P0_K8S, START, at(31), last)["newly_crossed"]] == [3]
    assert [t["tier"] for t in escalation(P0_K8S, START, at(31), "2")["newly_crossed"]] == [3]
    assert [t["tier"] for t in escalation(P0_K8S, START, at(16), None)["newly_crossed"]] == [1, 2]


def test_an_empty_policy_states_no_tier():
    result = escalation({}, START, at(90))
    assert result["tier"] == 0 and result["next"] is None and result["crossed"] == []
    assert result["summary"] == "no escalation policy is set"


def test_tier_numbers_default_to_their_position_and_minutes_may_be_fractions():
    lab = {"name": "lab", "update_every_minutes": 0.5,
           "tiers": [{"after_minutes": 0, "name": "on-call"}, {"after_minutes": "0.05", "name": "lead"}]}
    result = escalation(lab, START, "2026-01-01T10:00:04Z")
    assert result["tier"] == 2 and result["crossed"] == [1, 2]
    assert result["next_update_at"] == "2026-01-01T10:00:34+00:00"


def broken(path, value):
    policy = copy.deepcopy(SYSTEM_DOWN)
    target = policy
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return policy


@pytest.mark.parametrize("policy, field", [
    (broken(["name"], KeyError), "name"),
    (broken(["name"], " "), "name"),
    (broken(["tiers"], []), "tiers"),
    (broken(["tiers"], "15,30"), "tiers"),
    (broken(["tiers", 1, "after_minutes"], "soon"), "tiers[1].after_minutes"),
    (broken(["tiers", 1, "after_minutes"], -5), "tiers[1].after_minutes"),
    (broken(["tiers", 0, "after_minutes"], KeyError), "tiers[0].after_minutes"),
    (broken(["tiers", 2, "after_minutes"], True), "tiers[2].after_minutes"),
    (broken(["tiers", 2, "after_minutes"], 20), "tiers[2].after_minutes"),
    (broken(["tiers", 2, "tier"], 2), "tiers[2].tier"),
    (broken(["tiers", 0, "tier"], 0), "tiers[0].tier"),
    (broken(["tiers", 3, "name"], KeyError), "tiers[3].name"),
    (broken(["tiers", 0, "contacts"], [{"slack": "@x"}]), "tiers[0].contacts[0].name"),
    (broken(["tiers", 0, "contacts"], "@eng-lead"), "tiers[0].contacts"),
    (broken(["tiers", 0, "channels"], "#pynomaly-incidents"), "tiers[0].channels"),
    (broken(["tiers", 0], "Engineering Lead"), "tiers[0]"),
    (broken(["update_every_minutes"], 0), "update_every_minutes"),
    (["not", "a", "mapping"], "(the whole policy)"),
])
def test_a_bad_policy_is_refused_naming_the_field(policy, field):
    with pytest.raises(AnsibleFilterError) as refused:
        escalation(policy, START, at(20))
    assert str(refused.value).startswith(f"escalation policy: {field} ")


@pytest.mark.parametrize("started_at, now, field", [
    ("yesterday", at(1), "started_at"), ("", at(1), "started_at"), (START, "later", "now")])
def test_a_time_that_cannot_be_read_is_refused_naming_it(started_at, now, field):
    with pytest.raises(AnsibleFilterError, match=f"escalation: {field} must be an ISO 8601 time"):
        escalation(SYSTEM_DOWN, started_at, now)


def test_the_staging_policy_is_valid():
    staging = yaml.safe_load((ROOT / "inventories/staging/group_vars/all/escalation.yml").read_text())
    assert escalation(staging["escalation_policy"], START, at(31))["name"] == "Engineering Lead"
