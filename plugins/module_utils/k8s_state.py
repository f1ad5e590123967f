# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure summaries of Kubernetes objects given as the API's JSON (camelCase dicts, ``kubectl get -o json``).

Pod state, rollout state (the rule of ``kubectl rollout status``), Deployment revisions (``kubectl rollout
history``), the HPA targeting a workload, the PVCs it mounts, its env. No API calls: k8s_workloads.py reads
the objects; these functions work the same on objects read there, built in a test, or returned by a patch.
"""

import json
import re

from ansible_collections.sre.runbooks.plugins.module_utils.timestamps import seconds_since

REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"


def age_seconds(value, now=None):
    """Whole seconds since a timestamp of the API (0 for a time ahead of this clock); None when unreadable."""
    seconds = seconds_since(value, now)
    return None if seconds is None else max(0, int(seconds))


def selector_string(selector):
    """A LabelSelector (matchLabels, matchExpressions) as a label selector string."""
    selector = selector or {}
    terms = [f"{key}={value}" for key, value in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], ",".join(expr.get("values") or [])
        terms.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                      "Exists": key, "DoesNotExist": f"!{key}"}[op])
    return ",".join(terms) or None


def controller_ref(obj):
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return next((r for r in refs if r.get("controller")), refs[0] if refs else None)


def owner_workload(pod, replicasets):
    """{kind, name} of the workload that owns a pod; a bare pod owns itself (kind Pod)."""
    ref = controller_ref(pod)
    if not ref:
        return {"kind": "Pod", "name": pod["metadata"]["name"]}
    if ref.get("kind") == "ReplicaSet":
        replicaset = next((rs for rs in replicasets if rs["metadata"]["name"] == ref["name"]), None)
        parent = controller_ref(replicaset) if replicaset else None
        if parent:
            return {"kind": parent["kind"], "name": parent["name"]}
    return {"kind": ref.get("kind"), "name": ref.get("name")}


def _container_state(cs):
    state = cs.get("state") or {}
    kind = next((k for k in ("waiting", "terminated", "running") if state.get(k) is not None), None)
    last = (cs.get("lastState") or {}).get("terminated") or {}
    current = state.get(kind) or {}
    return {"name": cs.get("name"), "image": cs.get("image"), "ready": bool(cs.get("ready")),
            "restarts": cs.get("restartCount") or 0, "state": kind, "reason": current.get("reason"),
            "exit_code": current.get("exitCode"), "last_reason": last.get("reason"),
            "last_exit_code": last.get("exitCode")}


def pod_summary(pod, now=None):
    """Phase, ready, restarts, waiting/terminated reasons, node and age of a pod (``kubectl get pods -o wide``)."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    containers = [_container_state(cs) for cs in status.get("containerStatuses") or []]
    init = [_container_state(cs) for cs in status.get("initContainerStatuses") or []]
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    reasons = []
    for reason in [c[key] for c in init + containers for key in ("reason", "last_reason")] + [
            status.get("reason"), (conditions.get("PodScheduled") or {}).get("reason")]:
        if reason and reason not in reasons and reason != "Completed":
            reasons.append(reason)
    if "Ready" in conditions:
        ready = conditions["Ready"].get("status") == "True"
    else:
        ready = bool(containers) and all(c["ready"] for c in containers)
    # What kubectl shows in STATUS: a container's waiting/terminated reason, else the pod's reason, else its phase.
    shown = next((c["reason"] for c in containers if c["reason"] and c["state"] != "running"), None)
    shown = "Terminating" if meta.get("deletionTimestamp") else shown or status.get("reason") or status.get("phase")
    return {"name": meta.get("name"), "phase": status.get("phase"), "ready": ready, "status": shown,
            "restarts": sum(c["restarts"] for c in containers), "reasons": reasons, "containers": containers,
            "node": spec.get("nodeName"), "created": meta.get("creationTimestamp"),
            "age_seconds": age_seconds(meta.get("creationTimestamp"), now)}


def desired_replicas(workload):
    if workload.get("kind") == "DaemonSet":
        return (workload.get("status") or {}).get("desiredNumberScheduled") or 0
    replicas = (workload.get("spec") or {}).get("replicas")
    return 1 if replicas is None else replicas


def _condition(cond):
    return {k: cond.get(k) for k in ("status", "reason", "message", "lastUpdateTime")} if cond else None


