# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the Kubernetes remediations share: patches, the waits, the result of a change.

Objects are the API's JSON (camelCase dicts), read with the readers of k8s_workloads.py, whose
``api_errors`` turns client errors into one sentence naming the object. The waits use the rules of
kubectl: ``rollout_progress`` is ``kubectl rollout status``, ``pod_state``'s ready is
``kubectl wait --for=condition=ready``.
"""

import copy
import datetime

from ansible_collections.sre.runbooks.plugins.module_utils.errors import NotConfirmed
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_state import pod_summary, rollout_state
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_workloads import API_NAMES, connect, get_workload
from ansible_collections.sre.runbooks.plugins.module_utils.waiting import wait_for

HASH_LABEL = "pod-template-hash"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


# reading and writing ---------------------------------------------------------------------------
def meta(obj):
    return obj.get("metadata") or {}


def annotations(obj):
    return dict(meta(obj).get("annotations") or {})


def where(k8s):
    return f"in namespace {k8s.namespace}"


def patch_workload(k8s, kind, name, body):
    """Patch a Deployment, StatefulSet or DaemonSet: a dict is a strategic merge patch, a list a JSON patch."""
    method = getattr(k8s.apps, f"patch_namespaced_{API_NAMES[kind]}")
    return k8s.read(method, name, k8s.namespace, body, what=f"patch {kind} {name} {where(k8s)}",
                    not_found=f"{kind} {name} not found {where(k8s)}")


def scale_workload(k8s, kind, name, replicas):
    """Set spec.replicas through the scale subresource (what kubectl scale does)."""
    method = getattr(k8s.apps, f"patch_namespaced_{API_NAMES[kind]}_scale")
    return k8s.read(method, name, k8s.namespace, {"spec": {"replicas": replicas}},
                    what=f"scale {kind} {name} {where(k8s)}", not_found=f"{kind} {name} not found {where(k8s)}")


def patch_hpa(k8s, name, body):
    return k8s.read(k8s.autoscaling.patch_namespaced_horizontal_pod_autoscaler, name, k8s.namespace, body,
                    what=f"patch HorizontalPodAutoscaler {name} {where(k8s)}",
                    not_found=f"HorizontalPodAutoscaler {name} not found {where(k8s)}")


def read_pod(k8s, name):
    return k8s.read(k8s.core.read_namespaced_pod, name, k8s.namespace, what=f"read pod {name} {where(k8s)}",
                    not_found=f"pod {name} not found {where(k8s)}")


def delete_pod(k8s, name, uid):
    """Delete a pod, only if it still is the one read (uid precondition)."""
    body = {"preconditions": {"uid": uid}}
    return k8s.call(k8s.core.delete_namespaced_pod, name, k8s.namespace, body=body,
                    what=f"delete pod {name} {where(k8s)}", not_found=f"pod {name} not found {where(k8s)}")


def template_without_hash(template):
    """A pod template without its pod-template-hash label (how kubectl compares and restores templates)."""
    template = copy.deepcopy(template or {})
    (template.get("metadata") or {}).get("labels", {}).pop(HASH_LABEL, None)
    return template


def images(template):
    """{container: image} of a pod template."""
    return {c.get("name"): c.get("image") for c in ((template or {}).get("spec") or {}).get("containers") or []}


def pod_state(pod):
    """{name, uid, phase, ready, reasons, restarts} of one pod (ready: what kubectl wait --for=condition=ready
    waits for)."""
    summary = pod_summary(pod)
    return {"name": summary["name"], "uid": meta(pod).get("uid"), "phase": summary["phase"],
            "ready": summary["ready"], "reasons": summary["reasons"], "restarts": summary["restarts"]}


# readiness rules -------------------------------------------------------------------------------
def rollout_progress(workload):
    """{done, failed, message}: kubectl rollout status (failed: the progress deadline of this generation passed)."""
    state = rollout_state(workload)
    failed = state["deadline_exceeded"] and state["observed_generation_current"]
    return {"done": state["complete"], "failed": failed, "message": state["message"]}


def replicas_progress(workload, replicas):
    """{done, message}: the workload has `replicas` pods and all of them are ready."""
    status = workload.get("status") or {}
    observed = status.get("observedGeneration")
    current = observed is not None and observed >= (meta(workload).get("generation") or 0)
    ready, total = status.get("readyReplicas") or 0, status.get("replicas") or 0
    return {"done": current and ready == replicas and total == replicas,
            "message": f"{workload.get('kind')} {meta(workload).get('name')}: {ready} of {replicas} replicas "
                       f"ready, {total} pods"}


# waiting and finishing -------------------------------------------------------------------------
def confirm(module, observe, what, result):
    """Wait until observe() is done ({done, failed, message}); return the seconds waited.

    NotConfirmed (the change was made) when it fails or does not come within wait_timeout.
    """
    params = module.params
    ok, state, duration = wait_for(observe, lambda s: s["done"] or s.get("failed", False),
                                   params["wait_timeout"], params["wait_sleep"])
    seen = state.get("message") or state.get("error")
    done = {key: value for key, value in result.items() if key != "changed"}
    if ok and state.get("failed"):
        raise NotConfirmed(f"{what}: {seen}", **done)
    if not ok:
        raise NotConfirmed(f"{what} within {params['wait_timeout']}s (last seen: {seen})", **done)
    return duration


def wait_rollout(module, k8s, kind, name, result):
    """Wait (when asked, not in check mode) for the rollout of a workload; sets result['duration']."""
    if module.params["wait"] and not module.check_mode:
        result["duration"] = confirm(module, lambda: rollout_progress(get_workload(k8s, kind, name)),
                                     f"{kind} {name} did not complete its rollout", result)


def run_change(module, change):
    """Exit with change(module, k8s)'s result (changed from its actions, diff when asked), or fail once."""
    module.run_change(lambda module: change(module, connect(module.params)))


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
