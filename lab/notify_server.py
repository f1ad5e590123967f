"""Slack and Statuspage as a lab service: a recording stand-in, because the real services cannot be reached here.

The lab has no way out to slack.com or api.statuspage.io (and a drill must not page anyone), so this one process
receives both APIs as those services do and records every request it gets, so that tests assert exactly what was
sent and that no secret leaked (the token may appear only in the ``Authorization`` header):

    python -m lab.notify_server --port P --state-file <lab>/notify/state.json \
        --requests-file <lab>/notify/requests.jsonl

- Slack Web API, ``POST /api/<method>`` (JSON or form body, ``Authorization: Bearer xoxb-...``): ``chat.postMessage``
  (``thread_ts`` puts the reply in its parent's thread), ``chat.update`` (of a message it holds), ``auth.test``,
  ``conversations.replies``. Answers as Slack does: HTTP 200 with ``{"ok": true, "channel", "ts", "message"}`` or
  ``{"ok": false, "error": "not_authed" | "invalid_auth" | "channel_not_found" | "message_not_found" |
  "thread_not_found" | "no_text" | "unknown_method"}``; 429 with ``Retry-After`` when rate-limited. A channel is
  named by its id (``C...``) or, for chat.postMessage only, by its name (``#pynomaly-incidents``).
- Statuspage REST API, ``/v1/pages/{page_id}/...`` (``Authorization: OAuth <key>``, JSON ``{"incident": {...}}`` or
  the form ``incident[name]=...`` bodies): ``GET incidents`` (``q``, ``limit``, ``page``), ``GET
  incidents/unresolved``, ``POST incidents`` (201), ``GET|PATCH|PUT incidents/{id}``, ``GET components``. Incidents
  have id, name, status, impact (``impact_override``, else from the worst component), shortlink, created_at,
  monitoring_at, resolved_at, ``incident_updates`` (newest first, one per change of status or body) and
  ``components``; ``components: {id: status}`` sets those components' status on the page. Errors: 401
  ``{"error": "Could not authenticate"}``, 404 ``{"error": "Not found"}``, 422 ``{"error": [...]}``, 429 with
  ``Retry-After``.
- Each request is one line of the requests file: ``{time, service, method, path (with the query), headers, body
  (JSON, the form as a dict, or text), status}``; the control endpoints below are not recorded.
- ``GET /lab/state``: messages, incidents, components and switches; ``POST /lab/control`` ``{"service": "slack" |
  "statuspage" | "both", "mode": "ok" | "down", "rate_limit": N, "retry_after": S, "reject_token": bool}``: down
  answers 503 to everything, ``rate_limit`` answers the next N requests 429, ``reject_token`` refuses every
  token; ``POST /lab/reset``: no messages, no incidents, every component operational, switches off, no requests.

The process keeps its state in memory and writes it to the state file after every change (for ``lab status``).
This module's up/down/status/requests/reset and the fault ``notify-down`` (both APIs answer 503) drive it.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import re
import secrets
import string
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, parse_qsl, urlsplit

from lab.core import REPO_ROOT, Lab, LabError, free_port, http, write_json

SERVICE = "notify"  # lab.json's service and the lab's process name
SERVICES = ("slack", "statuspage")
CHANNELS = {"C0LABINC01": "pynomaly-incidents", "C0LABENG02": "engineering-leads", "C0LABEXE03": "exec-briefing"}
COMPONENTS = ("API", "Web app", "Detections", "Search", "AI answers")
INCIDENT_STATUSES = ("investigating", "identified", "monitoring", "resolved")
COMPONENT_STATUSES = ("operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage")
IMPACTS = ("none", "minor", "major", "critical")
IMPACT_OF = {"operational": "none", "under_maintenance": "none", "degraded_performance": "minor",
             "partial_outage": "major", "major_outage": "critical"}
HEALTHY_SWITCH = {"mode": "ok", "rate_limit": 0, "retry_after": 1, "reject_token": False}


def now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def random_id(length: int = 12) -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(length))


class ApiError(Exception):
    def __init__(self, status: int, body, headers: dict | None = None):
        super().__init__(str(body))
        self.status, self.body, self.headers = status, body, headers or {}


# -- request bodies ----------------------------------------------------------------------------------------
def form_body(text: str) -> dict:
    """A form body as a nested dict: incident[components][abc]=x -> {"incident": {"components": {"abc": "x"}}},
    incident[component_ids][]=a -> {"incident": {"component_ids": ["a"]}}."""
    body: dict = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        names = [key.split("[", 1)[0], *re.findall(r"\[([^\]]*)\]", key)]
        node = body
        for name, following in itertools.pairwise(names):
            if not isinstance(node, dict):  # a list of objects: neither API takes one
                break
            node = node.setdefault(name, [] if following == "" else {})
        else:
            if isinstance(node, list):
                node.append(value)
            elif isinstance(node, dict):
                node[names[-1]] = value
    return body


def parse_body(raw: bytes, content_type: str):
    text = raw.decode("utf-8", "replace")
    if not text:
        return {}
    if "json" in content_type:
        try:
            return json.loads(text)
        except ValueError:
            return text
    if "x-www-form-urlencoded" in content_type:
        return form_body(text)
    return text


# -- the state ---------------------------------------------------------------------------------------------
class Store:
    """Everything the two services hold, behind one lock; written to the state file after each change."""

    def __init__(self, state_file: Path, requests_file: Path):
        self.state_file, self.requests_file = state_file, requests_file
        self.state = json.loads(state_file.read_text())
        self.lock = threading.Lock()
        self.counter = 0

    def save(self) -> None:
        write_json(self.state_file, self.state)

    def record(self, entry: dict) -> None:
        with self.requests_file.open("a") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")

    def next_ts(self) -> str:
        self.counter += 1
        return f"{int(time.time())}.{self.counter:06d}"


def gate(switch: dict, service: str):
    """The switches of one service, applied before it reads the request: down, then rate limit."""
    if switch["mode"] == "down":
        raise ApiError(503, "Service Unavailable")
    if switch["rate_limit"] > 0:
        switch["rate_limit"] -= 1
        retry = {"Retry-After": str(switch["retry_after"])}
        raise ApiError(429, {"ok": False, "error": "ratelimited"} if service == "slack"
                       else {"error": "Rate limit exceeded. Retry later."}, retry)


# -- Slack -------------------------------------------------------------------------------------------------
def slack_call(store: Store, endpoint: str, headers, body, query: dict) -> dict:
    slack = store.state["slack"]
    args = dict(query)
    if isinstance(body, dict):
        args.update(body)
    auth = headers.get("Authorization") or ""
    token = auth[7:].strip() if auth.startswith("Bearer ") else args.get("token")
    if not token:
        return {"ok": False, "error": "not_authed"}
    if token != slack["token"] or store.state["switches"]["slack"]["reject_token"]:
        return {"ok": False, "error": "invalid_auth"}
    if endpoint == "auth.test":
        return {"ok": True, "url": "https://pynomaly-lab.slack.com/", "team": "pynomaly lab", "user": "sre-bot",
                "team_id": slack["team_id"], "user_id": slack["bot_user"], "bot_id": slack["bot_id"]}
    handlers = {"chat.postMessage": post_message, "chat.update": update_message,
                "conversations.replies": conversation_replies}
    if endpoint not in handlers:
        return {"ok": False, "error": "unknown_method"}
    return handlers[endpoint](store, slack, args)


def channel_id(slack: dict, given, names: bool) -> str | None:
    given = str(given or "")
    if given in slack["channels"]:
        return given
    if names:
        wanted = given.lstrip("#")
        return next((cid for cid, name in slack["channels"].items() if name == wanted), None)
    return None


def find_message(slack: dict, channel: str, ts) -> dict | None:
    return next((m for m in slack["messages"].get(channel, []) if m["ts"] == str(ts)), None)


def post_message(store: Store, slack: dict, args: dict) -> dict:
    channel = channel_id(slack, args.get("channel"), names=True)
    if channel is None:
        return {"ok": False, "error": "channel_not_found"}
    text = args.get("text") or ""
    if not text and not args.get("blocks") and not args.get("attachments"):
        return {"ok": False, "error": "no_text"}
    message = {"type": "message", "text": text, "user": slack["bot_user"], "bot_id": slack["bot_id"],
               "ts": store.next_ts(), "app_id": "A0LABSRE01", "team": slack["team_id"]}
    for key in ("blocks", "attachments"):
        if args.get(key):
            message[key] = args[key]
    if args.get("thread_ts"):
        parent = find_message(slack, channel, args["thread_ts"])
        if parent is None:
            return {"ok": False, "error": "thread_not_found"}
        message.update(thread_ts=parent["ts"], parent_user_id=parent["user"])
        parent.setdefault("replies", []).append(message)
        parent.update(thread_ts=parent["ts"], reply_count=len(parent["replies"]), latest_reply=message["ts"])
    else:
        slack["messages"].setdefault(channel, []).append(message)
    return {"ok": True, "channel": channel, "ts": message["ts"],
            "message": {k: v for k, v in message.items() if k != "replies"}}


def update_message(store: Store, slack: dict, args: dict) -> dict:
    channel = channel_id(slack, args.get("channel"), names=False)  # chat.update wants the channel's id
    if channel is None:
        return {"ok": False, "error": "channel_not_found"}
    message = find_message(slack, channel, args.get("ts"))
    if message is None:
        return {"ok": False, "error": "message_not_found"}
    if not args.get("text") and not args.get("blocks") and not args.get("attachments"):
        return {"ok": False, "error": "no_text"}
    message["text"] = args.get("text") or ""
    for key in ("blocks", "attachments"):
        if key in args:
            message[key] = args[key]
    message["edited"] = {"user": slack["bot_user"], "ts": store.next_ts()}
    return {"ok": True, "channel": channel, "ts": message["ts"], "text": message["text"],
            "message": {k: v for k, v in message.items() if k != "replies"}}


def conversation_replies(store: Store, slack: dict, args: dict) -> dict:
    channel = channel_id(slack, args.get("channel"), names=False)
    if channel is None:
        return {"ok": False, "error": "channel_not_found"}
    parent = find_message(slack, channel, args.get("ts"))
    if parent is None:
        return {"ok": False, "error": "thread_not_found"}
    return {"ok": True, "has_more": False,
            "messages": [{k: v for k, v in parent.items() if k != "replies"}] + parent.get("replies", [])}


# -- Statuspage --------------------------------------------------------------------------------------------
def statuspage_call(store: Store, method: str, parts: list, headers, body, query: dict) -> tuple[int, object]:
    page = store.state["statuspage"]
    auth = headers.get("Authorization") or ""
    key = auth[6:].strip() if auth.startswith("OAuth ") else None
    if not key or key != page["api_key"] or store.state["switches"]["statuspage"]["reject_token"]:
        raise ApiError(401, {"error": "Could not authenticate"})
    if len(parts) < 3 or parts[:2] != ["v1", "pages"] or parts[2] != page["page"]["id"]:
        raise ApiError(404, {"error": "Not found"})
    rest = parts[3:]
    if method == "GET" and rest == ["components"]:
        return 200, page["components"]
    if rest == ["incidents"] and method == "GET":
        return 200, list_incidents(page, query)
    if rest == ["incidents", "unresolved"] and method == "GET":
        return 200, [i for i in newest_first(page) if i["status"] != "resolved"]
    if rest == ["incidents"] and method == "POST":
        return 201, create_incident(page, incident_args(body))
    if len(rest) == 2 and rest[0] == "incidents":
        incident = next((i for i in page["incidents"] if i["id"] == rest[1]), None)
        if incident is None:
            raise ApiError(404, {"error": "Not found"})
        if method == "GET":
            return 200, incident
        if method in ("PATCH", "PUT"):
            return 200, update_incident(page, incident, incident_args(body))
    raise ApiError(404, {"error": "Not found"})


def incident_args(body) -> dict:
    if not isinstance(body, dict) or not isinstance(body.get("incident"), dict):
        raise ApiError(400, {"error": "incident is missing"})
    return body["incident"]


def newest_first(page: dict) -> list:
    return sorted(page["incidents"], key=lambda i: i["created_at"], reverse=True)


def list_incidents(page: dict, query: dict) -> list:
    found = newest_first(page)
    if query.get("q"):
        wanted = query["q"].lower()
        found = [i for i in found if wanted in i["name"].lower()
                 or any(wanted in (u["body"] or "").lower() for u in i["incident_updates"])]
    try:
        limit = max(1, min(100, int(query.get("limit", 100))))
        number = max(1, int(query.get("page", 1)))
    except ValueError:
        raise ApiError(400, {"error": "limit and page must be numbers"}) from None
    return found[(number - 1) * limit:number * limit]


def check_incident(page: dict, args: dict, creating: bool) -> dict:
    """The component changes ({id: status}) of a create/update request; 422 for what the API refuses."""
    errors = []
    if creating and not args.get("name"):
        errors.append("Name can't be blank")
    if "status" in args and args["status"] not in INCIDENT_STATUSES:
        errors.append(f"Status {args['status']!r} is not a valid status for a realtime incident")
    if args.get("impact_override") not in (None, "", *IMPACTS):
        errors.append(f"Impact override {args['impact_override']!r} is not included in the list")
    known = {c["id"] for c in page["components"]}
    changes = args.get("components") or {}
    if not isinstance(changes, dict):
        errors.append("Components must be an object of component id to status")
        changes = {}
    for cid, status in changes.items():
        if cid not in known:
            errors.append(f"Component {cid} was not found")
        elif status not in COMPONENT_STATUSES:
            errors.append(f"Component status {status!r} is not valid")
    for cid in args.get("component_ids") or []:
        if cid not in known:
            errors.append(f"Component {cid} was not found")
    if errors:
        raise ApiError(422, {"error": errors})
    return changes


def set_components(page: dict, changes: dict, stamp: str) -> list:
    """Apply {id: status} to the page's components; the affected_components of the incident update."""
    affected = []
    for component in page["components"]:
        if component["id"] in changes and changes[component["id"]] != component["status"]:
            affected.append({"code": component["id"], "name": component["name"], "old_status": component["status"],
                             "new_status": changes[component["id"]]})
            component.update(status=changes[component["id"]], updated_at=stamp)
    return affected


