# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus and Alertmanager HTTP API clients over http_client.fetch.

Connection options are handled once (connection_argument_spec): the base URL, a bearer token or basic auth
(both no_log), a timeout and TLS verification. Answers are opened here and their errors typed:
- nothing answers, or the server answers 5xx (not ready, overloaded) or refuses the credentials:
  ``MonitoringUnreachable`` (a check turns it into a finding, status unknown);
- the server refuses the request itself (4xx: bad PromQL, a bad matcher): ``MonitoringApiError`` with the
  server's own message (bad input, so the task fails naming the option).

Prometheus: instant queries (/api/v1/query), range queries (/api/v1/query_range), scrape targets
(/api/v1/targets). Alertmanager API v2: alerts (/api/v2/alerts), silences (/api/v2/silences, /api/v2/silence/ID).
"""

import base64
import json
import math
import re

from ansible.module_utils.six.moves.urllib.parse import quote, urlencode

from ansible_collections.sre.runbooks.plugins.module_utils.errors import BackendUnavailable, RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.http_client import fetch, fetch_all, redact_url

BODY_LIMIT = 16 * 1024 * 1024
MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")
MATCHER_OPS = {"=": (False, True), "!=": (False, False), "=~": (True, True), "!~": (True, False)}

# Passed to AnsibleModule with connection_argument_spec().
CONNECTION_SPEC_OPTIONS = {"mutually_exclusive": [("bearer_token", "username")],
                           "required_together": [("username", "password")]}


def connection_argument_spec():
    """The connection options of the Prometheus and Alertmanager modules (doc fragment sre.runbooks.monitoring)."""
    return {
        "url": {"type": "str", "required": True},
        "bearer_token": {"type": "str", "no_log": True},
        "username": {"type": "str"},
        "password": {"type": "str", "no_log": True},
        "timeout": {"type": "float", "default": 10.0},
        "validate_certs": {"type": "bool", "default": True},
    }


class MonitoringUnreachable(BackendUnavailable):
    """Prometheus or Alertmanager did not answer usably (no answer, 5xx, credentials refused)."""


class MonitoringApiError(RunbookError):
    """The server refused the request itself (4xx other than 401/403); the message is the server's."""


class Client:
    """One Prometheus or Alertmanager server."""

    def __init__(self, params, what):
        self.what = what
        self.url = (params["url"] or "").rstrip("/")
        if not re.match(r"^https?://[^/]", self.url):
            raise RunbookError(f"url must start with http:// or https://, got {redact_url(self.url)!r}", option="url")
        if params["timeout"] <= 0:
            raise RunbookError(f"timeout must be greater than 0, not {params['timeout']}", option="timeout")
        self.where = redact_url(self.url)
        self.timeout = params["timeout"]
        self.validate_certs = params["validate_certs"]
        self.headers = {"Accept": "application/json", "User-Agent": "sre.runbooks"}
        if params.get("bearer_token"):
            self.headers["Authorization"] = f"Bearer {params['bearer_token']}"
        elif params.get("username"):
            pair = f"{params['username']}:{params.get('password') or ''}".encode()
            self.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")

    def build(self, method, path, query=None, body=None):
        """The http_client request of one API call."""
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        url = self.url + path + (f"?{urlencode(query, doseq=True)}" if query else "")
        return {"url": url, "method": method, "headers": headers, "data": data, "timeout": self.timeout,
                "validate_certs": self.validate_certs, "body_limit": BODY_LIMIT}

    def open(self, result):
        """The parsed JSON of one answer (None for an empty body); typed errors otherwise."""
        code = result["status_code"]
        if code is None:
            raise MonitoringUnreachable(f"{self.what} at {self.where} does not answer: {result['error']}")
        message = _message(result["body"])
        if code in (401, 403):
            raise MonitoringUnreachable(f"{self.what} at {self.where} refused the credentials (HTTP {code}): {message}")
        if code >= 500:
            raise MonitoringUnreachable(f"{self.what} at {self.where} answered HTTP {code}: {message}")
        if code >= 400:
            raise MonitoringApiError(message, status_code=code)
        if not result["body"].strip():
            return None
        try:
            return json.loads(result["body"])
        except ValueError:
            raise MonitoringUnreachable(f"{self.what} at {self.where} did not answer JSON (HTTP {code}): "
                                        f"{result['body'][:200]!r}") from None

    def call(self, method, path, query=None, body=None):
        return self.open(fetch(self.build(method, path, query, body)))

    def call_all(self, requests):
        """fetch_all over built requests; each result is (parsed answer, None) or (None, typed error)."""
        out = []
        for result in fetch_all(requests, len(requests)):
            try:
                out.append((self.open(result), None))
            except RunbookError as exc:
                out.append((None, exc))
        return out


