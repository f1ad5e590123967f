#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: k8s_workload_info
short_description: Check Deployments and StatefulSets - replicas, rollout, history, HPA, PVCs, env
version_added: 1.0.0
description:
  - The runbook's C(kubectl describe deployment), C(kubectl rollout status), C(kubectl rollout history),
    C(kubectl get hpa) and C(kubectl get pvc) for the workloads of a namespace, in one call.
  - For each workload - desired, ready, updated and available replicas; the rollout state by the rule of
    C(kubectl rollout status) (observed generation, Progressing and Available conditions, progress deadline
    exceeded); for a Deployment its revisions (its ReplicaSets with image, change-cause, creation time, replicas);
    the HPA that targets it; the PVCs it mounts (phase, capacity); the env vars asked for; its pods.
  - A rollout within O(recent_minutes) that has not finished and whose new pods are not ready is
    C(k8s.rollout_failing), with the revision to roll back to and its image. A rollout that finished
    (C(Progressing) reason C(NewReplicaSetAvailable)) is not blamed for pods that fail after it.
  - New pods count as failing when a container reports a failing reason (C(CrashLoopBackOff),
    C(ImagePullBackOff), C(Error), C(OOMKilled), ...) or restarts, when the progress deadline is exceeded, or when
    they are still not ready two minutes after the rollout.
  - The time of a rollout is the creation time of its ReplicaSet (a rollback that reuses an older ReplicaSet keeps
    that ReplicaSet's time). Revisions are read for Deployments only.
  - An API that does not answer is the finding C(k8s.api_unreachable) with status C(unknown), not a failure.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.k8s
  - sre.runbooks.attributes
  - sre.runbooks.attributes.INFO_MODULE
options:
  names:
    description:
      - Workloads to check, as C(NAME) (looked up among O(kinds), in that order) or C(KIND/NAME) with KIND as
        kubectl writes it (C(deployment/backend), C(sts/qdrant), C(ds/node-agent)).
      - A name that does not exist is the finding C(k8s.workload_missing).
      - Empty (the default) checks every workload of O(kinds) in O(namespace).
    type: list
    elements: str
    default: []
  kinds:
    description: Kinds of workload to check (and to look names up in).
    type: list
    elements: str
    choices: [Deployment, StatefulSet, DaemonSet]
    default: [Deployment, StatefulSet]
  recent_minutes:
    description: A rollout at most this many minutes old whose new pods are not ready is C(k8s.rollout_failing).
    type: int
    default: 30
  env_vars:
    description:
      - Env vars of the workloads' containers to report (null when unset). A value from a secret or config map
        is shown as its reference, never read.
    type: list
    elements: str
    default: [REDIS_ENABLED, LLM_PROVIDER, CACHE_ONLY_MODE]
"""

EXAMPLES = r"""
- name: Review recent changes of the backend (P0-1 Investigation step 3)
  sre.runbooks.k8s_workload_info:
    namespace: pubsec-info-assistant
    names: [deployment/backend]
    recent_minutes: 60
  register: backend

- name: Roll back when the recent rollout's pods fail
  ansible.builtin.debug:
    msg: "Roll back to revision {{ failing.evidence.previous_revision }} ({{ failing.evidence.previous_image }})"
  vars:
    failing: "{{ backend.findings | selectattr('id', '==', 'k8s.rollout_failing') | first }}"
  when: backend.findings | selectattr('id', '==', 'k8s.rollout_failing') | list | length > 0

- name: Check the Qdrant StatefulSet and its storage (P0-2)
  sre.runbooks.k8s_workload_info:
    namespace: pubsec-info-assistant
    names: [statefulset/qdrant]
"""

RETURN = r"""
status:
  description:
    - C(ok); C(degraded) (a rollout, replica, HPA or PVC problem); C(down) (a workload has no ready replica or
      is missing); C(unknown) (the API does not answer).
  returned: always
  type: str
  sample: down
findings:
  description:
    - Every evidence has C(workload) (name) and C(kind), except C(k8s.api_unreachable) (critical; evidence
      C(error)).
    - C(k8s.workload_missing) (critical; C(kind) null when several kinds were searched, C(kinds)),
    - C(k8s.rollout_failing) (critical; C(revision), C(previous_revision), C(image), C(previous_image),
      C(replicaset), C(previous_replicaset), C(change_cause), C(minutes_ago), C(pods), C(reasons)),
    - C(k8s.rollout_stuck) (progress deadline exceeded; critical; C(message)),
    - C(k8s.no_ready_replicas) (critical; C(desired), C(ready)),
    - C(k8s.replicas_unavailable) (some but not all replicas ready; warning; C(desired), C(ready)),
    - C(k8s.hpa_at_max) (warning; C(hpa), C(max), C(current)),
    - C(k8s.pvc_not_bound) (a mounted PVC is not Bound or is missing; critical; C(pvc), C(phase)).
  returned: always
  type: list
  elements: dict
  sample:
    - id: k8s.rollout_failing
      severity: critical
      summary: "Deployment backend rolled out revision 3 (image registry.local/pubsec/backend:1.4.3) 4.0 minutes
        ago and 0 of 2 of its new pods are ready (CrashLoopBackOff, Error); roll back to revision 2 (image
        registry.local/pubsec/backend:1.4.2)"
      evidence: {workload: backend, kind: Deployment, revision: 3, previous_revision: 2,
                 image: "registry.local/pubsec/backend:1.4.3", previous_image: "registry.local/pubsec/backend:1.4.2",
                 replicaset: backend-5c8d7f, previous_replicaset: backend-7d9f, change_cause: release 1.4.3,
                 minutes_ago: 4.0, pods: [backend-5c8d7f-abcde, backend-5c8d7f-fghij],
                 reasons: [CrashLoopBackOff, Error]}
workloads:
  description:
    - Each workload checked. C(rollout) is C(kubectl rollout status) - C(complete) and its C(message), the
      counts, C(observed_generation_current), the C(progressing) and C(available_condition) conditions
      (status, reason, message, lastUpdateTime) and C(deadline_exceeded).
    - C(history) (Deployments) lists its revisions oldest first; C(revision) is the current one.
    - C(hpa) is the HPA targeting it (null when none); C(pvcs) the claims it mounts (phase C(Missing) when the
      claim does not exist); C(env) the vars of O(env_vars); C(pods) its pods as
      M(sre.runbooks.k8s_cluster_info) returns them, with C(replicaset).
  returned: always
  type: list
  elements: dict
  sample:
    - name: backend
      kind: Deployment
      desired: 2
      ready: 2
      updated: 2
      available: 2
      images: ["registry.local/pubsec/backend:1.4.2"]
      env: {REDIS_ENABLED: "true", LLM_PROVIDER: openai, CACHE_ONLY_MODE: "false"}
      revision: 2
      rollout: {desired: 2, updated: 2, ready: 2, available: 2, observed_generation_current: true,
                progressing: {status: "True", reason: NewReplicaSetAvailable, message: "...", lastUpdateTime: "..."},
                available_condition: {status: "True", reason: MinimumReplicasAvailable, message: "...",
                                      lastUpdateTime: "..."},
                deadline_exceeded: false, complete: true, message: Deployment backend successfully rolled out}
      history:
        - {revision: 1, replicaset: backend-7f6c, images: ["registry.local/pubsec/backend:1.4.1"],
           change_cause: release 1.4.1, created: "2024-05-01T08:00:00Z", replicas: 0, ready: 0, current: false}
        - {revision: 2, replicaset: backend-7d9f, images: ["registry.local/pubsec/backend:1.4.2"],
           change_cause: "release 1.4.2", created: "2024-05-01T09:00:00Z", replicas: 2, ready: 2, current: true}
      hpa: {name: backend, min: 2, max: 10, current: 2, desired: 2, at_max: false}
      pvcs: []
      pods: []
"""

from ansible_collections.sre.runbooks.plugins.module_utils.checks import k8s_workload
from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule


def main():
    module = RunbookModule(argument_spec=k8s_workload.argument_spec(), **k8s_workload.SPEC_OPTIONS,
                           supports_check_mode=True)
    module.run_check(k8s_workload.run)


if __name__ == "__main__":
    main()
