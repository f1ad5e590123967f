# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Telling people: the runbooks' message templates and the HTTP calls of slack_notify and statuspage_incident.

- ``render(template, incident)``: the runbooks' Slack messages (Communication Template, Acknowledge and
  Communicate, Post-Incident Communication, Escalation) filled from an incident dict; a field that is missing is
  left out, never shown as None.
- ``call(...)``: one API request with retries and backoff. Connection failures, timeouts, 5xx and rate limits
  (420/429, waiting what ``Retry-After`` asks) are retried; the total time is bounded. It never raises for a
  service that is down or refuses: the failure comes back as a sentence for the module's ``notification.error``,
  so the incident run goes on.
- ``slack(...)`` and ``statuspage(...)``: ``call`` with each API's authentication and its errors in words.
"""

import json
import re
import time
from email.utils import parsedate_to_datetime

from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.http_client import fetch
from ansible_collections.sre.runbooks.plugins.module_utils.timestamps import parse_time

TEMPLATES = ("outage", "update", "degradation", "resolved", "escalation")
RETRY_STATUSES = (408, 420, 429, 500, 502, 503, 504)
RATE_LIMITED = (420, 429)
MAX_BACKOFF = 8.0
# Seconds a run may spend waiting between attempts in all (Retry-After included): the rest of the incident
# run must not wait for a chat service.
MAX_WAITING = 60.0
USER_AGENT = "sre.runbooks (+https://github.com/sre/runbooks)"

HEADLINES = {
    "outage": "\U0001F6A8 *{severity}INCIDENT*",
    "update": "\U0001F504 *{severity}INCIDENT UPDATE*",
    "degradation": "\u26A0\uFE0F *SERVICE DEGRADATION*",
    "resolved": "\u2705 *RESOLVED*",
    "escalation": "\U0001F4E3 *ESCALATION*",
}
DEFAULT_STATUS = {"outage": "investigating", "resolved": "resolved"}
RESOLVED_LINE = "System restored{at}. All services operational."
STATUSPAGE_BODIES = {
    "investigating": "We are investigating reports of service unavailability.",
    "identified": "The issue has been identified and a fix is being implemented.",
    "monitoring": "A fix has been implemented and we are monitoring the results.",
    "resolved": "This incident has been resolved. All services are operational.",
}


# -- templates -------------------------------------------------------------------------------------------------
def present(value):
    """True when a field has something to show (None, empty and the text None are missing)."""
    if value is None or (isinstance(value, (str, list, tuple, dict)) and not value):
        return False
    return str(value).strip() not in ("", "None")


def when(value, fmt="%Y-%m-%d %H:%M UTC"):
    """A timestamp as people read it in a chat; the text itself when it is not a timestamp."""
    parsed = parse_time(value)
    return parsed.strftime(fmt) if parsed else str(value)


def minutes_between(start, end):
    first, last = parse_time(start), parse_time(end)
    if first is None or last is None or last < first:
        return None
    return round((last - first).total_seconds() / 60.0)


def label_of(item):
    """One action or scenario as text: a string, or a dict's summary/msg/title/name/id."""
    if isinstance(item, dict):
        for key in ("summary", "msg", "title", "name", "description", "id"):
            if present(item.get(key)):
                return str(item[key])
        return None
    return str(item) if present(item) else None


def listed(value):
    values = value if isinstance(value, (list, tuple)) else [value]
    return [text for text in (label_of(v) for v in values if present(v)) if text]


def escalation_text(escalation):
    """'tier 2, Engineering Manager (@eng-manager)' from the escalation filter's result (or a plain value)."""
    if not isinstance(escalation, dict):
        return str(escalation) if present(escalation) else None
    parts = []
    if present(escalation.get("tier")):
        parts.append(f"tier {escalation['tier']}")
    if present(escalation.get("name")):
        parts.append(str(escalation["name"]))
    text = ", ".join(parts)
    contacts = listed(escalation.get("contacts"))
    if contacts:
        text += f" ({', '.join(contacts)})"
    return text or None


