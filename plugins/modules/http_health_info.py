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

from ansible_collections.sre.runbooks.plugins.module_utils.checks import http_health
from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule


def main():
    module = RunbookModule(argument_spec=http_health.argument_spec(), supports_check_mode=True)
    module.run_check(http_health.run)


if __name__ == "__main__":
    main()
