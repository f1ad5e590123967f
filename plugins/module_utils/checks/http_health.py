# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The http_health_info check: argument_spec() and run(params), used by its module and by incident_triage_info."""

import re

from ansible_collections.sre.runbooks.plugins.module_utils.common import check_bounds
from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.findings import check_result, finding
from ansible_collections.sre.runbooks.plugins.module_utils.http_client import fetch_all, redact_url

# Passed to AnsibleModule (and to ArgumentSpecValidator) with argument_spec().
SPEC_OPTIONS = {}


def endpoint_spec():
    """One health endpoint, as inventories list them (health_endpoints); sre.runbooks.http_probe takes the same."""
    return {
        "name": {"type": "str"},
        "url": {"type": "str", "required": True},
        "method": {"type": "str", "default": "GET", "choices": ["GET", "HEAD", "POST"]},
        "expect_status": {"type": "list", "elements": "int", "default": [200]},
        "body_match": {"type": "str"},
        "timeout": {"type": "float"},
        "slow_ms": {"type": "int"},
    }


def check_endpoint(ep, where):
    """RunbookError naming the option (where, e.g. endpoints[0]) for what the argument spec cannot say."""
    if not re.match(r"^https?://[^/\s]", ep["url"]):
        raise RunbookError(f"{where}.url must start with http:// or https://, got {redact_url(ep['url'])!r}",
                           option=where)
    if ep.get("body_match"):
        try:
            re.compile(ep["body_match"])
        except re.error as exc:
            raise RunbookError(f"{where}.body_match is not a valid regular expression: {exc}", option=where) from exc


def argument_spec():
    """The options of sre.runbooks.http_health_info."""
    return {
        "endpoints": {"type": "list", "elements": "dict", "required": True, "options": endpoint_spec()},
        "timeout": {"type": "float", "default": 5.0},
        "slow_ms": {"type": "int", "default": 2000},
        "concurrency": {"type": "int", "default": 64},
        "validate_certs": {"type": "bool", "default": True},
        "body_excerpt": {"type": "int", "default": 300},
    }


def build_requests(params):
    requests = []
    for index, ep in enumerate(params["endpoints"]):
        check_endpoint(ep, f"endpoints[{index}]")
        requests.append({"url": ep["url"], "method": ep["method"], "validate_certs": params["validate_certs"],
                         "timeout": ep.get("timeout") or params["timeout"]})
    return requests


def judge(ep, result, params):
    """The endpoint's record and its finding (or None)."""
    name = ep.get("name") or redact_url(ep["url"])
    record = {"name": name, "url": redact_url(ep["url"]), "status_code": result["status_code"],
              "latency_ms": result["latency_ms"], "error": result["error"], "healthy": False}
    evidence = dict(record)
    evidence.pop("healthy")
    excerpt = result["body"][:params["body_excerpt"]]
    slow_ms = ep.get("slow_ms") or params["slow_ms"]
    if result["error"]:
        return record, finding("http.endpoint_down", "critical", f"{name} is down: {result['error']}", evidence)
    evidence["body"] = excerpt
    if result["status_code"] not in ep["expect_status"]:
        expected = "/".join(str(s) for s in ep["expect_status"])
        return record, finding("http.endpoint_error", "critical",
                               f"{name} answered {result['status_code']} (expected {expected})", evidence)
    if ep.get("body_match") and not re.search(ep["body_match"], result["body"]):
        return record, finding("http.body_mismatch", "warning", f"{name} answered {result['status_code']} "
                               f"but the body does not match {ep['body_match']!r}", evidence)
    record["healthy"] = True
    if result["latency_ms"] > slow_ms:
        return record, finding("http.endpoint_slow", "warning",
                               f"{name} is slow: {result['latency_ms']:.0f} ms (threshold {slow_ms} ms)", evidence)
    return record, None


def validate(params):
    """Bad input the argument spec cannot see (RunbookError naming the option); the requests to make."""
    check_bounds(params, {"concurrency": (1, None)})
    return build_requests(params)


def run(params):
    """Request every endpoint at once; the result sre.runbooks.http_health_info returns."""
    requests = validate(params)
    results = fetch_all(requests, params["concurrency"])
    endpoints, findings = [], []
    for ep, result in zip(params["endpoints"], results):
        record, found = judge(ep, result, params)
        endpoints.append(record)
        if found:
            findings.append(found)
    healthy = sum(1 for e in endpoints if e["healthy"])
    status = "ok" if healthy == len(endpoints) else ("down" if healthy == 0 else "degraded")
    if status == "ok" and findings:
        status = "degraded"
    summary = {"total": len(endpoints), "healthy": healthy, "failing": len(endpoints) - healthy,
               "max_latency_ms": max([e["latency_ms"] for e in endpoints] or [0])}
    return check_result(findings, status=status, endpoints=endpoints, summary=summary)