def refresh(page: dict, incident: dict) -> None:
    """The incident's components (as the page shows them now) and its impact."""
    ids = incident["_component_ids"]
    incident["components"] = [dict(c) for c in page["components"] if c["id"] in ids]
    worst = max((IMPACTS.index(IMPACT_OF[c["status"]]) for c in incident["components"]), default=0)
    incident["impact"] = incident.get("impact_override") or IMPACTS[worst]


def add_update(incident: dict, status: str, body: str, affected: list, stamp: str) -> None:
    incident["incident_updates"].insert(0, {
        "id": random_id(), "incident_id": incident["id"], "status": status, "body": body, "created_at": stamp,
        "updated_at": stamp, "display_at": stamp, "affected_components": affected or None,
        "deliver_notifications": True, "custom_tweet": None, "tweet_id": None, "twitter_updated_at": None,
        "wants_twitter_update": False})


def stamp_status(incident: dict, status: str, stamp: str) -> None:
    incident["status"] = status
    if status == "monitoring" and not incident.get("monitoring_at"):
        incident["monitoring_at"] = stamp
    incident["resolved_at"] = stamp if status == "resolved" else None


def create_incident(page: dict, args: dict) -> dict:
    changes = check_incident(page, args, creating=True)
    stamp = now()
    incident = {"id": random_id(), "name": args["name"], "status": "investigating", "page_id": page["page"]["id"],
                "impact_override": args.get("impact_override") or None, "created_at": stamp, "updated_at": stamp,
                "started_at": stamp, "monitoring_at": None, "resolved_at": None,
                "shortlink": f"https://stspg.io/{random_id(7)}", "postmortem_body": None, "scheduled_for": None,
                "scheduled_until": None, "metadata": {}, "incident_updates": [],
                "_component_ids": list(dict.fromkeys([*(args.get("component_ids") or []), *changes]))}
    stamp_status(incident, args.get("status") or "investigating", stamp)
    affected = set_components(page, changes, stamp)
    add_update(incident, incident["status"], args.get("body") or "", affected, stamp)
    page["incidents"].append(incident)
    refresh(page, incident)
    return public(incident)


