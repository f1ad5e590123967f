#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: slack_notify
short_description: Tell the incident channel, one Slack message updated through the incident
version_added: 1.1.0
description:
  - The runbooks' Acknowledge and Communicate, Communication Template and Post-Incident Communication steps, with
    the Slack Web API (C(chat.postMessage), C(chat.update)).
  - Posts the runbook's message for O(template) (or O(text)) to O(channel); with O(message_ts), or with a
    O(state_path) that holds the incident's message, it updates that message instead, so the channel shows one
    message per incident, not a stream. O(reply=true) also posts the text in the message's thread.
  - Templates fill the incident's real fields (status, impact, start time, actions taken, next update time,
    escalation tier); a field the incident does not have is left out.
  - Retries with backoff (and waits what Slack's C(Retry-After) asks). When Slack is down, rate-limits past the
    retries or refuses the token, the task still succeeds with C(notification.delivered=false) and
    C(notification.error), so the incident run goes on. It fails only for bad arguments.
  - The token is sent only in the C(Authorization) header and never appears in the result.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.attributes
attributes:
  check_mode:
    support: full
    details: Says what it would post or update (C(calls), C(notification.summary)); sends nothing.
  diff_mode:
    support: full
    details: The message before (as O(state_path) keeps it) and after.
  idempotent:
    support: partial
    details:
      - With O(state_path), a re-run updates the incident's message instead of posting another, and a re-run
        with the same text sends nothing (C(changed=false), C(notification.action=unchanged)).
      - Without O(state_path) and O(message_ts) every run posts a new message.
options:
  token:
    description:
      - Slack bot token (C(xoxb-...)) with the C(chat:write) scope; the bot must be in O(channel).
      - Taken from the environment variable C(SLACK_BOT_TOKEN) when not given. Never printed.
    type: str
    required: true
  api_url:
    description: Base URL of the Slack Web API.
    type: str
    default: https://slack.com/api
  channel:
    description:
      - Channel to post to, its id (C(C0123ABCD)) or its name (C(#pynomaly-incidents)).
      - With O(message_ts) it must be the channel id (the C(channel) this module returned), as C(chat.update) wants.
    type: str
    required: true
  template:
    description:
      - The runbook message to send, filled from O(incident).
      - C(outage) is the P0 initial message (status INVESTIGATING unless the incident says otherwise), C(update) a
        progress update, C(degradation) the LLM provider outage message (impact, workaround, ETA), C(resolved)
        the restored message (with the duration), C(escalation) the new escalation tier, its contacts and the next
        tier.
      - Exclusive with O(text); one of the two is required.
    type: str
    choices: [outage, update, degradation, resolved, escalation]
  text:
    description: The message to send as it is (Slack mrkdwn), instead of a template.
    type: str
  incident:
    description:
      - The incident the template is filled from. Keys used, all optional, C(id), C(title), C(severity),
        C(service), C(environment), C(status), C(impact), C(started_at), C(resolved_at), C(scenario) or
        C(scenarios), C(workaround), C(eta), C(escalation) (the C(sre.runbooks.escalation) filter's result),
        C(actions) (actions taken, sentences), C(planned) (steps still to come, sentences), C(summary),
        C(next_update_at). Timestamps are ISO 8601.
      - Its C(id) also ties O(state_path) to the incident, a state file of another incident is not updated.
    type: dict
    default: {}
  message_ts:
    description:
      - C(ts) of the message to update with C(chat.update) (with O(channel) as its channel id).
      - Takes precedence over O(state_path)'s message.
    type: str
  reply:
    description:
      - When a message is updated, also post the text in its thread, so the people following the thread are told.
      - Without a message to update (first post) nothing more is posted.
    type: bool
    default: false
  state_path:
    description:
      - JSON file that keeps the channel, C(ts) and text of the incident's message. When it holds this incident's
        message, the module updates that message instead of posting a new one; it writes the file after posting.
      - When the message it names was deleted (C(message_not_found)), a new message is posted.
    type: path
  retries:
    description: Retries after the first attempt when Slack does not answer, answers 5xx or rate-limits (0 to 10).
    type: int
    default: 3
  timeout:
    description: Seconds before one attempt counts as unanswered. The whole task takes at most O(timeout) times
      (O(retries) + 1), plus 60 s of waiting between attempts.
    type: float
    default: 10.0
  validate_certs:
    description: Verify Slack's TLS certificate.
    type: bool
    default: true
notes:
  - Uses only the Python standard library; runs on the controller or any host that reaches Slack.
  - A post that timed out may still have reached Slack; its retry can then post the message twice.
seealso:
  - module: sre.runbooks.statuspage_incident
"""

EXAMPLES = r"""
- name: Acknowledge and communicate (P0 initial message)
  sre.runbooks.slack_notify:
    channel: "#pynomaly-incidents"
    template: outage
    incident: "{{ incident | combine({'impact': 'All users unable to access the system',
                                      'next_update_at': next_update_at}) }}"
    state_path: "incidents/{{ incident.id }}/slack.json"
  vars:
    next_update_at: "{{ '%Y-%m-%dT%H:%M:%SZ' | strftime(now().timestamp() + 900, utc=true) }}"
  register: slack_message

