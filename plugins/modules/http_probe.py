#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: http_probe
short_description: Probe URLs N times for error rate and latency, and run smoke and user-journey checks
version_added: 1.0.0
description:
  - The runbook's performance verification (C(for i in {1..10}; do curl -w "%{time_total}" -o /dev/null -s URL; done))
    as figures - error rate, p50, p95 and max latency - judged against O(thresholds).
  - Plus the named smoke and user-journey checks of the inventory - ordered requests with an expected status, body
    and JSON values; a journey stops at its first failing step, which the finding names.
  - Every request has its own O(timeout); a URL that never answers costs at most that and counts as an error. The
    task does not fail for an unreachable URL, only for bad arguments.
  - A read-only check; it returns C(status), C(findings) and the figures like the C(*_info) checks.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.attributes
  - sre.runbooks.attributes.INFO_MODULE
options:
  url:
    description:
      - One URL to probe with C(GET), expecting 200. Exclusive with O(urls).
      - One of O(url), O(urls) and O(journeys) is required.
    type: str
  urls:
    description:
      - URLs to probe, each O(requests) times.
      - Takes the same items as the O(sre.runbooks.http_health_info#module:endpoints) of
        M(sre.runbooks.http_health_info), so an inventory's C(health_endpoints) can be passed as they are.
    type: list
    elements: dict
    suboptions:
      name:
        description: Short name used in findings. Defaults to the URL (without credentials).
        type: str
      url:
        description: The URL. User and password in it are never printed.
        type: str
        required: true
      method:
        description: HTTP method.
        type: str
        default: GET
        choices: [GET, HEAD, POST]
      expect_status:
        description: Status codes that count as success; any other answer is an error.
        type: list
        elements: int
        default: [200]
      body_match:
        description: Regular expression the body must match for an answer to count as success (C(body does not match)).
        type: str
      timeout:
        description: Seconds for this URL's requests. Defaults to O(timeout).
        type: float
      slow_ms:
        description: The p95 latency in milliseconds this URL must stay under, instead of O(thresholds.max_p95_ms).
        type: int
  requests:
    description:
      - How many requests each URL gets (1 to 1000).
      - The first request of every URL goes first; a URL whose first request timed out gets no more (a hanging
        endpoint costs one timeout, not one per request), and its other requests count as errors of the kind
        C(not sent (the first request timed out)). A refused connection or an error status is asked again.
    type: int
    default: 10
  concurrency:
    description: How many requests are in flight at once, over all URLs (1 to 100); also how many journeys run at once.
    type: int
    default: 5
  timeout:
    description: Seconds one request may take before it counts as an error (C(timed out)); more than 0, at most 300.
    type: float
    default: 5.0
  thresholds:
    description: What the figures of each URL must meet for it to pass.
    type: dict
    default: {}
    suboptions:
      max_error_rate:
        description: Highest share (0 to 1) of requests that may fail (no answer, or a status not expected).
        type: float
        default: 0.0
      max_p95_ms:
        description: Highest p95 latency, in milliseconds, of the requests that were answered. Default - not checked.
        type: float
      max_ms:
        description: Highest latency, in milliseconds, of any answered request. Default - not checked.
        type: float
  journeys:
    description:
      - Named smoke and user-journey checks. The steps of a journey run in order; the journey stops at the first
        step that fails.
    type: list
    elements: dict
    suboptions:
      name:
        description: The journey's name (unique), used in findings.
        type: str
        required: true
      base_url:
        description: The URL the steps' O(journeys[].steps[].path) are relative to.
        type: str
      headers:
        description: Headers sent with every step (values are not logged).
        type: dict
      steps:
        description: The requests of the journey.
        type: list
        elements: dict
        required: true
        suboptions:
          name:
            description: The step's name. Defaults to C(step N).
            type: str
          method:
            description: HTTP method.
            type: str
            default: GET
            choices: [GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS]
          path:
            description: Path joined to the step's or the journey's base URL. Exclusive with O(journeys[].steps[].url).
            type: str
          url:
            description: Absolute URL of the step.
            type: str
          base_url:
            description: Base URL for this step only.
            type: str
          headers:
            description: Headers of this step, over the journey's (values are not logged).
            type: dict
          body:
            description: Text to send as the request body.
            type: str
          json:
            description: Data to send as a JSON body (sets C(Content-Type) unless a header does). Exclusive with body.
            type: raw
          expect_status:
            description: Status codes that count as success.
            type: list
            elements: int
            default: [200]
          expect_body:
            description: Text the body must contain.
            type: str
          expect_body_regex:
            description: Regular expression the body must match (anywhere).
            type: str
          expect_json:
            description:
              - Values the JSON body must hold, as key path -> value. A key path is dotted; list items by index
                (C(detections.0.dataset)).
            type: dict
  validate_certs:
    description: Verify TLS certificates.
    type: bool
    default: true
notes:
  - Runs on the controller or any host; uses only the Python standard library.
  - Latency figures are over the requests that got an HTTP answer; requests without one count in C(errors) and
    C(error_kinds) only.
"""

EXAMPLES = r"""
- name: Check response times and error rate (runbook Verification Steps, Performance Verification)
  sre.runbooks.http_probe:
    url: https://api.pynomaly.com/health
    requests: 10
    thresholds:
      max_error_rate: 0
      max_p95_ms: 1000
  register: probe

- name: Run the smoke test and the user journey of the inventory
  sre.runbooks.http_probe:
    urls:
      - {name: api, url: "https://api.pynomaly.com/health"}
      - {name: app, url: "https://app.pynomaly.com/health"}
    journeys:
      - name: detections
        base_url: https://api.pynomaly.com
        headers:
          Authorization: "Bearer {{ smoke_token }}"
        steps:
          - {name: health, path: /health, expect_json: {status: ok}}
          - {name: list detections, path: /api/detections, expect_body: '"detections"'}
  register: verification

- name: Recovery is proven only when every probe and journey passed
  ansible.builtin.assert:
    that: verification.passed
    fail_msg: "{{ verification.findings | map(attribute='summary') | list }}"
"""

RETURN = r"""
status:
  description:
    - C(ok) when every probe and journey passed; C(down) when every probed request failed and every journey
      failed; C(degraded) otherwise.
  returned: always
  type: str
  sample: degraded
passed:
  description: True when every URL met its thresholds and every journey passed.
  returned: always
  type: bool
  sample: false
findings:
  description:
    - C(probe.error_rate) (more requests failed than C(max_error_rate) allows; critical; evidence the figures,
      C(status_codes) and C(error_kinds)),
    - C(probe.latency) (p95 or max latency above its threshold; warning),
    - C(journey.failed) (a journey step failed; critical; evidence C(journey) and C(step) - the failing step with
      its C(name), C(method), C(path), C(status), C(expected), C(error) (why) and C(body) (the first 300 characters,
      secrets masked)).
  returned: always
  type: list
  elements: dict
  sample:
    - id: probe.error_rate
      severity: critical
      summary: "api: 10 of 10 requests failed (100%, max 0%): 500 x10"
      evidence: {name: api, url: "http://127.0.0.1:8000/health", requests: 10, errors: 10, error_rate: 1.0,
                 status_codes: {"500": 10}, error_kinds: {}, thresholds: {max_error_rate: 0.0}}
probe:
  description: The figures of the URL, when exactly one URL was probed (the same as the only item of RV(probes)).
  returned: when one URL was probed
  type: dict
  sample: {name: api, url: "http://127.0.0.1:8000/health", method: GET, requests: 10, errors: 0, error_rate: 0.0,
           answered: 10, status_codes: {"200": 10}, error_kinds: {}, p50_ms: 3.1, p95_ms: 4.8, max_ms: 4.8,
           thresholds: {max_error_rate: 0.0, max_p95_ms: 1000.0, max_ms: null}, failed_checks: [], passed: true}
probes:
  description:
    - One record per URL, in the order given - C(name), C(url), C(method), C(requests), C(errors) (no answer, a
      status not expected or a body that does not match), C(error_rate), C(answered), C(status_codes) (status ->
      count), C(error_kinds) (C(timed out), C(connection refused), C(body does not match) ... -> count), C(p50_ms),
      C(p95_ms), C(max_ms) (null when nothing answered), C(thresholds), C(failed_checks) (C(error_rate), C(p95_ms),
      C(max_ms)), C(passed).
  returned: always
  type: list
  elements: dict
  sample: []
journeys:
  description:
    - One record per journey - C(name), C(passed), C(steps) (the steps run - C(name), C(method), C(path), C(url),
      C(status), C(expected), C(passed), C(ms), C(error)), C(steps_total), C(failed_step) (the failing step, or null).
  returned: always
  type: list
  elements: dict
  sample:
    - name: detections
      passed: false
      steps_total: 2
      steps:
        - {name: health, method: GET, path: /health, url: "http://127.0.0.1:8000/health", status: 503,
           expected: [200], passed: false, ms: 12.5, error: "answered 503 (expected 200)"}
      failed_step: {name: health, index: 0, method: GET, path: /health, status: 503,
                    error: "answered 503 (expected 200)", body: '{"status": "unavailable"}'}
summary:
  description: Counts of probes and journeys, and how many passed.
  returned: always
  type: dict
  sample: {probes: 1, probes_passed: 1, journeys: 1, journeys_passed: 0}
"""

from ansible_collections.sre.runbooks.plugins.module_utils import probe
from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule


def main():
    module = RunbookModule(argument_spec=probe.argument_spec(), supports_check_mode=True, **probe.SPEC_OPTIONS)
    module.run_check(probe.run)


if __name__ == "__main__":
    main()