def update_incident(page: dict, incident: dict, args: dict) -> dict:
    changes = check_incident(page, args, creating=False)
    stamp = now()
    previous = incident["status"]
    if args.get("name"):
        incident["name"] = args["name"]
    if "impact_override" in args:
        incident["impact_override"] = args["impact_override"] or None
    if args.get("status"):
        stamp_status(incident, args["status"], stamp)
    if "component_ids" in args:
        incident["_component_ids"] = list(dict.fromkeys([*(args["component_ids"] or []), *changes]))
    else:
        incident["_component_ids"] = list(dict.fromkeys([*incident["_component_ids"], *changes]))
    affected = set_components(page, changes, stamp)
    if "body" in args or incident["status"] != previous:
        add_update(incident, incident["status"], args.get("body") or "", affected, stamp)
    incident["updated_at"] = stamp
    refresh(page, incident)
    return public(incident)


def public(incident: dict) -> dict:
    return {k: v for k, v in incident.items() if not k.startswith("_")}


# -- the server --------------------------------------------------------------------------------------------
class Handler(BaseHTTPRequestHandler):
    store: ClassVar[Store]
    server_version = "lab-notify-stand-in"

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_PUT(self):
        self._handle("PUT")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = parse_body(raw, self.headers.get("Content-Type") or "")
        if parts[:1] == ["lab"]:
            return self._control(method, parts[1:], body)
        service = "slack" if parts[:1] == ["api"] else "statuspage" if parts[:1] == ["v1"] else None
        store = self.store
        with store.lock:
            headers, payload = {}, None
            try:
                if service is None:
                    raise ApiError(404, {"error": "Not found"})
                gate(store.state["switches"][service], service)
                if service == "slack":
                    status, payload = 200, slack_call(store, "/".join(parts[1:]), self.headers, body, query)
                else:
                    status, payload = statuspage_call(store, method, parts, self.headers, body, query)
                    payload = public(payload) if isinstance(payload, dict) else [public(i) for i in payload]
            except ApiError as exc:
                status, payload, headers = exc.status, exc.body, exc.headers
            store.record({"time": now(), "service": service, "method": method, "path": self.path,
                          "headers": dict(self.headers.items()), "body": body, "status": status,
                          "error": payload.get("error") if isinstance(payload, dict) else None})
            store.save()
        self._send(status, payload, headers)

    def _control(self, method: str, parts: list, body) -> None:
        store = self.store
        with store.lock:
            if method == "GET" and parts == ["state"]:
                return self._send(200, store.state)
            if method == "POST" and parts == ["control"] and isinstance(body, dict):
                targets = SERVICES if body.get("service", "both") == "both" else (body.get("service"),)
                if not set(targets) <= set(SERVICES) or body.get("mode", "ok") not in ("ok", "down"):
                    return self._send(400, {"error": "service: slack|statuspage|both, mode: ok|down"})
                for name in targets:
                    switch = store.state["switches"][name]
                    switch.update({k: body[k] for k in HEALTHY_SWITCH if k in body})
                store.save()
                return self._send(200, store.state["switches"])
            if method == "POST" and parts == ["reset"]:
                reset_state(store.state)
                store.requests_file.write_text("")
                store.save()
                return self._send(200, store.state["switches"])
        return self._send(404, {"error": "Not found"})

    def _send(self, status: int, payload, headers: dict | None = None) -> None:
        data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        self.send_response(status)
        kind = "text/plain" if isinstance(payload, str) else "application/json; charset=utf-8"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        print(f"{self.address_string()} {fmt % args}", flush=True)


