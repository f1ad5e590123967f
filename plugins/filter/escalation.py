# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Escalation by the incident's elapsed time, from a policy kept as inventory data.

The two runbooks disagree on the path (system-down-ec2-rds.md: 15/30/45/60 minutes to Engineering Lead, VP
Engineering, CTO, executive communication; p0-kubernetes-llm.md: 0/15/30/60 to on-call, Engineering Manager,
CTO, executive briefing), so the path is data: inventories/production/group_vars/all/escalation.yml ships both.

The filter is documented in escalation.yml beside this file.
"""

import math
from datetime import UTC, datetime, timedelta

from ansible.errors import AnsibleFilterError

from ansible_collections.sre.runbooks.plugins.module_utils.timestamps import parse_time

# The runbooks' P0 template: "updates every 15 minutes".
UPDATE_EVERY_MINUTES = 15


def _fail(field, problem):
    raise AnsibleFilterError(f"escalation policy: {field} {problem}")


def _minutes(value, field, positive=False):
    if isinstance(value, bool) or value is None or value == "":
        _fail(field, f"must be a number of minutes (got {value!r})")
    try:
        minutes = float(value)
    except (TypeError, ValueError):
        _fail(field, f"must be a number of minutes (got {value!r})")
    if not math.isfinite(minutes) or minutes < 0 or (positive and minutes == 0):
        _fail(field, f"must be a number of minutes {'above' if positive else 'of at least'} 0 (got {value!r})")
    return minutes


def _text(value, field):
    if not isinstance(value, str) or not value.strip():
        _fail(field, f"must be a non-empty text (got {value!r})")
    return value


def _contacts(value, field):
    if value is None:
        return []
    if not isinstance(value, list):
        _fail(field, "must be a list of contacts ({name, role, slack, phone})")
    contacts = []
    for index, contact in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(contact, dict):
            _fail(where, f"must be a contact ({{name, role, slack, phone}}), got {contact!r}")
        _text(contact.get("name"), where + ".name")
        for key in ("role", "slack", "phone"):
            if contact.get(key) is not None and not isinstance(contact[key], str):
                _fail(f"{where}.{key}", f"must be a text (got {contact[key]!r})")
        contacts.append({key: contact[key] for key in ("name", "role", "slack", "phone") if contact.get(key)})
    return contacts


def _channels(value, field):
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(one, str) and one for one in value):
        _fail(field, f"must be a list of channel names (got {value!r})")
    return list(value)


def validate_policy(policy):
    """The policy's tiers (numbered, ordered, with minutes as floats) and its update interval.

    An empty policy (or none) has no tiers. A policy that is set but wrong raises AnsibleFilterError naming the field.
    """
    if not policy:
        return [], float(UPDATE_EVERY_MINUTES)
    if not isinstance(policy, dict):
        _fail("(the whole policy)", "must be a mapping {name, tiers, update_every_minutes}")
    _text(policy.get("name"), "name")
    raw = policy.get("tiers")
    if not isinstance(raw, list) or not raw:
        _fail("tiers", "must be a non-empty list of {tier, after_minutes, name, contacts, channels}")
    every = policy.get("update_every_minutes", UPDATE_EVERY_MINUTES)
    every = _minutes(every, "update_every_minutes", positive=True)
    tiers = []
    for index, tier in enumerate(raw):
        field = f"tiers[{index}]"
        if not isinstance(tier, dict):
            _fail(field, f"must be a mapping {{tier, after_minutes, name, contacts, channels}}, got {tier!r}")
        number = tier.get("tier", index + 1)
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            _fail(field + ".tier", f"must be a whole number from 1 (got {number!r})")
        after = _minutes(tier.get("after_minutes"), field + ".after_minutes")
        if tiers and number <= tiers[-1]["tier"]:
            _fail(field + ".tier", f"must be above the tier before it ({tiers[-1]['tier']}), got {number}")
        if tiers and after < tiers[-1]["after_minutes"]:
            _fail(field + ".after_minutes",
                  f"must not come before the tier before it ({tiers[-1]['after_minutes']:g}), got {after:g}")
        message = tier.get("message")
        if message is not None and not isinstance(message, str):
            _fail(field + ".message", f"must be a text (got {message!r})")
        tiers.append({"tier": number, "after_minutes": after, "name": _text(tier.get("name"), field + ".name"),
                      "contacts": _contacts(tier.get("contacts"), field + ".contacts"),
                      "channels": _channels(tier.get("channels"), field + ".channels"), "message": message or ""})
    return tiers, every


def _when(value, field):
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    when = parse_time(value)
    if when is None:
        raise AnsibleFilterError(f"escalation: {field} must be an ISO 8601 time such as 2026-01-01T10:00:00Z "
                                 f"(got {value!r})")
    return when


def _previous(value):
    if isinstance(value, dict):
        value = value.get("tier")
    if value in (None, ""):
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"escalation: previous_tier must be a tier number (got {value!r})") from None


def _iso(when):
    return when.astimezone(UTC).isoformat(timespec="seconds")


def _summary(name, current, following, elapsed):
    if not name:
        return "no escalation policy is set"
    if not current:
        now = f"{name}: no tier reached at minute {elapsed:g}"
    else:
        now = f"{name}: tier {current['tier']} ({current['name']}) since minute {current['after_minutes']:g}"
    if following:
        return f"{now}; next tier {following['tier']} ({following['name']}) at minute {following['after_minutes']:g}"
    return now + ("; no further tier" if current else "")


def escalation(policy, started_at, now=None, previous_tier=None):
    """The tier the incident is at after its elapsed time, the next one, and the update schedule."""
    tiers, every = validate_policy(policy)
    start = _when(started_at, "started_at")
    current_time = datetime.now(UTC) if now in (None, "") else _when(now, "now")
    elapsed = max(0.0, (current_time - start).total_seconds() / 60)
    reached = [tier for tier in tiers if tier["after_minutes"] <= elapsed]
    ahead = [tier for tier in tiers if tier["after_minutes"] > elapsed]
    current = reached[-1] if reached else None
    following = ahead[0] if ahead else None
    since = _previous(previous_tier)
    name = (policy or {}).get("name", "")
    return {
        "policy": name,
        "tier": current["tier"] if current else 0,
        "name": current["name"] if current else "",
        "contacts": current["contacts"] if current else [],
        "channels": current["channels"] if current else [],
        "message": current["message"] if current else "",
        "elapsed_minutes": round(elapsed, 2),
        "next": {"tier": following["tier"], "name": following["name"], "at_minutes": following["after_minutes"],
                 "at": _iso(start + timedelta(minutes=following["after_minutes"]))} if following else None,
        "crossed": [tier["tier"] for tier in reached],
        "newly_crossed": [dict(tier) for tier in reached if tier["tier"] > since],
        "update_every_minutes": every,
        "next_update_at": _iso(current_time + timedelta(minutes=every)),
        "summary": _summary(name, current, following, round(elapsed, 2)),
    }


class FilterModule:
    def filters(self):
        return {"escalation": escalation}