def _rollout_message(kind, name, spec, status, counts, current_gen, deadline):
    """Why the rollout is not complete (kubectl's words), or None when it is."""
    desired, updated, ready, available = counts
    wait = "Waiting for rollout to finish: "
    if not current_gen:
        return f"Waiting for {kind} spec update to be observed..."
    if kind == "Deployment":
        old = (status.get("replicas") or 0) - updated
        return (f'deployment "{name}" exceeded its progress deadline' if deadline
                else f"{wait}{updated} out of {desired} new replicas have been updated..." if updated < desired
                else f"{wait}{old} old replicas are pending termination..." if old > 0
                else f"{wait}{available} of {updated} updated replicas are available..." if available < updated
                else None)
    if kind == "StatefulSet":
        partition = ((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition") or 0
        revision = status.get("updateRevision")
        return (f"Waiting for {desired - ready} pods to be ready..." if ready < desired
                else f"{wait}{updated} out of {desired - partition} new pods have been updated..."
                if partition and updated < desired - partition
                else f"{wait}{updated} pods at revision {revision}..."
                if not partition and revision != status.get("currentRevision")
                else None)
    if updated < desired or available < desired:
        return f"{wait}{min(updated, available)} of {desired} pods of daemon set {name} are updated and available..."
    return None


def rollout_state(workload):
    """Rollout state of a Deployment, StatefulSet or DaemonSet, by the rule of ``kubectl rollout status``."""
    kind, meta = workload.get("kind"), workload.get("metadata") or {}
    spec, status = workload.get("spec") or {}, workload.get("status") or {}
    if kind == "DaemonSet":
        keys = ("updatedNumberScheduled", "numberReady", "numberAvailable")
    else:
        keys = ("updatedReplicas", "readyReplicas", "availableReplicas")
    counts = (desired_replicas(workload),) + tuple(status.get(k) or 0 for k in keys)
    observed, generation = status.get("observedGeneration"), meta.get("generation")
    current_gen = observed is not None and (generation is None or observed >= generation)
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    deadline = (conditions.get("Progressing") or {}).get("reason") == "ProgressDeadlineExceeded"
    message = _rollout_message(kind, meta.get("name"), spec, status, counts, current_gen, deadline)
    return {"desired": counts[0], "updated": counts[1], "ready": counts[2], "available": counts[3],
            "observed_generation_current": current_gen, "progressing": _condition(conditions.get("Progressing")),
            "available_condition": _condition(conditions.get("Available")), "deadline_exceeded": deadline,
            "complete": message is None, "message": message or f"{kind} {meta.get('name')} successfully rolled out"}


def template_images(template):
    return [c.get("image") for c in ((template or {}).get("spec") or {}).get("containers") or []]


def _revision_number(obj):
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION))
    except (TypeError, ValueError):
        return None


def revisions(deployment, replicasets):
    """The Deployment's ReplicaSets sorted by revision: revision, replicaset, images, change_cause, created,
    replicas, ready, current."""
    meta = deployment.get("metadata") or {}
    current = _revision_number(deployment)
    out = []
    for rs in replicasets:
        ref, rev = controller_ref(rs) or {}, _revision_number(rs)
        if rev is None or ref.get("kind") != "Deployment" or ref.get("name") != meta.get("name") or (
                meta.get("uid") and ref.get("uid") and ref["uid"] != meta["uid"]):
            continue
        rs_meta = rs["metadata"]
        out.append({"revision": rev, "replicaset": rs_meta["name"],
                    "images": template_images((rs.get("spec") or {}).get("template")),
                    "change_cause": (rs_meta.get("annotations") or {}).get(CHANGE_CAUSE),
                    "created": rs_meta.get("creationTimestamp"),
                    "replicas": (rs.get("spec") or {}).get("replicas") or 0,
                    "ready": (rs.get("status") or {}).get("readyReplicas") or 0, "current": rev == current})
    return sorted(out, key=lambda r: r["revision"])


def current_revision(history):
    """The current revision of a revisions() list (the Deployment's own), else the newest."""
    return next((r for r in history if r["current"]), history[-1] if history else None)


def previous_revision(history, revision):
    """The revision ``kubectl rollout undo`` goes back to: the newest one before ``revision``."""
    return next((r for r in reversed(history) if r["revision"] < revision), None)


def hpa_targeting(hpas, kind, name):
    return next((h for h in hpas if ((h.get("spec") or {}).get("scaleTargetRef") or {}).get("kind") == kind
                 and h["spec"]["scaleTargetRef"].get("name") == name), None)


def hpa_summary(hpa):
    spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
    current, maximum = status.get("currentReplicas") or 0, spec.get("maxReplicas")
    return {"name": hpa["metadata"]["name"], "min": spec.get("minReplicas") or 1, "max": maximum,
            "current": current, "desired": status.get("desiredReplicas"),
            "at_max": maximum is not None and max(current, status.get("desiredReplicas") or 0) >= maximum}


def claim_names(workload, pods=(), pvcs=()):
    """Names of the PVCs a workload mounts: per-pod claims of a StatefulSet's volumeClaimTemplates (expected
    for its replicas, and existing ones), and the persistentVolumeClaim volumes of its template and pods."""
    spec, name = workload.get("spec") or {}, workload["metadata"]["name"]
    names = []
    if workload.get("kind") == "StatefulSet":
        existing = [p["metadata"]["name"] for p in pvcs]
        for template in spec.get("volumeClaimTemplates") or []:
            prefix = f"{template['metadata']['name']}-{name}-"
            names += [f"{prefix}{i}" for i in range(spec.get("replicas") or 0)]
            names += [n for n in existing if re.fullmatch(re.escape(prefix) + r"\d+", n)]
    for pod_spec in [(spec.get("template") or {}).get("spec") or {}] + [p.get("spec") or {} for p in pods]:
        names += [v["persistentVolumeClaim"]["claimName"] for v in pod_spec.get("volumes") or []
                  if v.get("persistentVolumeClaim")]
    return sorted(set(names), key=lambda n: [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", n)])


def pvc_summary(name, pvc):
    """Phase (Missing when it does not exist), capacity, request, storage class of one PVC."""
    if pvc is None:
        return {"name": name, "phase": "Missing", "capacity": None, "requested": None, "storage_class": None}
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    return {"name": name, "phase": status.get("phase"), "capacity": (status.get("capacity") or {}).get("storage"),
            "requested": ((spec.get("resources") or {}).get("requests") or {}).get("storage"),
            "storage_class": spec.get("storageClassName")}


def container_env(workload, names):
    """{NAME: value} of the workload's containers (first container first) for the names asked; None when unset,
    a reference (never a secret's value) for valueFrom."""
    found = {}
    for container in (((workload.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []:
        for env in container.get("env") or []:
            if env.get("name") in names and env["name"] not in found:
                source = env.get("valueFrom")
                found[env["name"]] = env.get("value", "") if source is None else f"<from {json.dumps(source)}>"
    return {name: found.get(name) for name in names}