def _message(body):
    """The error message in an answer: Prometheus's {"error"}, Alertmanager's JSON string or plain text."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.strip()[:500]
    if isinstance(parsed, dict):
        return str(parsed.get("error") or parsed.get("message") or parsed)[:500]
    return str(parsed)[:500]


# -- Prometheus ----------------------------------------------------------------------------------------------
class Prometheus(Client):
    def __init__(self, params):
        super().__init__(params, "Prometheus")

    def query_request(self, expr, start=None, end=None, step=None):
        """The request of an instant query, or of a range query when start is given."""
        if start is None:
            return self.build("GET", "/api/v1/query", {"query": expr})
        return self.build("GET", "/api/v1/query_range", {"query": expr, "start": start, "end": end, "step": step})

    def targets(self):
        """The active scrape targets: [{job, instance, health, lastError, scrapeUrl, lastScrape}]."""
        data = self.call("GET", "/api/v1/targets", {"state": "active"})["data"]
        return [{"job": t["labels"].get("job"), "instance": t["labels"].get("instance"), "health": t.get("health"),
                 "lastError": t.get("lastError") or "", "scrapeUrl": redact_url(t.get("scrapeUrl") or ""),
                 "lastScrape": t.get("lastScrape")} for t in data.get("activeTargets") or []]


def number(text):
    """A sample value as Prometheus writes it ("1", "NaN", "+Inf") as a float; None when it is not one."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def series_of(data):
    """The series of a query answer's data: [{metric, value, values}] (values only for a range query).

    Values are floats (NaN included); a scalar is one series without labels; a string answer has none."""
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return [{"metric": {}, "value": number(result[1]), "values": None}]
    if kind == "vector":
        return [{"metric": s.get("metric") or {}, "value": number(s["value"][1]), "values": None} for s in result]
    if kind == "matrix":
        return [{"metric": s.get("metric") or {}, "value": None,
                 "values": [[point[0], number(point[1])] for point in s.get("values") or []]} for s in result]
    return []


def is_nan(value):
    return value is None or (isinstance(value, float) and math.isnan(value))


def labels_text(metric):
    """{job="app", instance="..."} as job=app instance=... (the name first when there is one)."""
    name = metric.get("__name__")
    rest = " ".join(f"{k}={v}" for k, v in sorted(metric.items()) if k != "__name__")
    return " ".join(part for part in (name, rest) if part) or "(no labels)"


# -- Alertmanager --------------------------------------------------------------------------------------------
class Alertmanager(Client):
    def __init__(self, params):
        super().__init__(params, "Alertmanager")

    def alerts(self, matchers, silenced, inhibited):
        query = {"filter": [matcher_text(m) for m in matchers], "silenced": _flag(silenced),
                 "inhibited": _flag(inhibited), "active": "true", "unprocessed": "true"}
        return self.call("GET", "/api/v2/alerts", query) or []

    def silences(self):
        return self.call("GET", "/api/v2/silences") or []

    def silence(self, silence_id):
        return self.call("GET", f"/api/v2/silence/{quote(silence_id, safe='')}")

    def create_silence(self, body):
        return self.call("POST", "/api/v2/silences", body=body)["silenceID"]

    def expire_silence(self, silence_id):
        self.call("DELETE", f"/api/v2/silence/{quote(silence_id, safe='')}")


def _flag(value):
    return "true" if value else "false"


def parse_matchers(texts, option="matchers"):
    """Alertmanager matchers from label=value, label!=value, label=~regex, label!~regex (value quoted or not)."""
    out = []
    for index, text in enumerate(texts or []):
        found = MATCHER.match(text or "")
        if not found:
            raise RunbookError(f"{option}[{index}] {text!r} is not a matcher: write label=value, label!=value, "
                               "label=~regex or label!~regex", option=option)
        name, op, value = found.groups()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        is_regex, is_equal = MATCHER_OPS[op]
        out.append({"name": name, "value": value, "isRegex": is_regex, "isEqual": is_equal})
    return out


def matcher_text(matcher):
    """One matcher as Alertmanager writes it: name="value", name!~"regex", ..."""
    op = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}[
        (bool(matcher.get("isRegex")), matcher.get("isEqual", True) is not False)]
    value = matcher["value"].replace("\\", "\\\\").replace('"', '\\"')
    return f'{matcher["name"]}{op}"{value}"'


def matcher_key(matchers):
    """The set of matchers, order-free, to compare silences."""
    return sorted(matcher_text(m) for m in matchers)