def reset_state(state: dict) -> None:
    state["switches"] = {name: dict(HEALTHY_SWITCH) for name in SERVICES}
    state["slack"]["messages"] = {}
    state["statuspage"]["incidents"] = []
    for component in state["statuspage"]["components"]:
        component["status"] = "operational"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.notify_server", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-file", type=Path, required=True)
    parser.add_argument("--requests-file", type=Path, required=True)
    args = parser.parse_args(argv)
    Handler.store = Store(args.state_file, args.requests_file)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"Slack/Statuspage recording stand-in serving http://127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


# -- the lab service ---------------------------------------------------------------------------------------
def seeded_state(slack_token: str, api_key: str) -> dict:
    stamp = "2024-01-01T00:00:00.000Z"
    page_id = random_id()
    components = [{"id": random_id(), "page_id": page_id, "group_id": None, "name": name, "description": None,
                   "position": index + 1, "status": "operational", "showcase": True, "group": False,
                   "only_show_if_degraded": False, "automation_email": f"component+{index}@notifications.statuspage.io",
                   "start_date": "2024-01-01", "created_at": stamp, "updated_at": stamp}
                  for index, name in enumerate(COMPONENTS)]
    state = {"switches": {},
             "slack": {"token": slack_token, "team_id": "T0LABTEAM1", "bot_user": "U0LABBOT01", "bot_id": "B0LABBOT01",
                       "channels": dict(CHANNELS), "messages": {}},
             "statuspage": {"api_key": api_key, "components": components, "incidents": [],
                            "page": {"id": page_id, "name": "pynomaly", "subdomain": "pynomaly-lab",
                                     "url": "https://status.pynomaly.example"}}}
    reset_state(state)
    return state