- name: Post the update on the same message, and in its thread
  sre.runbooks.slack_notify:
    channel: "{{ slack_message.channel }}"
    template: update
    incident: "{{ incident | combine({'status': 'identified', 'actions': incident_actions_taken}) }}"
    state_path: "incidents/{{ incident.id }}/slack.json"
    reply: true

- name: Tell the channel the system is restored
  sre.runbooks.slack_notify:
    channel: "#pynomaly-incidents"
    template: resolved
    incident: "{{ incident | combine({'resolved_at': now(utc=true).isoformat()}) }}"
    state_path: "incidents/{{ incident.id }}/slack.json"
    reply: true
"""

RETURN = r"""
msg:
  description: What was sent (or would be, in check mode), or why it was not delivered.
  returned: always
  type: str
  sample: "Posted the outage message to #pynomaly-incidents (ts 1716800000.000100)."
channel:
  description: Id of the channel of the message (as Slack returned it; the O(channel) given when nothing answered).
  returned: always
  type: str
  sample: C0LABINC01
ts:
  description: C(ts) of the incident's message (empty when nothing was posted).
  returned: always
  type: str
  sample: "1716800000.000100"
reply_ts:
  description: C(ts) of the reply posted in the message's thread.
  returned: when a reply was posted
  type: str
  sample: "1716800300.000200"