def next_escalation(escalation):
    upcoming = escalation.get("next") if isinstance(escalation, dict) else None
    if not isinstance(upcoming, dict):
        return None
    text = escalation_text({"tier": upcoming.get("tier"), "name": upcoming.get("name")})
    if text and present(upcoming.get("at_minutes")):
        text += f" at {float(upcoming['at_minutes']):g} min"
    return text


def render(template, incident):
    """The message of a template ("outage", "update", "degradation", "resolved", "escalation") for an incident.

    incident keys used (all optional): id, title, severity, service, environment, status, impact, started_at,
    resolved_at, scenario or scenarios, workaround, eta, escalation (the escalation filter's result),
    actions (actions taken), planned (steps still to come), summary, next_update_at.
    """
    if template not in TEMPLATES:
        raise ValueError(f"template must be one of {', '.join(TEMPLATES)}, not {template!r}")
    inc = {k: v for k, v in (incident or {}).items() if present(v)}
    severity = f"{inc['severity']} " if "severity" in inc else ""
    headline = HEADLINES[template].format(severity=severity)
    if "title" in inc:
        headline += f" - {inc['title']}"
    lines = [headline, ""]

    def line(label, value):
        if present(value):
            lines.append(f"*{label}*: {value}")

    where = ", ".join(str(inc[k]) for k in ("service", "environment") if k in inc)
    if "id" in inc:
        line("Incident", f"{inc['id']} ({where})" if where else inc["id"])
    elif where:
        line("Service", where)
    if template == "escalation":
        line("Escalated to", escalation_text(inc.get("escalation")))
        if isinstance(inc.get("escalation"), dict):
            elapsed = inc["escalation"].get("elapsed_minutes")
            line("Elapsed", f"{float(elapsed):g} min" if present(elapsed) else None)
            line("Channels", ", ".join(listed(inc["escalation"].get("channels"))))
    status = inc.get("status") or DEFAULT_STATUS.get(template)
    line("Status", str(status).upper() if present(status) else None)
    line("Impact", inc.get("impact"))
    line("Started", when(inc["started_at"]) if "started_at" in inc else None)
    if template == "resolved":
        line("Resolved", when(inc["resolved_at"]) if "resolved_at" in inc else None)
        duration = minutes_between(inc.get("started_at"), inc.get("resolved_at"))
        line("Duration", f"{duration} min" if duration is not None else None)
    line("Scenario", ", ".join(listed(inc.get("scenarios", inc.get("scenario")))))
    line("Workaround", inc.get("workaround"))
    line("ETA", inc.get("eta"))
    if template != "escalation":
        line("Escalation", escalation_text(inc.get("escalation")))
    actions = listed(inc.get("actions", inc.get("actions_taken")))
    if actions:
        lines.append("*Actions Taken*:")
        lines.extend(f"- {action}" for action in actions)
    planned = listed(inc.get("planned"))
    if planned:
        lines.append("*Next steps*:")
        lines.extend(f"- {step}" for step in planned)
    if template == "resolved":
        lines.extend(["", RESOLVED_LINE.format(at=" at " + when(inc["resolved_at"]) if "resolved_at" in inc else "")])
    if "summary" in inc:
        lines.extend(["", str(inc["summary"])])
    if template == "escalation":
        upcoming = next_escalation(inc.get("escalation"))
        if upcoming:
            lines.extend(["", f"Next escalation: {upcoming}"])
    if template != "resolved" and "next_update_at" in inc:
        lines.extend(["", f"Next update: {when(inc['next_update_at'], '%H:%M UTC')}"])
    while lines[-1] == "":
        lines.pop()
    return "\n".join(lines)


def statuspage_body(state):
    """The runbooks' Statuspage text for an incident status, when no body is given."""
    return STATUSPAGE_BODIES[state]