def state_path(lab: Lab) -> Path:
    return lab.path(SERVICE) / "state.json"


def requests_path(lab: Lab) -> Path:
    return lab.path(SERVICE) / "requests.jsonl"


def up(lab: Lab) -> dict:
    """Start the stand-in with an empty channel and page (or return the running one); lab.json's "notify"."""
    if lab.alive(SERVICE) and lab.service(SERVICE):
        return lab.service(SERVICE)
    slack_token = f"xoxb-{secrets.randbelow(10**12):012d}-{secrets.randbelow(10**13):013d}-{random_id(24)}"
    state = seeded_state(slack_token, secrets.token_hex(16))
    write_json(state_path(lab), state)
    requests_path(lab).write_text("")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    lab.spawn(SERVICE, [sys.executable, "-m", "lab.notify_server", "--port", str(port), "--state-file",
                        str(state_path(lab)), "--requests-file", str(requests_path(lab))],
              env={"PYTHONPATH": str(REPO_ROOT)})
    lab.wait_started(SERVICE, lambda: http(f"{url}/lab/state", timeout=1)[0] == 200, 15,
                     f"the Slack/Statuspage stand-in at {url}")
    page = state["statuspage"]
    return {"url": url, "port": port, "slack_api_url": f"{url}/api", "statuspage_api_url": f"{url}/v1",
            "slack_token": slack_token, "slack_channel": "#" + CHANNELS["C0LABINC01"], "slack_channel_id": "C0LABINC01",
            "slack_channels": {name: cid for cid, name in CHANNELS.items()},
            "statuspage_api_key": page["api_key"], "statuspage_page_id": page["page"]["id"],
            "components": {c["name"]: c["id"] for c in page["components"]},
            "state_file": str(state_path(lab)), "requests_file": str(requests_path(lab))}


