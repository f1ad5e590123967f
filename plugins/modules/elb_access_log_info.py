#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: elb_access_log_info
short_description: Read an Application Load Balancer's access logs and error lines
version_added: 1.0.0
description:
  - The runbook's Load Balancer check (C(aws logs filter-log-events --log-group-name /aws/applicationloadbalancer/...
    --filter-pattern ERROR)), plus what the load balancer's own access logs in S3 say about the last
    O(window_minutes) minutes.
  - Access logs are read as the ALB writes them
    (C(s3://BUCKET/PREFIX/AWSLogs/ACCOUNT/elasticloadbalancing/REGION/YYYY/MM/DD/...log.gz), gzip, one entry a
    line in the documented format), newest object first, at most O(max_bytes) bytes in all; when that bound
    cuts the read, C(s3.truncated) is true and the figures cover only what was read.
  - Returns the request count, 5xx by target and by path, the 4xx count, the targets' response time
    (C(target_processing_time)) at p50/p95/p99 and the last 5xx lines.
  - The log group's events matching O(filter_pattern) in the window are read too, at most O(max_events).
  - A bucket or log group that is missing or denied is the finding C(elb_logs.unreadable), and an AWS endpoint
    that does not answer is C(elb_logs.api_unreachable); neither fails the task.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.aws
  - sre.runbooks.attributes
  - sre.runbooks.attributes.INFO_MODULE
options:
  s3_bucket:
    description:
      - The bucket the load balancer writes its access logs to (its C(access_logs.s3.bucket) attribute).
      - At least one of O(s3_bucket) and O(log_group_name) is required.
    type: str
  s3_prefix:
    description: The prefix of the access logs in the bucket (C(access_logs.s3.prefix)); empty for none.
    type: str
    default: ""
  account_id:
    description: The account whose logs to read. Default - every account found under the prefix's C(AWSLogs/).
    type: str
  load_balancer_name:
    description: Read only the log objects of this load balancer (a bucket can hold the logs of several).
    type: str
  log_group_name:
    description: A CloudWatch log group of the load balancer to search (C(/aws/applicationloadbalancer/NAME)).
    type: str
  filter_pattern:
    description: The CloudWatch Logs filter pattern the log group's events must match; empty for every event.
    type: str
    default: ERROR
  max_events:
    description: Read at most this many matching events of the log group (1 to 10000).
    type: int
    default: 1000
  window_minutes:
    description: How far back to read, in minutes (1 to 10080).
    type: int
    default: 60
  max_bytes:
    description: Read at most this many bytes of access log objects (compressed), newest first.
    type: int
    default: 52428800
  max_error_rate:
    description: A share of 5xx answers above this (0 to 1) is the finding C(elb_logs.error_rate_high).
    type: float
    default: 0.05
  max_p95_seconds:
    description: A p95 target response time above this many seconds is the finding C(elb_logs.latency_high).
    type: float
    default: 1.0
  min_requests:
    description: Judge the error rate and the latency only over at least this many requests.
    type: int
    default: 20
  error_lines:
    description: Return at most this many of the last error lines, of the access logs and of the log group (0 to 200).
    type: int
    default: 10
"""

EXAMPLES = r"""
- name: Check the load balancer's logs (Load Balancer Issues)
  sre.runbooks.elb_access_log_info:
    s3_bucket: pynomaly-alb-logs
    s3_prefix: alb
    load_balancer_name: pynomaly-alb
    log_group_name: /aws/applicationloadbalancer/pynomaly-alb
    window_minutes: 30
  register: alb_logs

- name: Only the error lines of the log group
  sre.runbooks.elb_access_log_info:
    log_group_name: /aws/applicationloadbalancer/pynomaly-alb
    filter_pattern: ERROR
"""

RETURN = r"""
status:
  description:
    - C(ok); C(degraded) (error rate or latency too high); C(unknown) (the AWS endpoint does not answer, or a
      source cannot be read or holds no entry of the window, and nothing else is wrong).
  returned: always
  type: str
  sample: degraded
findings:
  description:
    - Ids C(elb_logs.error_rate_high) (5xx answers above O(max_error_rate) of at least O(min_requests)
      requests; critical; evidence error_rate, max_error_rate, requests, errors_5xx, by_target, by_path),
    - C(elb_logs.latency_high) (p95 of C(target_processing_time) above O(max_p95_seconds); warning; evidence
      p95_seconds, max_p95_seconds, requests, slow_paths),
    - C(elb_logs.unreadable) (the bucket or log group is missing or access is denied; warning; evidence
      source s3|cloudwatch, location, error, error_code),
    - C(elb_logs.no_entries) (the bucket holds no access log entry of the window - logging off, or another
      bucket or prefix; info; status C(unknown); evidence location, window_minutes, objects_in_window),
    - C(elb_logs.api_unreachable) (the AWS endpoint does not answer; critical; status C(unknown)).
  returned: always
  type: list
  elements: dict
  sample:
    - id: elb_logs.error_rate_high
      severity: critical
      summary: "22.4% of 250 requests answered 5xx (max 5.0%); most from target -"
      evidence: {error_rate: 0.224, max_error_rate: 0.05, requests: 250, errors_5xx: 56,
                 by_target: {"-": 50, "10.20.1.12:8000": 6}, by_path: {/api/v1/detect: 56}}
window_start:
  description: The start of the window read (UTC).
  returned: always
  type: str
  sample: "2026-11-27T13:05:00Z"
window_minutes:
  description: O(window_minutes).
  returned: always
  type: int
  sample: 60
requests:
  description: Access log entries of the window read.
  returned: always
  type: int
  sample: 200
errors_5xx:
  description: Entries whose C(elb_status_code) is 5xx.
  returned: always
  type: int
  sample: 6
errors_4xx:
  description: Entries whose C(elb_status_code) is 4xx.
  returned: always
  type: int
  sample: 6
error_rate:
  description: errors_5xx / requests, or null without requests.
  returned: always
  type: float
  sample: 0.03
errors_5xx_by_target:
  description: 5xx entries by target (C(IP:PORT); C(-) when no target got the request), most first.
  returned: always
  type: dict
  sample: {"10.20.1.12:8000": 6}
errors_5xx_by_path:
  description: 5xx entries by request path, most first.
  returned: always
  type: dict
  sample: {/api/v1/detect: 6}
latency:
  description:
    - C(target_processing_time) in seconds at p50, p95 and p99 (nearest rank), over the C(samples) entries a
      target answered (the log's -1 is left out); null without samples.
  returned: always
  type: dict
  sample: {p50: 0.002, p95: 0.18, p99: 5.5, samples: 196}
slow_paths:
  description: The five paths with the highest p95 C(target_processing_time).
  returned: always
  type: list
  elements: dict
  sample: [{path: /api/v1/reports, requests: 8, p95_seconds: 6.0}]
error_lines:
  description: The last 5xx access log entries, as logged, oldest first.
  returned: always
  type: list
  elements: str
s3:
  description:
    - What was read of the bucket (null without O(s3_bucket)) - bucket, prefix, objects_in_window,
      objects_read, objects_cut (read in part at the O(max_bytes) bound), objects_not_read, objects_unreadable
      [{key, error}], bytes_read, truncated (the bound cut the read), unparsed_lines.
  returned: always
  type: dict
  sample: {bucket: pynomaly-alb-logs, prefix: alb, objects_in_window: 3, objects_read: 3, objects_cut: 0,
           objects_not_read: 0, objects_unreadable: [], bytes_read: 9120, truncated: false, unparsed_lines: 0}
cloudwatch:
  description:
    - The log group's matching events (null without O(log_group_name)) - log_group, filter_pattern,
      events_matched, truncated (O(max_events) reached), lines [{time, stream, message}] (the last, oldest first).
  returned: always
  type: dict
  sample: {log_group: /aws/applicationloadbalancer/pynomaly-alb, filter_pattern: ERROR, events_matched: 4,
           truncated: false, lines: [{time: "2026-11-27T13:58:12Z", stream: pynomaly-alb,
                                      message: "ERROR elb_status_code=502 target=10.20.1.12:8000"}]}
"""

from ansible_collections.sre.runbooks.plugins.module_utils.checks import elb_access_log
from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule


def main():
    module = RunbookModule(argument_spec=elb_access_log.argument_spec(), **elb_access_log.SPEC_OPTIONS,
                           supports_check_mode=True)
    module.require_library("boto3", elb_access_log.HAS_BOTO3, elb_access_log.BOTO3_IMPORT_ERROR)
    module.run_check(elb_access_log.run)


if __name__ == "__main__":
    main()
