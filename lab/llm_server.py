"""Stand-ins for the LLM providers (OpenAI, Anthropic) and their Statuspage status pages.

No real LLM provider can be reached or paid for from the lab, so this one process serves the small part of
their HTTP APIs that the runbooks touch, shaped like the real ones, and breakable:

    python -m lab.llm_server --port P --state-file <lab>/llm/state.json

- ``GET /openai/v1/models[/ID]`` (``Authorization: Bearer KEY``), ``POST /openai/v1/chat/completions``:
  401 ``{"error": {"message", "type": "invalid_request_error", "code": "invalid_api_key"}}`` for a key it does
  not accept; ``x-ratelimit-{limit,remaining,reset}-requests`` headers; 429 over the per-minute limit; 503 in
  an outage.
- ``GET /anthropic/v1/models[/ID]`` (``x-api-key`` + ``anthropic-version``), ``POST /anthropic/v1/messages``:
  401 ``{"type": "error", "error": {"type": "authentication_error", ...}}``; ``anthropic-ratelimit-requests-*``
  headers; 429 ``rate_limit_error``; 529 ``overloaded_error`` in an outage.
- ``GET /status/<provider>/api/v2/{summary,status,components}.json``: the provider's status page as Atlassian
  Statuspage serves it (``status.indicator`` none|minor|major|critical; component ``API`` with status
  operational|degraded_performance|partial_outage|major_outage; unresolved incidents).
- ``GET /lab/state``: the current state (what the faults wrote).

The state file (one object per provider: ``api`` ok|outage|rate_limited, ``component`` status, ``keys`` it
accepts, ``rpm`` limit, ``latency_ms``, optional ``indicator`` and ``incident``) is read on every request, so
``lab break llm-outage`` / ``llm-key-invalid`` (lab/llm.py) only rewrite it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

PROVIDERS = {
    "openai": {"name": "OpenAI", "models": ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"], "rpm": 5000,
               "components": ["API", "ChatGPT", "Playground"]},
    "anthropic": {"name": "Anthropic", "models": ["claude-3-5-haiku-20241022", "claude-sonnet-4-20250514"],
                  "rpm": 4000, "components": ["API", "claude.ai", "Console"]},
}
RANK = {"operational": 0, "degraded_performance": 1, "partial_outage": 2, "major_outage": 3}
INDICATORS = {"none": "All Systems Operational", "minor": "Minor Service Outage", "major": "Partial System Outage",
              "critical": "Major System Outage"}
STARTED = "2024-01-01T00:00:00.000Z"


def now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def read_state(path: Path) -> dict:
    """The state file (lab/llm.py writes it atomically: it is read here on every request)."""
    return json.loads(Path(path).read_text())


def indicator(provider: dict) -> str:
    """What Statuspage shows for the worst component (unless the state pins an indicator)."""
    if provider.get("indicator"):
        return provider["indicator"]
    # Only the API component breaks here; with the others operational Statuspage calls even its major
    # outage a partial system outage (indicator major). A state can pin "critical".
    return ["none", "minor", "major", "major"][RANK[provider["component"]]]


class Handler(BaseHTTPRequestHandler):
    state_file: ClassVar[Path]
    server_version = "lab-llm-stand-in"
    windows: ClassVar[dict] = {}  # provider -> (minute, requests in that minute)
    lock = threading.Lock()

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def _route(self, method: str) -> None:
        parts = [p for p in self.path.split("?", 1)[0].split("/") if p]
        state = read_state(self.state_file)
        if parts == ["lab", "state"]:
            return self._json(200, state)
        if len(parts) == 5 and parts[0] == "status" and parts[1] in state and parts[2:4] == ["api", "v2"]:
            return self._status_page(parts[1], state[parts[1]], parts[4])
        if len(parts) >= 3 and parts[0] in PROVIDERS and parts[0] in state and parts[1] == "v1":
            if method == "POST" and self.headers.get("Content-Length"):
                self.rfile.read(int(self.headers["Content-Length"]))
            return self._api(parts[0], state[parts[0]], method, parts[2:])
        return self._json(404, {"error": {"message": f"no route for {method} {self.path}", "type": "not_found"}})

    # status pages
    def _status_page(self, name: str, provider: dict, doc: str) -> None:
        page = {"id": f"lab{name}", "name": PROVIDERS[name]["name"], "url": f"http://{self.headers['Host']}/status/"
                f"{name}", "time_zone": "Etc/UTC", "updated_at": provider.get("updated_at", STARTED)}
        level = indicator(provider)
        components = [{"id": f"{name}-{i}", "name": c, "status": provider["component"] if c == "API" else
                       "operational", "created_at": STARTED, "updated_at": provider.get("updated_at", STARTED),
                       "position": i + 1, "description": None, "showcase": True, "start_date": None,
                       "group_id": None, "page_id": page["id"], "group": False, "only_show_if_degraded": False}
                      for i, c in enumerate(PROVIDERS[name]["components"])]
        incidents = [provider["incident"]] if provider.get("incident") else []
        body = {"page": page, "status": {"indicator": level, "description": INDICATORS[level]}}
        if doc == "summary.json":
            body.update(components=components, incidents=incidents, scheduled_maintenances=[])
        elif doc == "components.json":
            body = {"page": page, "components": components}
        elif doc != "status.json":
            return self._json(404, {"error": "not found"})
        return self._json(200, body)

    # provider APIs
    def _api(self, name: str, provider: dict, method: str, rest: list) -> None:
        time.sleep(provider.get("latency_ms", 0) / 1000.0)
        openai = name == "openai"
        if provider["api"] == "outage":
            if openai:
                return self._json(503, {"error": {"message": "Service Unavailable", "type": "server_error",
                                                  "param": None, "code": None}})
            return self._json(529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        key = self._key(openai)
        if key is None or key not in provider["keys"]:
            return self._unauthorized(openai, key)
        if not openai and not self.headers.get("anthropic-version"):
            return self._json(400, {"type": "error", "error": {"type": "invalid_request_error",
                                                               "message": "anthropic-version: header is required"}})
        headers, limited = self._rate_limit(name, provider, openai)
        if limited:
            if openai:
                return self._json(429, {"error": {"message": "Rate limit reached for requests", "type": "requests",
                                                  "param": None, "code": "rate_limit_exceeded"}}, headers)
            return self._json(429, {"type": "error", "error": {"type": "rate_limit_error",
                                                               "message": "Number of requests has exceeded your "
                                                               "per-minute rate limit"}}, headers)
        return self._json(*self._answer(name, openai, method, rest), headers)

    def _key(self, openai: bool) -> str | None:
        if openai:
            auth = self.headers.get("Authorization") or ""
            return auth[7:].strip() if auth.startswith("Bearer ") else None
        return self.headers.get("x-api-key")

    def _unauthorized(self, openai: bool, key: str | None) -> None:
        if openai:
            shown = f"{key[:3]}{'*' * max(0, len(key) - 7)}{key[-4:]}" if key else None
            message = (f"Incorrect API key provided: {shown}. You can find your API key at "
                       "https://platform.openai.com/account/api-keys." if key else
                       "You didn't provide an API key. You need to provide your API key in an Authorization header "
                       "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
            return self._json(401, {"error": {"message": message, "type": "invalid_request_error", "param": None,
                                              "code": "invalid_api_key" if key else None}})
        message = "invalid x-api-key" if key else "x-api-key header is required"
        return self._json(401, {"type": "error", "error": {"type": "authentication_error", "message": message}})

    def _rate_limit(self, name: str, provider: dict, openai: bool) -> tuple[dict, bool]:
        minute = int(time.time() // 60)
        with self.lock:
            start, count = self.windows.get(name, (minute, 0))
            count = count + 1 if start == minute else 1
            self.windows[name] = (minute, count)
        limit = int(provider.get("rpm", PROVIDERS[name]["rpm"]))
        limited = provider["api"] == "rate_limited" or count > limit
        remaining = 0 if limited else limit - count
        reset = 60 - int(time.time()) % 60
        if openai:
            headers = {"x-ratelimit-limit-requests": str(limit), "x-ratelimit-remaining-requests": str(remaining),
                       "x-ratelimit-reset-requests": f"{reset}s"}
        else:
            at = datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(seconds=reset)
            headers = {"anthropic-ratelimit-requests-limit": str(limit),
                       "anthropic-ratelimit-requests-remaining": str(remaining),
                       "anthropic-ratelimit-requests-reset": at.strftime("%Y-%m-%dT%H:%M:%SZ")}
        if limited:
            headers["retry-after"] = str(reset)
        return headers, limited

    def _answer(self, name: str, openai: bool, method: str, rest: list) -> tuple[int, dict]:
        models = PROVIDERS[name]["models"]
        if openai:
            info = [{"id": m, "object": "model", "created": 1704067200, "owned_by": "system"} for m in models]
        else:
            info = [{"type": "model", "id": m, "display_name": m, "created_at": "2024-10-22T00:00:00Z"}
                    for m in models]
        if method == "GET" and rest == ["models"]:
            if openai:
                return 200, {"object": "list", "data": info}
            return 200, {"data": info, "has_more": False, "first_id": models[0], "last_id": models[-1]}
        if method == "GET" and len(rest) == 2 and rest[0] == "models":
            found = [m for m in info if m["id"] == rest[1]]
            if found:
                return 200, found[0]
        elif method == "POST" and rest == ["chat", "completions"] and openai:
            return 200, {"id": "chatcmpl-lab", "object": "chat.completion", "created": int(time.time()),
                         "model": models[0], "choices": [{"index": 0, "finish_reason": "stop", "message": {
                             "role": "assistant", "content": "This is the lab's stand-in answer."}}]}
        elif method == "POST" and rest == ["messages"] and not openai:
            return 200, {"id": "msg_lab", "type": "message", "role": "assistant", "model": models[0],
                         "content": [{"type": "text", "text": "This is the lab's stand-in answer."}],
                         "stop_reason": "end_turn"}
        if openai:
            return 404, {"error": {"message": "Not found", "type": "invalid_request_error", "code": "not_found"}}
        return 404, {"type": "error", "error": {"type": "not_found_error", "message": "Not found"}}

    def _json(self, code: int, body: dict, headers: dict | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, fmt, *args):
        print(f"{self.address_string()} {fmt % args}", flush=True)


def serve(port: int, state_file: Path) -> None:
    Handler.state_file = state_file
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"LLM provider stand-in serving http://127.0.0.1:{port} (state {state_file})", flush=True)
    server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.llm_server", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-file", type=Path, required=True)
    args = parser.parse_args(argv)
    serve(args.port, args.state_file)


if __name__ == "__main__":
    main()