def down(lab: Lab) -> None:
    lab.stop(SERVICE)


def _info(lab: Lab) -> dict:
    info = lab.service(SERVICE)
    if not info or not lab.alive(SERVICE):
        raise LabError("the Slack/Statuspage stand-in is not running: run `lab up` first")
    return info


def _call(lab: Lab, method: str, path: str, body=None) -> dict:
    code, text = http(f"{_info(lab)['url']}{path}", method, body=body)
    if code != 200:
        raise LabError(f"the Slack/Statuspage stand-in answered {code} to {method} {path}: {text[:200]}")
    return json.loads(text)


def state(lab: Lab) -> dict:
    """What the two services hold now: {switches, slack: {messages: {channel id: [...]}}, statuspage: {...}}."""
    return _call(lab, "GET", "/lab/state")


def status(lab: Lab) -> str:
    info = lab.service(SERVICE)
    if not info or not lab.alive(SERVICE):
        return "notify: stopped"
    code, text = http(f"{info['url']}/lab/state", timeout=2)
    if code != 200:
        return f"notify: not answering on {info['url']}"
    held = json.loads(text)
    switches = "; ".join(f"{name} {describe_switch(held['switches'][name])}" for name in SERVICES)
    messages = sum(len(m) for m in held["slack"]["messages"].values())
    open_incidents = sum(i["status"] != "resolved" for i in held["statuspage"]["incidents"])
    return (f"notify: Slack/Statuspage stand-in at {info['url']} (pid {lab.pid(SERVICE)}): {switches}; "
            f"{messages} message(s), {open_incidents} open incident(s), {len(requests(lab))} request(s) recorded")


def describe_switch(switch: dict) -> str:
    words = ["DOWN (503)" if switch["mode"] == "down" else "up"]
    if switch["rate_limit"]:
        words.append(f"rate-limiting the next {switch['rate_limit']} request(s)")
    if switch["reject_token"]:
        words.append("REJECTING the token")
    return ", ".join(words)


def requests(lab: Lab, since: int = 0) -> list[dict]:
    """The recorded requests, oldest first, from the index `since` (a previous len(requests(lab)))."""
    path = Path(lab.service(SERVICE).get("requests_file") or requests_path(lab))
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines[since:] if line.strip()]


def control(lab: Lab, service: str = "both", **switches) -> dict:
    """Set switches of one service or both: mode (ok|down), rate_limit (N requests), retry_after, reject_token."""
    return _call(lab, "POST", "/lab/control", dict(switches, service=service))


def heal(lab: Lab) -> None:
    """Both services up, nothing rate-limited, the token accepted (messages and incidents stay)."""
    control(lab, "both", **HEALTHY_SWITCH)


def reset(lab: Lab) -> None:
    """As just started: no messages, no incidents, every component operational, switches off, no requests."""
    _call(lab, "POST", "/lab/reset")


def break_notify_down(lab: Lab) -> None:
    """Slack and Statuspage both answer 503 Service Unavailable."""
    control(lab, "both", mode="down")


def heal_notify_down(lab: Lab) -> None:
    control(lab, "both", mode="ok")


if __name__ == "__main__":
    main()
