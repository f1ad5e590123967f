#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: alertmanager_silence
short_description: Silence alerts in Alertmanager for a planned remediation, for a bounded time, and lift it
version_added: 1.0.0
description:
  - Before a planned remediation that will page (a restart, a failover), silences the alerts it will cause,
    so the on-call is not paged for the fix; afterwards, expires the silence (Alertmanager API v2).
  - A silence is known by its matchers and its O(comment) (put the incident id in it). With O(state=present),
    an active or pending silence with the same matchers and comment is left alone; otherwise one is created
    from now for O(duration_minutes), never more than a day, so a forgotten silence ends by itself.
  - With O(state=absent), every active or pending silence with those matchers (and that comment, when given)
    is expired.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.monitoring
  - sre.runbooks.attributes
attributes:
  check_mode:
    support: full
    details: Reports the silence it would create or expire, with a diff; sends nothing.
  diff_mode:
    support: full
  idempotent:
    support: full
    details: A silence with the same matchers and comment that is still active is left alone, C(changed=false).
options:
  state:
    description: C(present) creates the silence unless it is active; C(absent) expires it.
    type: str
    default: present
    choices: [present, absent]
  matchers:
    description:
      - The alerts to silence, each C(label=value), C(label!=value), C(label=~regex) or C(label!~regex); the value
        may be double-quoted. All must match. At least one must not match an empty label (Alertmanager's rule).
    type: list
    elements: str
    required: true
  comment:
    description:
      - Why, with the incident id, for example C(INC-42 planned restart of qdrant). Required with O(state=present).
      - With O(state=absent), only silences with this comment are expired; without it, every silence with O(matchers).
    type: str
  duration_minutes:
    description: How long the silence lasts from now, 1 to 1440 minutes.
    type: int
    default: 60
  created_by:
    description: Who the silence is from, as Alertmanager shows it.
    type: str
    default: sre.runbooks
"""

EXAMPLES = r"""
- name: Silence Qdrant alerts during its planned restart
  sre.runbooks.alertmanager_silence:
    url: http://alertmanager:9093
    matchers: [alertname=~"Qdrant.*", job=qdrant]
    comment: "{{ incident_id }} planned restart of qdrant"
    duration_minutes: 30
  register: silence

- name: Lift the silence once Qdrant is verified
  sre.runbooks.alertmanager_silence:
    url: http://alertmanager:9093
    state: absent
    matchers: [alertname=~"Qdrant.*", job=qdrant]
    comment: "{{ incident_id }} planned restart of qdrant"
"""

RETURN = r"""
msg:
  description: What was (or would be) done, or why nothing was needed.
  returned: always
  type: str
  sample: 'Silenced alertname=~"Qdrant.*", job="qdrant" for 30 minutes, until 2024-06-11T10:30:00Z.'
actions:
  description: What was done (or would be done in check mode), one sentence each; empty when nothing was needed.
  returned: always
  type: list
  elements: str
  sample: ['Create a silence of alertname=~"Qdrant.*", job="qdrant" for 30 minutes']
before:
  description: The active or pending silences with these matchers (and comment), C({silences}), before.
  returned: always
  type: dict
  sample: {silences: []}
after:
  description: The same after (in check mode, as it would be).
  returned: always
  type: dict
  sample:
    silences: [{id: 3f2b6c9e-0d55-4ab5-9a27-7a35a0f0c1de, matchers: ['alertname=~"Qdrant.*"', 'job="qdrant"'],
                comment: INC-42 planned restart of qdrant, createdBy: sre.runbooks, state: active,
                startsAt: "2024-06-11T10:00:00Z", endsAt: "2024-06-11T10:30:00Z"}]
silence_id:
  description: Id of the silence created or found (state=present; null in check mode when one would be created).
  returned: when state=present
  type: str
  sample: 3f2b6c9e-0d55-4ab5-9a27-7a35a0f0c1de
check_mode:
  description: True when this was a dry run.
  returned: always
  type: bool
  sample: false
"""

from datetime import datetime, timedelta, timezone

from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.prometheus import (
    CONNECTION_SPEC_OPTIONS,
    Alertmanager,
    MonitoringApiError,
    connection_argument_spec,
    matcher_key,
    parse_matchers,
)

LIVE = ("active", "pending")
MAX_MINUTES = 1440


def described(silence):
    return {"id": silence.get("id"), "matchers": matcher_key(silence.get("matchers") or []),
            "comment": silence.get("comment"), "createdBy": silence.get("createdBy"),
            "state": (silence.get("status") or {}).get("state"), "startsAt": silence.get("startsAt"),
            "endsAt": silence.get("endsAt")}


def _iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def ours(client, matchers, comment):
    """The live silences with exactly these matchers (and this comment, when given)."""
    wanted = matcher_key(matchers)
    return [s for s in client.silences() if (s.get("status") or {}).get("state") in LIVE
            and matcher_key(s.get("matchers") or []) == wanted and (comment is None or s.get("comment") == comment)]


def present(module, client, matchers, text, result):
    params = module.params
    found = ours(client, matchers, params["comment"])
    if found:
        result["silence_id"] = found[0]["id"]
        result["msg"] = (f"A silence of {text} is already {found[0]['status']['state']} until {found[0]['endsAt']}; "
                         "nothing to do.")
        return result
    start = datetime.now(timezone.utc)
    body = {"matchers": matchers, "startsAt": _iso(start),
            "endsAt": _iso(start + timedelta(minutes=params["duration_minutes"])),
            "createdBy": params["created_by"], "comment": params["comment"]}
    result["actions"] = [f"Create a silence of {text} for {params['duration_minutes']} minutes"]
    result["msg"] = f"Silence {text} for {params['duration_minutes']} minutes, until {body['endsAt']}."
    result["silence_id"] = None
    if module.check_mode:
        result["after"]["silences"].append(described(dict(body, status={"state": "active"})))
        return result
    try:
        result["silence_id"] = client.create_silence(body)
    except MonitoringApiError as exc:
        raise RunbookError(f"Alertmanager refused the silence: {exc.msg}", option="matchers") from None
    result["after"]["silences"] = [described(client.silence(result["silence_id"]))]
    result["msg"] = f"Silenced {text} for {params['duration_minutes']} minutes, until {body['endsAt']}."
    return result


def absent(module, client, result):
    text = ", ".join(s["id"] for s in result["before"]["silences"])
    if not result["before"]["silences"]:
        result["msg"] = "No active silence with these matchers; nothing to do."
        return result
    result["actions"] = [f"Expire silence {s['id']} ({s['comment']})" for s in result["before"]["silences"]]
    result["after"]["silences"] = []
    result["msg"] = f"Expire silence {text}."
    if not module.check_mode:
        for silence in result["before"]["silences"]:
            client.expire_silence(silence["id"])
        result["msg"] = f"Expired silence {text}."
    return result


def change(module):
    params = module.params
    if not params["matchers"]:
        raise RunbookError("matchers is empty: name the alerts to silence (a silence of everything is refused)",
                           option="matchers")
    if params["state"] == "present" and not (params["comment"] or "").strip():
        raise RunbookError("comment is required with state=present: say why, with the incident id", option="comment")
    matchers = parse_matchers(params["matchers"])
    client = Alertmanager(params)
    text = ", ".join(matcher_key(matchers))
    before = [described(s) for s in ours(client, matchers, params["comment"])]
    result = {"before": {"silences": before}, "after": {"silences": list(before)}, "actions": []}
    if params["state"] == "present":
        return present(module, client, matchers, text, result)
    return absent(module, client, result)


def main():
    module = RunbookModule(
        argument_spec=dict(connection_argument_spec(),
                           state={"type": "str", "default": "present", "choices": ["present", "absent"]},
                           matchers={"type": "list", "elements": "str", "required": True},
                           comment={"type": "str"},
                           duration_minutes={"type": "int", "default": 60},
                           created_by={"type": "str", "default": "sre.runbooks"}),
        bounds={"duration_minutes": (1, MAX_MINUTES)},
        supports_check_mode=True,
        **CONNECTION_SPEC_OPTIONS,
    )
    module.run_change(change)


if __name__ == "__main__":
    main()