# -- HTTP --------------------------------------------------------------------------------------------------
def retry_after(headers, now=None):
    """Seconds a Retry-After header asks for (delta seconds or an HTTP date), or None."""
    value = (headers or {}).get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, moment.timestamp() - (now if now is not None else time.time()))


def call(request, retries, timeout, sender=fetch, sleep=time.sleep):
    """One request (http_client.fetch's dict, without timeout) tried up to retries + 1 times.

    Retried: no answer (refused, timed out), 408, 5xx, and 420/429 after their Retry-After (else the backoff).
    Backoff 0.5 s, 1 s, 2 s ... up to 8 s; waiting stops once MAX_WAITING seconds would be passed in all, so a
    call takes at most timeout * (retries + 1) + 60 s. Returns fetch()'s result with attempts, waited
    (seconds slept) and gave_up (why the waiting stopped early, or None).
    """
    attempts, waited, gave_up = 0, 0.0, None
    while True:
        attempts += 1
        result = sender(dict(request, timeout=timeout))
        code = result["status_code"]
        if not (code is None or code in RETRY_STATUSES) or attempts > retries:
            break
        pause = min(MAX_BACKOFF, 0.5 * 2 ** (attempts - 1))
        if code in RATE_LIMITED:
            asked = retry_after(result["headers"])
            pause = asked if asked is not None else pause
        if waited + pause > MAX_WAITING:
            gave_up = f"waiting {pause:g} s more would pass the {MAX_WAITING:g} s bound"
            break
        sleep(pause)
        waited += pause
    result.update(attempts=attempts, waited=round(waited, 3), gave_up=gave_up)
    return result