notification:
  description:
    - C(service) slack; C(action) post, update, reply (an update and its thread reply) or unchanged; C(delivered);
      C(attempts) (HTTP requests made, retries included); C(summary) (the text sent); C(ref) (the message's C(ts));
      C(error) (only when not delivered, for example C(Slack refused the token (invalid_auth))).
  returned: always
  type: dict
  sample: {service: slack, action: update, delivered: true, attempts: 1, ref: "1716800000.000100",
           summary: "*P0 INCIDENT UPDATE* ..."}
calls:
  description: The Slack API calls made (or, in check mode, that would be made), without the text and the token.
  returned: always
  type: list
  elements: dict
  sample: [{method: chat.update, channel: C0LABINC01, ts: "1716800000.000100"}]
actions:
  description: What was done (or would be done in check mode), one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["Update message 1716800000.000100 in C0LABINC01"]
before:
  description: The message (C(channel), C(ts), C(text)) as O(state_path) knew it before; empty when none.
  returned: always
  type: dict
  sample: {}
after:
  description: The message as it is now (or would be).
  returned: always
  type: dict
  sample: {channel: C0LABINC01, ts: "1716800000.000100", text: "..."}
check_mode:
  description: True when this was a dry run.
  returned: always
  type: bool
  sample: false
"""

import json
import os
import re
from datetime import datetime, timezone

from ansible.module_utils.basic import env_fallback

from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.notify import (
    CONNECTION_BOUNDS,
    TEMPLATES,
    check_connection,
    connection_argument_spec,
    notification,
    render,
    slack,
)


def validate(params):
    """The message text; RunbookError naming the option for what the argument spec cannot say."""
    if not (params["channel"] or "").strip():
        raise RunbookError("channel is empty: give the channel id (C0123ABCD) or name (#pynomaly-incidents).",
                           option="channel")
    check_connection(params, "token")
    if params["message_ts"] is not None and not re.match(r"^\d+\.\d+$", params["message_ts"]):
        raise RunbookError(f"message_ts must be a Slack ts such as 1716800000.000100, not {params['message_ts']!r}.",
                           option="message_ts")
    text = render(params["template"], params["incident"]) if params["template"] else params["text"]
    if not (text or "").strip():
        raise RunbookError("text is empty: give the message, or a template.", option="text")
    return text


def read_state(path):
    """The message a state file keeps ({channel, ts, text, incident_id}), None when there is no file yet."""
    if not path or not os.path.exists(path):
        return None
    try:
        with open(path) as handle:
            stored = json.load(handle)
    except (OSError, ValueError) as exc:
        raise RunbookError(f"state_path {path} cannot be read as JSON ({exc}); remove it or fix it.",
                           option="state_path") from None
    if not isinstance(stored, dict) or not stored.get("channel") or not stored.get("ts"):
        raise RunbookError(f"state_path {path} does not hold a message (channel and ts); remove it or fix it.",
                           option="state_path")
    return stored


def write_state(path, stored):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as handle:
        json.dump(stored, handle, indent=2, sort_keys=True)
    os.replace(tmp, path)


def target_message(params, stored, incident_id):
    """(channel, ts) of the message to update and where it came from, or (None, None, None) to post."""
    if params["message_ts"]:
        return params["channel"], params["message_ts"], "message_ts"
    if stored and (incident_id is None or stored.get("incident_id") in (None, incident_id)):
        return stored["channel"], stored["ts"], "state_path"
    return None, None, None


def plan_calls(params, channel, ts):
    if ts is None:
        return [{"method": "chat.postMessage", "channel": channel}]
    calls = [{"method": "chat.update", "channel": channel, "ts": ts}]
    if params["reply"]:
        calls.append({"method": "chat.postMessage", "channel": channel, "thread_ts": ts})
    return calls


def send(module, text, channel, ts, source, result):
    """Make the calls; fills result (channel, ts, reply_ts, calls, actions); returns (action, error, attempts, note)."""
    params = module.params
    attempts, note = 0, ""
    if ts is not None:
        answer, error, used = slack(params, "chat.update", {"channel": channel, "ts": ts, "text": text})
        attempts += used
        if answer is None and source == "state_path" and "(message_not_found)" in error:
            note = f" (message {ts} of state_path is gone from {channel})"
            ts = None
        elif answer is None:
            return "update", error, attempts, note
        else:
            result.update(channel=answer.get("channel") or channel, ts=answer.get("ts") or ts)
            result["actions"].append(f"Update message {ts} in {result['channel']}")
    if ts is None:
        result["calls"] = plan_calls(params, params["channel"], None)
        answer, error, used = slack(params, "chat.postMessage", {"channel": params["channel"], "text": text,
                                                                 "unfurl_links": False, "unfurl_media": False})
        attempts += used
        if answer is None:
            return "post", error, attempts, note
        result.update(channel=answer.get("channel") or params["channel"], ts=str(answer.get("ts") or ""))
        result["actions"].append(f"Post the message to {params['channel']} (ts {result['ts']})")
        return "post", None, attempts, note
    if not params["reply"]:
        return "update", None, attempts, note
    answer, error, used = slack(params, "chat.postMessage", {"channel": result["channel"], "thread_ts": result["ts"],
                                                             "text": text})
    attempts += used
    if answer is None:
        return "reply", f"{error}; the message itself was updated", attempts, note
    result["reply_ts"] = str(answer.get("ts") or "")
    result["actions"].append(f"Reply in the thread of {result['ts']} (ts {result['reply_ts']})")
    return "reply", None, attempts, note


def notify(module):
    params = module.params
    text = validate(params)
    incident_id = (params["incident"] or {}).get("id")
    incident_id = str(incident_id) if incident_id not in (None, "") else None
    stored = read_state(params["state_path"])
    channel, ts, source = target_message(params, stored, incident_id)
    before = {k: stored.get(k) for k in ("channel", "ts", "text")} if stored and source == "state_path" else {}
    what = f"the {params['template']} message" if params["template"] else "the message"
    channel = channel or params["channel"]
    result = {"channel": channel, "ts": ts or "", "calls": plan_calls(params, channel, ts), "actions": [],
              "before": before}
    if source == "state_path" and stored.get("text") == text:
        result.update(after=before, changed=False, msg=f"Message {ts} in {channel} already says this; nothing sent.",
                      calls=[], notification=notification("slack", "unchanged", True, 0, text, ts))
        return result
    if module.check_mode:
        action = "post" if ts is None else "reply" if params["reply"] else "update"
        result["actions"] = [f"{c['method']} in {c['channel']}" + (f" (ts {c['ts']})" if c.get("ts") else "")
                             + (f" (thread {c['thread_ts']})" if c.get("thread_ts") else "") for c in result["calls"]]
        result.update(after={"channel": result["channel"], "ts": ts or "", "text": text}, changed=True,
                      msg=f"Would {'post' if ts is None else 'update'} {what} in {result['channel']}"
                          + (" and reply in its thread" if action == "reply" else "") + "; nothing was sent.",
                      notification=notification("slack", action, False, 0, text, ts))
        return result
    action, error, attempts, note = send(module, text, channel, ts, source, result)
    result["after"] = {"channel": result["channel"], "ts": result["ts"], "text": text} if result["ts"] else before
    delivered = error is None
    result["changed"] = bool(result["actions"])
    result["notification"] = notification("slack", action, delivered, attempts, text, result["ts"], error)
    if params["state_path"] and result["actions"] and result["ts"]:
        write_state(params["state_path"], {"channel": result["channel"], "ts": result["ts"], "text": text,
                                           "incident_id": incident_id,
                                           "updated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")})
    if delivered and action == "post":
        result["msg"] = f"Posted {what} to {params['channel']} (ts {result['ts']}){note}."
    elif delivered:
        result["msg"] = (f"Updated message {result['ts']} in {result['channel']} with {what}"
                         + (" and replied in its thread" if action == "reply" else "") + ".")
    else:
        result["msg"] = f"{error}{note}; not delivered, the run goes on."
    return result


def main():
    module = RunbookModule(
        argument_spec={
            "token": {"type": "str", "required": True, "no_log": True, "fallback": (env_fallback, ["SLACK_BOT_TOKEN"])},
            "api_url": {"type": "str", "default": "https://slack.com/api"},
            "channel": {"type": "str", "required": True},
            "template": {"type": "str", "choices": list(TEMPLATES)},
            "text": {"type": "str"},
            "incident": {"type": "dict", "default": {}},
            "message_ts": {"type": "str"},
            "reply": {"type": "bool", "default": False},
            "state_path": {"type": "path"},
        },
        shared=(connection_argument_spec,),
        bounds=CONNECTION_BOUNDS,
        mutually_exclusive=[("template", "text")],
        required_one_of=[("template", "text")],
        supports_check_mode=True,
    )
    module.run_change(notify)


if __name__ == "__main__":
    main()
