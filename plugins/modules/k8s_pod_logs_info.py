#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: k8s_pod_logs_info
short_description: Read the logs of Kubernetes pods and count lines matching patterns
version_added: 1.0.0
description:
  - The runbook's C(kubectl logs ... --tail=N | grep -i PATTERN) for every pod behind a label selector, a
    Deployment or StatefulSet, or one pod, through the Kubernetes API.
  - Pods are read concurrently, at most O(max_pods) of them (by name); the log read is bounded by O(tail_lines)
    and O(since_seconds).
  - For each pattern - how many lines match, in which pods, and the last matching lines.
  - An API that does not answer is the finding C(k8s.api_unreachable) with status C(unknown), not a failure.
    A log that cannot be read (for example no previous container) is reported in its entry's C(error).
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.k8s
  - sre.runbooks.attributes
  - sre.runbooks.attributes.INFO_MODULE
options:
  label_selector:
    description: Pods matching this label selector (C(component=qdrant)).
    type: str
  deployment:
    description: The pods of this Deployment (the pods its selector matches, old and new revisions alike).
    type: str
  statefulset:
    description: The pods of this StatefulSet.
    type: str
  pod:
    description:
      - This pod only.
      - Exactly one of O(label_selector), O(deployment), O(statefulset) and O(pod) is required.
    type: str
  container:
    description: The container to read. Default - every container of each pod.
    type: str
  previous:
    description: Read the logs of the previous (terminated) container, what a crash-looping pod shows.
    type: bool
    default: false
  tail_lines:
    description: Read at most this many of the last lines of each container (1 to 5000).
    type: int
    default: 500
  since_seconds:
    description: Read only the lines of the last this many seconds (1 to 604800). Default - no time limit.
    type: int
  patterns:
    description:
      - Patterns to count, as name -> regular expression (matched case-insensitively, anywhere in the line).
      - Each pattern found is the finding C(k8s.log_pattern_found).
    type: dict
    default: {}
  max_pods:
    description: Read at most this many pods (1 to 100), the first by name.
    type: int
    default: 20
  return_lines:
    description: Return the last this many lines of each log in RV(logs) (0 to 200).
    type: int
    default: 20
"""

EXAMPLES = r"""
- name: Check backend logs for the runbook's error lines (P0-2, P0-3, P0-4)
  sre.runbooks.k8s_pod_logs_info:
    namespace: pubsec-info-assistant
    deployment: backend
    tail_lines: 1000
    since_seconds: 900
    patterns:
      qdrant: Qdrant connection error
      redis: Redis connection failed
      openai: OpenAI API error
  register: backend_logs

- name: Read the last lines of Qdrant (P0-2 Investigation step 1)
  sre.runbooks.k8s_pod_logs_info:
    namespace: pubsec-info-assistant
    pod: qdrant-0
    tail_lines: 100
    return_lines: 100

- name: Why does the new backend crash (logs of the previous container)
  sre.runbooks.k8s_pod_logs_info:
    namespace: pubsec-info-assistant
    label_selector: app=backend
    previous: true
"""

RETURN = r"""
status:
  description:
    - C(ok) (no pattern found); C(degraded) (a pattern found); C(unknown) (no pod selected, or the API does not
      answer).
  returned: always
  type: str
  sample: degraded
findings:
  description:
    - Ids C(k8s.log_pattern_found) (warning; evidence C(pattern) (its name), C(count), C(pods), C(last_lines),
      and C(workload)/C(kind) when every pod read has the same owner, else null),
    - C(k8s.workload_missing) (the O(deployment) or O(statefulset) does not exist; critical; C(workload), C(kind)),
    - C(k8s.no_pods) (no pod matches the selection; warning; the selection options),
    - C(k8s.api_unreachable) (critical; evidence C(error)).
  returned: always
  type: list
  elements: dict
  sample:
    - id: k8s.log_pattern_found
      severity: warning
      summary: "12 log line(s) match 'openai' in backend-7d9f-abcde, backend-7d9f-fghij"
      evidence: {pattern: openai, count: 12, pods: [backend-7d9f-abcde, backend-7d9f-fghij], workload: backend,
                 kind: Deployment, last_lines: ["2024-05-01T10:03:00Z ERROR app.llm: OpenAI API error: 503"]}
pods:
  description: Names of the pods read.
  returned: always
  type: list
  elements: str
  sample: [backend-7d9f-abcde, backend-7d9f-fghij]
pods_total:
  description: How many pods the selection matched (more than RV(pods) when O(max_pods) cut it).
  returned: always
  type: int
  sample: 2
workload:
  description: C(kind) and C(name) of the owner of the pods read, when they all have the same one (else nulls).
  returned: always
  type: dict
  sample: {kind: Deployment, name: backend}
logs:
  description:
    - One entry per pod and container read - C(pod), C(container), C(previous), C(line_count) (lines read),
      C(lines) (the last O(return_lines) of them), C(error) (why it could not be read, else null).
  returned: always
  type: list
  elements: dict
  sample:
    - {pod: backend-7d9f-abcde, container: backend, previous: false, line_count: 500, error: null,
       lines: ["2024-05-01T10:03:00Z ERROR app.llm: OpenAI API error: 503"]}
patterns:
  description: Per pattern name - C(regex), C(count), C(pods) (with a match), C(last_lines) (up to 5, C(pod), C(line)).
  returned: always
  type: dict
  sample:
    openai: {regex: OpenAI API error, count: 12, pods: [backend-7d9f-abcde],
             last_lines: [{pod: backend-7d9f-abcde, line: "2024-05-01T10:03:00Z ERROR app.llm: OpenAI API error"}]}
"""

from ansible_collections.sre.runbooks.plugins.module_utils.checks import k8s_pod_logs
from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule


def main():
    module = RunbookModule(argument_spec=k8s_pod_logs.argument_spec(), **k8s_pod_logs.SPEC_OPTIONS,
                           supports_check_mode=True)
    module.run_check(k8s_pod_logs.run)


if __name__ == "__main__":
    main()