def parse_json(text):
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def hide(text, secrets):
    """text with every secret replaced by ***."""
    text = str(text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def tries(result):
    count = result["attempts"]
    return f"{count} attempt{'' if count == 1 else 's'}"


def unanswered(service, result):
    """Why a request got no usable answer, in words (no answer, 5xx, rate limit), or None."""
    code = result["status_code"]
    if code is None:
        return f"{service} did not answer ({result['error']}) after {tries(result)}"
    if code in RATE_LIMITED:
        asked = retry_after(result["headers"])
        wait = f", Retry-After {asked:g} s" if asked is not None else ""
        gave_up = f"; {result['gave_up']}" if result["gave_up"] else ""
        return f"{service} rate-limited the request (HTTP {code}{wait}) after {tries(result)}{gave_up}"
    if code >= 500 or code == 408:
        return f"{service} answered HTTP {code} after {tries(result)}"
    return None


SLACK_ERRORS = {
    "not_authed": "Slack got no token (not_authed)",
    "invalid_auth": "Slack refused the token (invalid_auth)",
    "account_inactive": "Slack refused the token: its account is inactive (account_inactive)",
    "token_revoked": "Slack refused the token: it was revoked (token_revoked)",
    "token_expired": "Slack refused the token: it expired (token_expired)",
    "missing_scope": "Slack refused the call: the token lacks the chat:write scope (missing_scope)",
    "channel_not_found": "Slack has no channel {channel} that the bot can see (channel_not_found)",
    "not_in_channel": "The bot is not in channel {channel}: invite it (not_in_channel)",
    "is_archived": "Channel {channel} is archived (is_archived)",
    "message_not_found": "Slack has no message {ts} in channel {channel} (message_not_found)",
    "thread_not_found": "Slack has no thread {ts} in channel {channel} (thread_not_found)",
    "cant_update_message": "Slack refused to update message {ts}: the bot did not post it (cant_update_message)",
    "msg_too_long": "Slack refused the message: it is too long (msg_too_long)",
}


def slack(params, method, payload, sender=fetch, sleep=time.sleep):
    """One Slack Web API call: (answer dict or None, error sentence or None, attempts)."""
    token = params["token"]
    request = {"url": f"{params['api_url'].rstrip('/')}/{method}", "method": "POST",
               "headers": {"Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=utf-8",
                           "Accept": "application/json", "User-Agent": USER_AGENT},
               "data": json.dumps(payload).encode("utf-8"), "validate_certs": params["validate_certs"]}
    result = call(request, params["retries"], params["timeout"], sender, sleep)
    problem = unanswered("Slack", result)
    if problem:
        return None, hide(problem, [token]), result["attempts"]
    body = parse_json(result["body"])
    if not isinstance(body, dict) or "ok" not in body:
        return None, f"Slack answered HTTP {result['status_code']} without its JSON", result["attempts"]
    if not body["ok"]:
        code = str(body.get("error") or "unknown_error")
        where = {"channel": payload.get("channel", ""), "ts": payload.get("ts") or payload.get("thread_ts") or ""}
        text = SLACK_ERRORS.get(code, "Slack refused the request ({error})").format(error=code, **where)
        return None, hide(text, [token]), result["attempts"]
    return body, None, result["attempts"]


def statuspage(params, method, path, payload=None, sender=fetch, sleep=time.sleep):
    """One Statuspage REST call (path after /v1): (answer or None, error sentence or None, attempts)."""
    key = params["api_key"]
    request = {"url": f"{params['api_url'].rstrip('/')}{path}", "method": method,
               "headers": {"Authorization": f"OAuth {key}", "Accept": "application/json", "User-Agent": USER_AGENT},
               "validate_certs": params["validate_certs"]}
    if payload is not None:
        request["headers"]["Content-Type"] = "application/json"
        request["data"] = json.dumps(payload).encode("utf-8")
    result = call(request, params["retries"], params["timeout"], sender, sleep)
    problem = unanswered("Statuspage", result)
    if problem:
        return None, hide(problem, [key]), result["attempts"]
    code, body = result["status_code"], parse_json(result["body"])
    if 200 <= code < 300 and body is not None:
        return body, None, result["attempts"]
    said = body.get("error") if isinstance(body, dict) else None
    said = "; ".join(str(s) for s in said) if isinstance(said, list) else said
    page = params["page_id"]
    if code == 401:
        text = f"Statuspage refused the API key (HTTP 401{', ' + said if said else ''})"
    elif code == 403:
        text = f"Statuspage refused the API key access to page {page} (HTTP 403)"
    elif code == 404 and "/incidents/" in path:
        text = f"Statuspage has no incident {path.rsplit('/', 1)[-1]} on page {page} (HTTP 404)"
    elif code == 404:
        text = f"Statuspage has no page {page} (HTTP 404)"
    elif code == 422:
        text = f"Statuspage rejected the incident ({said or 'HTTP 422'})"
    else:
        text = f"Statuspage answered HTTP {code}{f' ({said})' if said else ''}"
    return None, hide(text, [key]), result["attempts"]


def connection_argument_spec():
    """The options both messaging modules share (each documents them)."""
    return {
        "retries": {"type": "int", "default": 3},
        "timeout": {"type": "float", "default": 10.0},
        "validate_certs": {"type": "bool", "default": True},
    }


CONNECTION_BOUNDS = {"retries": (0, 10), "timeout": (0.1, 300)}


def check_connection(params, secret_option):
    """RunbookError naming the option for an api_url that is not http(s) or a secret with blanks in it (a token
    pasted with its label or a line break would be sent as is and refused)."""
    if re.search(r"[\s\x00-\x1f\x7f]", params[secret_option]):
        raise RunbookError(f"{secret_option} contains whitespace or control characters; pass it alone.",
                           option=secret_option)
    if not re.match(r"^https?://", params["api_url"]):
        raise RunbookError("api_url must start with http:// or https://.", option="api_url")


def notification(service, action, delivered, attempts, summary, ref, error=None):
    """The notification dict every message result carries (see the modules' RETURN)."""
    found = {"service": service, "action": action, "delivered": bool(delivered), "attempts": attempts,
             "summary": summary, "ref": ref or ""}
    if error:
        found["error"] = error
    return found
