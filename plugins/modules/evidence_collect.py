#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: evidence_collect
short_description: Collect an incident's logs, journal, metrics and findings into its evidence folder
version_added: 1.0.0
description:
  - The runbook's Data Collection (C(cp /var/log/pynomaly/application.log ...), C(journalctl -u pynomaly --since
    "1 hour ago"), C(curl http://prometheus:9090/api/v1/query_range?...)) into
    C(<incident_dir>/<incident_id>/evidence/), plus pod logs, ALB access logs and the findings, diagnosis and
    actions of the run.
  - Every file is redacted before it is written (passwords, tokens, bearer/basic/OAuth credentials, user:password in
    connection strings, AWS keys, Slack tokens).
  - Bounded - each file keeps at most O(max_file_bytes) (a text file its last whole lines, with a note line first;
    a JSON file that is larger is skipped), and all files together at most O(max_bytes) - sources are taken in the
    order given; the file that reaches the bound is cut (a text file) or skipped (JSON), and every later
    file is skipped.
  - Writes C(manifest.json) beside the files - each file's C(path) (relative to the evidence folder), C(bytes),
    C(sha256), C(source), C(truncated), and the C(skipped) sources with the reason.
  - A source that cannot be read (a missing file, Prometheus or the Kubernetes API not answering) is listed in the
    manifest's C(skipped); the task does not fail for it. Bad input fails naming the option, before anything is
    written.
  - File names are made safe (letters, digits, C(_), C(.), C(-)), so nothing is written outside the folder.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.aws
  - sre.runbooks.k8s
  - sre.runbooks.attributes
attributes:
  check_mode:
    support: full
    details: Reads the sources and returns the manifest it would write; writes nothing.
  diff_mode:
    support: full
    details: The diff is the files (path -> sha256) before and after.
  idempotent:
    support: partial
    details:
      - A re-run of the same incident replaces the files that changed, removes the files of the last manifest it did
        not collect again, and rewrites the manifest; when nothing changed it writes nothing (C(changed=false)).
      - Logs and metrics of a live system change between runs.
options:
  incident_dir:
    description: Directory under which each incident has its folder. Falls back to E(SRE_INCIDENT_DIR).
    type: path
    required: true
  incident_id:
    description: The incident's id; its folder is named as the incident record names it.
    type: str
    required: true
  max_bytes:
    description: Most bytes written in all (the manifest not counted).
    type: int
    default: 20971520
  max_file_bytes:
    description: Most bytes of one file.
    type: int
    default: 5242880
  window_minutes:
    description:
      - The incident window, in minutes (1 to 10080) - how far back the journal, metrics, pod logs and ALB logs go.
    type: int
    default: 60
  timeout:
    description: Seconds one Prometheus request may take.
    type: float
    default: 10.0
  sources:
    description:
      - What to collect, in order of importance (the O(max_bytes) bound keeps the first).
    type: list
    elements: dict
    required: true
    suboptions:
      type:
        description:
          - C(file) - a log file (or every file a glob matches), its last O(sources[].tail_bytes).
          - C(journal) - C(journalctl -u UNIT --since ... --no-pager -o short-iso) on the host; skipped when the host
            has no journalctl.
          - C(prometheus) - a range query (C(/api/v1/query_range)) saved as JSON.
          - C(k8s_pod_logs) - the logs of the selected pods (one file per pod and container), read as
            M(sre.runbooks.k8s_pod_logs_info) reads them, with the shared Kubernetes connection options.
          - C(alb_logs) - the ALB access log lines of the window from S3, read as M(sre.runbooks.elb_access_log_info)
            reads them, with the shared AWS connection options.
          - C(json) - O(sources[].data) (findings, diagnosis, actions) saved as JSON.
        type: str
        required: true
        choices: [file, journal, prometheus, k8s_pod_logs, alb_logs, json]
      name:
        description:
          - The file name in the evidence folder (made safe). Required for C(json).
          - Defaults - the file's name; C(journal-UNIT.log); C(prometheus-EXPR.json); C(pod-POD-CONTAINER.log);
            C(alb-access.log).
        type: str
      path:
        description: For C(file) (required) - absolute path of the file; a glob takes every file it matches.
        type: str
      tail_bytes:
        description: For C(file) - keep at most the last this many bytes. Default and upper bound - O(max_file_bytes).
        type: int
      unit:
        description: For C(journal) (required) - the systemd unit.
        type: str
      since:
        description: For C(journal) - C(journalctl --since) value. Default - the start of the window.
        type: str
      url:
        description: For C(prometheus) (required) - the base URL of Prometheus (C(http://prometheus:9090)).
        type: str
      expr:
        description: For C(prometheus) (required) - the PromQL expression.
        type: str
      minutes:
        description:
          - For C(prometheus), C(k8s_pod_logs), C(alb_logs) - this source's window. Default - O(window_minutes).
        type: int
      step:
        description: For C(prometheus) - seconds between points (at most 11000 points).
        type: int
        default: 60
      namespace:
        description: For C(k8s_pod_logs) - the namespace. Default - O(namespace).
        type: str
      label_selector:
        description:
          - For C(k8s_pod_logs) - the pods matching this label selector.
          - Exactly one of O(sources[].label_selector), O(sources[].deployment), O(sources[].statefulset),
            O(sources[].pod) is required for C(k8s_pod_logs).
        type: str
      deployment:
        description: For C(k8s_pod_logs) - the pods of this Deployment.
        type: str
      statefulset:
        description: For C(k8s_pod_logs) - the pods of this StatefulSet.
        type: str
      pod:
        description: For C(k8s_pod_logs) - this pod.
        type: str
      container:
        description: For C(k8s_pod_logs) - only this container. Default - every container.
        type: str
      previous:
        description: For C(k8s_pod_logs) - the previous (terminated) containers' logs.
        type: bool
        default: false
      tail_lines:
        description: For C(k8s_pod_logs) - at most this many last lines per container.
        type: int
        default: 5000
      max_pods:
        description: For C(k8s_pod_logs) - at most this many pods (the first by name).
        type: int
        default: 20
      s3_bucket:
        description: For C(alb_logs) (required) - the bucket of the access logs.
        type: str
      s3_prefix:
        description: For C(alb_logs) - the prefix of the access logs in the bucket.
        type: str
        default: ""
      account_id:
        description: For C(alb_logs) - the account whose logs to read. Default - every account under the prefix.
        type: str
      load_balancer_name:
        description: For C(alb_logs) - only this load balancer's log objects.
        type: str
      data:
        description: For C(json) (required) - the data to save. Secret-looking keys are masked.
        type: raw
notes:
  - Files are read as UTF-8 text (invalid bytes are replaced) and written with mode 0600.
  - The AWS and Kubernetes options and libraries are needed only by the C(alb_logs) and C(k8s_pod_logs) sources.
"""

EXAMPLES = r"""
- name: Collect logs for analysis (runbook Post-Incident Actions, Data Collection)
  sre.runbooks.evidence_collect:
    incident_dir: "{{ incident_dir }}"
    incident_id: "{{ incident.id }}"
    window_minutes: 60
    sources:
      - {type: json, name: findings, data: "{{ incident.findings }}"}
      - {type: json, name: diagnosis, data: "{{ diagnosis }}"}
      - {type: file, path: /var/log/pynomaly/application.log}
      - {type: file, path: "/var/log/nginx/*.log", name: nginx}
      - {type: journal, unit: pynomaly}
      - {type: prometheus, url: "http://prometheus:9090", expr: up, name: metrics-up}
      - {type: prometheus, url: "http://prometheus:9090", name: http-5xx-rate,
         expr: 'sum(rate(http_requests_total{status=~"5.."}[5m]))'}
  register: evidence

- name: Save the backend's pod logs and the ALB access logs of the window
  sre.runbooks.evidence_collect:
    incident_dir: "{{ incident_dir }}"
    incident_id: "{{ incident.id }}"
    namespace: pubsec-info-assistant
    sources:
      - {type: k8s_pod_logs, deployment: backend}
      - {type: k8s_pod_logs, label_selector: component=qdrant, name: qdrant}
      - {type: alb_logs, s3_bucket: pynomaly-alb-logs, s3_prefix: prod, load_balancer_name: pynomaly-alb}
"""

RETURN = r"""
evidence_dir:
  description: The absolute path of the evidence folder.
  returned: always
  type: str
  sample: /srv/incidents/INC-20240501-1003/evidence
manifest:
  description:
    - What C(manifest.json) holds - C(incident_id), C(collected_at), C(window_minutes), C(files) (each C(path),
      C(bytes), C(sha256), C(source), C(truncated), and C(note) when cut), C(total_bytes), C(max_bytes),
      C(max_file_bytes), C(skipped) (each C(source) and C(reason)).
    - In check mode, the manifest that would be written.
  returned: always
  type: dict
  sample:
    incident_id: INC-20240501-1003
    collected_at: "2024-05-01T10:45:00Z"
    window_minutes: 60
    files:
      - {path: findings.json, bytes: 2210, sha256: 9f2c..., source: "json:findings", truncated: false}
      - {path: application.log, bytes: 5242880, sha256: 41aa..., source: "file:/var/log/pynomaly/application.log",
         truncated: true,
         note: "[evidence_collect] truncated (max_file_bytes): the first 1048576 of 6291456 bytes are left out"}
    total_bytes: 5245090
    max_bytes: 20971520
    max_file_bytes: 5242880
    skipped:
      - {source: "prometheus:up", reason: "Prometheus at http://prometheus:9090 did not answer: connection refused"}
msg:
  description: What was collected, in one line.
  returned: always
  type: str
  sample: "collected 2 file(s), 5245090 bytes, in /srv/incidents/INC-20240501-1003/evidence; 1 source(s) skipped"
actions:
  description: The files written and removed (would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["write findings.json (2210 bytes)", "write manifest.json"]
before:
  description: C(files) - path -> sha256 of the last manifest (empty on the first run).
  returned: always
  type: dict
  sample: {files: {}}
after:
  description: C(files) - path -> sha256 of the files collected.
  returned: always
  type: dict
  sample: {files: {findings.json: 9f2c...}}
"""

from ansible_collections.sre.runbooks.plugins.module_utils import evidence
from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule


class Host:
    """What the journal source runs on the managed host, through AnsibleModule."""

    def __init__(self, module):
        self.module = module

    def which(self, name):
        return self.module.get_bin_path(name)

    def run(self, argv):
        return self.module.run_command(argv, encoding=None)


def main():
    module = RunbookModule(argument_spec=evidence.argument_spec(), supports_check_mode=True, **evidence.SPEC_OPTIONS)
    module.run_change(lambda m: evidence.collect(m.params, m.check_mode, Host(m)))


if __name__ == "__main__":
    main()
