#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: http_health_info
short_description: Check many health endpoints at once
version_added: 1.0.0
description:
  - The runbooks' C(curl -f https://.../health) for every endpoint of the service, in one call.
  - All endpoints are requested concurrently, each with its own timeout, so one hanging endpoint costs at most
    its timeout.
  - An endpoint that is down is a finding, not a failure of the task.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.attributes
  - sre.runbooks.attributes.INFO_MODULE
options:
  endpoints:
    description: The endpoints to check.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Short name used in findings. Defaults to the URL.
        type: str
      url:
        description: URL to request. User and password in it are never printed.
        type: str
        required: true
      method:
        description: HTTP method.
        type: str
        default: GET
        choices: [GET, HEAD, POST]
      expect_status:
        description: Status codes that count as healthy.
        type: list
        elements: int
        default: [200]
      body_match:
        description: Regular expression the body must match to count as healthy.
        type: str
      timeout:
        description: Seconds before this endpoint counts as timed out. Defaults to O(timeout).
        type: float
      slow_ms:
        description: Latency above which a healthy answer is still reported as slow. Defaults to O(slow_ms).
        type: int
  timeout:
    description: Default timeout per endpoint, in seconds.
    type: float
    default: 5.0
  slow_ms:
    description: Default latency threshold, in milliseconds, for the C(http.endpoint_slow) finding.
    type: int
    default: 2000
  concurrency:
    description: How many endpoints are requested at the same time.
    type: int
    default: 64
  validate_certs:
    description: Verify TLS certificates.
    type: bool
    default: true
  body_excerpt:
    description: How many characters of a failing endpoint's body to return as evidence.
    type: int
    default: 300
notes:
  - Runs on the controller or any host; uses only the Python standard library.
"""

EXAMPLES = r"""
- name: Check external service availability (runbook Detection)
  sre.runbooks.http_health_info:
    endpoints:
      - name: api
        url: https://api.pynomaly.com/health
      - name: app
        url: https://app.pynomaly.com/health
        body_match: '"status": *"ok"'
    timeout: 5
  register: health

- name: Say which endpoints fail
  ansible.builtin.debug:
    msg: "{{ health.findings | map(attribute='summary') | list }}"
"""

RETURN = r"""
status:
  description: C(ok) when every endpoint is healthy, C(down) when none is, C(degraded) otherwise.
  returned: always
  type: str
  sample: degraded
findings:
  description:
    - One finding per failing endpoint. Ids
    - C(http.endpoint_down) (connection refused, timed out, name not resolved; critical),
    - C(http.endpoint_error) (an unexpected status code; critical),
    - C(http.body_mismatch) (expected status but the body does not match; warning),
    - C(http.endpoint_slow) (healthy answer slower than the threshold; warning).
  returned: always
  type: list
  elements: dict
  sample:
    - id: http.endpoint_error
      severity: critical
      summary: "api answered 503 (expected 200)"
      evidence: {name: api, url: "http://127.0.0.1:8000/health", status_code: 503, latency_ms: 4.2, body: "..."}
endpoints:
  description: Every endpoint with its result, in the order given.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: api, url: "http://127.0.0.1:8000/health", healthy: true, status_code: 200, latency_ms: 3.1, error: null}
summary:
  description: Counts and the slowest latency.
  returned: always
  type: dict
  sample: {total: 2, healthy: 1, failing: 1, max_latency_ms: 5003.2}
"""

import re

from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.findings import finding
from ansible_collections.sre.runbooks.plugins.module_utils.http_client import fetch_all, redact_url


def build_requests(params):
    requests = []
    for index, ep in enumerate(params["endpoints"]):
        if not re.match(r"^https?://", ep["url"]):
            raise RunbookError(f"endpoints[{index}].url must start with http:// or https://, "
                               f"got {redact_url(ep['url'])!r}")
        if ep.get("body_match"):
            try:
                re.compile(ep["body_match"])
            except re.error as exc:
                raise RunbookError(
                    f"endpoints[{index}].body_match is not a valid regular expression: {exc}") from exc
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


def check(module):
    params = module.params
    if params["concurrency"] < 1:
        raise RunbookError(f"concurrency must be at least 1, got {params['concurrency']}")
    requests = build_requests(params)
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
    module.exit_check(findings, status=status, endpoints=endpoints, summary=summary)


def main():
    endpoint_spec = {
        "name": {"type": "str"},
        "url": {"type": "str", "required": True},
        "method": {"type": "str", "default": "GET", "choices": ["GET", "HEAD", "POST"]},
        "expect_status": {"type": "list", "elements": "int", "default": [200]},
        "body_match": {"type": "str"},
        "timeout": {"type": "float"},
        "slow_ms": {"type": "int"},
    }
    module = RunbookModule(
        argument_spec={
            "endpoints": {"type": "list", "elements": "dict", "required": True, "options": endpoint_spec},
            "timeout": {"type": "float", "default": 5.0},
            "slow_ms": {"type": "int", "default": 2000},
            "concurrency": {"type": "int", "default": 64},
            "validate_certs": {"type": "bool", "default": True},
            "body_excerpt": {"type": "int", "default": 300},
        },
        supports_check_mode=True,
    )
    module.run(check)


if __name__ == "__main__":
    main()
