#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: k8s_cluster_info
short_description: Check the nodes of a Kubernetes cluster and the pods of a namespace
version_added: 1.0.0
description:
  - The runbook's infrastructure check (C(kubectl get nodes), C(kubectl get pods -o wide)) in one call, through
    the Kubernetes API.
  - Nodes - Ready, pressure conditions, cordoned. Pods of O(namespace) - phase, ready, restarts, the waiting and
    terminated reasons of their containers (C(CrashLoopBackOff), C(ImagePullBackOff), C(ErrImagePull),
    C(OOMKilled), ...), node and age, each with the workload that owns it (a ReplicaSet's pods belong to its
    Deployment).
  - Pod findings are one per workload and problem, not one per pod.
  - An API that does not answer is the finding C(k8s.api_unreachable) with status C(unknown), not a failure.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.k8s
  - sre.runbooks.attributes
  - sre.runbooks.attributes.INFO_MODULE
options:
  include_nodes:
    description: Read the nodes too (needs the cluster-wide permission to list nodes).
    type: bool
    default: true
  pending_seconds:
    description: A pod Pending for at least this many seconds (since it was created) is a finding.
    type: int
    default: 120
"""

EXAMPLES = r"""
- name: Check Kubernetes cluster health (P0-1 Investigation step 1)
  sre.runbooks.k8s_cluster_info:
    kubeconfig: ~/.kube/config
    context: prod-eu
    namespace: pubsec-info-assistant
  register: cluster
"""

RETURN = r"""
status:
  description:
    - C(ok); C(degraded) (a node, pod or workload problem); C(down) (a workload has no ready pod);
      C(unknown) (the API does not answer).
  returned: always
  type: str
  sample: degraded
findings:
  description:
    - Ids C(k8s.api_unreachable) (the API does not answer; critical; evidence C(error)),
    - C(k8s.node_not_ready) (critical; evidence C(node), C(reason), C(message)),
    - C(k8s.node_pressure) (memory, disk or PID pressure, network unavailable; warning; evidence C(node),
      C(conditions)),
    - C(k8s.node_cordoned) (unschedulable; warning; evidence C(node)),
    - C(k8s.pods_crashlooping) (critical), C(k8s.pods_image_pull_failing) (critical), C(k8s.pods_oom_killed)
      (warning), C(k8s.pods_pending) (warning), each one per workload with evidence C(workload), C(kind),
      C(pods) (names), C(reasons),
    - C(k8s.workload_no_ready_pods) (a workload wanting pods has none ready; critical; evidence C(workload),
      C(kind), C(desired), C(pods), C(reasons)).
  returned: always
  type: list
  elements: dict
  sample:
    - id: k8s.pods_crashlooping
      severity: critical
      summary: "2 pod(s) of Deployment backend are crash-looping: backend-7d9f-abcde, backend-7d9f-fghij (...)"
      evidence: {workload: backend, kind: Deployment, pods: [backend-7d9f-abcde, backend-7d9f-fghij],
                 reasons: [CrashLoopBackOff, Error]}
nodes:
  description: Every node (empty when O(include_nodes=false) or the API does not answer).
  returned: always
  type: list
  elements: dict
  sample:
    - {name: node-1, ready: true, ready_reason: KubeletReady, ready_message: kubelet is posting ready status,
       unschedulable: false, pressure: [], internal_ip: 10.0.1.11, kubelet_version: v1.29.4}
pods:
  description:
    - Every pod of the namespace. C(status) is what C(kubectl get pods) shows in STATUS; C(reasons) are the
      waiting, terminated and last-terminated reasons of its containers, the pod's own reason and an
      unschedulable reason; C(kind)/C(workload) its owner (C(Pod) and its own name for a bare pod).
  returned: always
  type: list
  elements: dict
  sample:
    - {name: backend-7d9f-abcde, phase: Running, ready: false, status: CrashLoopBackOff, restarts: 4,
       reasons: [CrashLoopBackOff, Error], node: node-2, created: "2024-05-01T10:00:00Z", age_seconds: 300,
       workload: backend, kind: Deployment,
       containers: [{name: backend, image: "registry.local/pubsec/backend:1.4.3", ready: false, restarts: 4,
                     state: waiting, reason: CrashLoopBackOff, exit_code: null, last_reason: Error,
                     last_exit_code: 1}]}
workloads:
  description: Every Deployment, StatefulSet and DaemonSet with its desired replicas, its pods and its ready pods.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: backend, kind: Deployment, desired: 2, pods: 2, ready: 0}
"""

from ansible_collections.sre.runbooks.plugins.module_utils.checks import k8s_cluster
from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule


def main():
    module = RunbookModule(argument_spec=k8s_cluster.argument_spec(), **k8s_cluster.SPEC_OPTIONS,
                           supports_check_mode=True)
    module.run_check(k8s_cluster.run)


if __name__ == "__main__":
    main()
