# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The k8s_workload_info check (``kubectl describe deployment``, ``rollout status``, ``rollout history``,
``get hpa``, ``get pvc``): argument_spec() and run(params), used by its module and by incident_triage_info."""

from datetime import datetime, timezone

from ansible_collections.sre.runbooks.plugins.module_utils.common import check_bounds
from ansible_collections.sre.runbooks.plugins.module_utils.errors import BackendUnavailable, RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.findings import check_result, finding
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_client import k8s_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_state import (
    age_seconds,
    claim_names,
    container_env,
    controller_ref,
    current_revision,
    hpa_summary,
    hpa_targeting,
    owner_workload,
    pod_summary,
    previous_revision,
    pvc_summary,
    revisions,
    rollout_state,
    template_images,
)
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_workloads import (
    WORKLOAD_KINDS,
    connect,
    list_hpas,
    list_pods,
    list_pvcs,
    list_replicasets,
    list_workloads,
    unreachable_result,
)

DOWN_IDS = ("k8s.no_ready_replicas", "k8s.workload_missing")
DEFAULT_ENV = ["REDIS_ENABLED", "LLM_PROVIDER", "CACHE_ONLY_MODE"]
# kubectl's names of the kinds, for names given as KIND/NAME
KIND_NAMES = {"deployment": "Deployment", "deployments": "Deployment", "deploy": "Deployment",
              "statefulset": "StatefulSet", "statefulsets": "StatefulSet", "sts": "StatefulSet",
              "daemonset": "DaemonSet", "daemonsets": "DaemonSet", "ds": "DaemonSet"}
# Pod reasons that say the new pods fail (not merely start slowly).
FAILING_REASONS = {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "Error",
                   "OOMKilled", "CreateContainerConfigError", "CreateContainerError", "RunContainerError"}
# New pods that are still not ready this long after the rollout fail even without such a reason.
ROLLOUT_GRACE_SECONDS = 120

# Passed to AnsibleModule (and to ArgumentSpecValidator) with argument_spec().
SPEC_OPTIONS = {}


def argument_spec():
    """The options of sre.runbooks.k8s_workload_info, with the shared k8s group."""
    spec = k8s_argument_spec()
    spec.update({
        "names": {"type": "list", "elements": "str", "default": []},
        "kinds": {"type": "list", "elements": "str", "choices": list(WORKLOAD_KINDS),
                  "default": ["Deployment", "StatefulSet"]},
        "recent_minutes": {"type": "int", "default": 30},
        "env_vars": {"type": "list", "elements": "str", "default": DEFAULT_ENV},
    })
    return spec


def wanted(params):
    """[(kinds, name)] for the names asked (NAME or KIND/NAME); an empty list means every workload."""
    out = []
    for item in params["names"]:
        kind, name = item.rpartition("/")[::2]
        if kind and kind.lower() not in KIND_NAMES or not name:
            raise RunbookError(f"names: {item!r} is not NAME or KIND/NAME with KIND one of deployment, "
                               "statefulset, daemonset", option="names")
        out.append(((KIND_NAMES[kind.lower()],) if kind else tuple(params["kinds"]), name))
    return out


def rollout_failing(entry, pods, recent_minutes, now):
    """A finding when the Deployment's current revision was rolled out within recent_minutes, that rollout has
    not finished (Progressing is not NewReplicaSetAvailable), and its pods are not ready (failing, or still not
    ready after ROLLOUT_GRACE_SECONDS)."""
    current = current_revision(entry["history"])
    age = age_seconds(current["created"], now) if current else None
    if age is None or age > recent_minutes * 60 or entry["desired"] == 0:
        return None
    if (entry["rollout"].get("progressing") or {}).get("reason") == "NewReplicaSetAvailable":
        return None  # the rollout finished; pods failing since are not its doing (and rolling back would not help)
    new = [p for p in pods if p["replicaset"] == current["replicaset"]]
    ready = sum(1 for p in new if p["ready"])
    reasons = sorted({r for p in new for r in p["reasons"]})
    failing = FAILING_REASONS.intersection(reasons) or any(p["restarts"] for p in new)
    if ready >= entry["desired"] or not (failing or entry["rollout"]["deadline_exceeded"]
                                         or age >= ROLLOUT_GRACE_SECONDS):
        return None
    previous = previous_revision(entry["history"], current["revision"]) or {}
    image, before = (current["images"] or [None])[0], (previous.get("images") or [None])[0]
    minutes = round(age / 60.0, 1)
    back = (f"roll back to revision {previous['revision']} (image {before})" if previous
            else "no earlier revision to roll back to")
    return finding("k8s.rollout_failing", "critical",
                   f"{entry['kind']} {entry['name']} rolled out revision {current['revision']} (image {image})"
                   f" {minutes} minutes ago and {ready} of {entry['desired']} of its new pods are ready"
                   f" ({', '.join(reasons) or 'not ready'}); {back}",
                   {"workload": entry["name"], "kind": entry["kind"], "revision": current["revision"],
                    "previous_revision": previous.get("revision"), "image": image, "previous_image": before,
                    "replicaset": current["replicaset"], "previous_replicaset": previous.get("replicaset"),
                    "change_cause": current["change_cause"], "minutes_ago": minutes,
                    "pods": [p["name"] for p in new], "reasons": reasons})


def workload_findings(entry, pods, params, now):
    name, kind, desired, ready = entry["name"], entry["kind"], entry["desired"], entry["ready"]
    ev = {"workload": name, "kind": kind}
    found = []
    if desired > 0 and ready == 0:
        found.append(finding("k8s.no_ready_replicas", "critical", f"{kind} {name} has no ready replica of {desired}",
                             dict(ev, desired=desired, ready=ready)))
    elif ready < desired:
        found.append(finding("k8s.replicas_unavailable", "warning", f"{kind} {name} has {ready} of {desired} "
                             "replicas ready", dict(ev, desired=desired, ready=ready)))
    if entry["rollout"]["deadline_exceeded"]:
        found.append(finding("k8s.rollout_stuck", "critical", f"{kind} {name}: {entry['rollout']['message']}",
                             dict(ev, message=(entry["rollout"]["progressing"] or {}).get("message"))))
    failing = rollout_failing(entry, pods, params["recent_minutes"], now) if kind == "Deployment" else None
    found += [failing] if failing else []
    hpa = entry["hpa"]
    if hpa and hpa["at_max"]:
        found.append(finding("k8s.hpa_at_max", "warning", f"HPA {hpa['name']} of {kind} {name} is at its maximum "
                             f"of {hpa['max']} replicas", dict(ev, hpa=hpa["name"], max=hpa["max"],
                                                               current=hpa["current"])))
    for pvc in entry["pvcs"]:
        if pvc["phase"] != "Bound":
            found.append(finding("k8s.pvc_not_bound", "critical", f"PVC {pvc['name']} of {kind} {name} is "
                                 f"{pvc['phase']}", dict(ev, pvc=pvc["name"], phase=pvc["phase"])))
    return found


def describe(workload, ctx, params, now):
    """One workload's entry (the data returned for it) and its findings."""
    kind, name = workload["kind"], workload["metadata"]["name"]
    mine = sorted((p for p in ctx["pods"] if owner_workload(p, ctx["replicasets"]) == {"kind": kind, "name": name}),
                  key=lambda p: p["metadata"]["name"])
    pods = [dict(pod_summary(p, now), replicaset=(controller_ref(p) or {}).get("name")) for p in mine]
    rollout = rollout_state(workload)
    history = revisions(workload, ctx["replicasets"]) if kind == "Deployment" else []
    hpa = hpa_targeting(ctx["hpas"], kind, name)
    template = (workload.get("spec") or {}).get("template")
    entry = {"name": name, "kind": kind, "desired": rollout["desired"], "ready": rollout["ready"],
             "updated": rollout["updated"], "available": rollout["available"], "images": template_images(template),
             "env": container_env(workload, params["env_vars"]), "rollout": rollout,
             "revision": (current_revision(history) or {}).get("revision"), "history": history,
             "hpa": hpa_summary(hpa) if hpa else None,
             "pvcs": [pvc_summary(n, ctx["pvcs"].get(n)) for n in claim_names(workload, mine, ctx["pvcs"].values())],
             "pods": pods}
    return entry, workload_findings(entry, pods, params, now)


def validate(params):
    """Bad input the argument spec cannot see (RunbookError naming the option); the workloads asked for."""
    check_bounds(params, {"recent_minutes": (1, None)})
    return wanted(params)


def run(params):
    """Read the workloads asked for; the result sre.runbooks.k8s_workload_info returns."""
    asked = validate(params)
    kinds = [k for k in WORKLOAD_KINDS if any(k in pair[0] for pair in asked)] if asked else params["kinds"]
    try:
        k8s = connect(params)
        workloads = list_workloads(k8s, kinds)
        ctx = {"pods": list_pods(k8s), "hpas": list_hpas(k8s),
               "replicasets": list_replicasets(k8s) if "Deployment" in kinds else [],
               "pvcs": {p["metadata"]["name"]: p for p in list_pvcs(k8s)}}
    except BackendUnavailable as exc:
        return unreachable_result(exc, workloads=[])
    findings, selected = [], []
    for ks, name in asked:
        match = next((w for k in ks for w in workloads if w["kind"] == k and w["metadata"]["name"] == name), None)
        if match is None:
            findings.append(finding("k8s.workload_missing", "critical",
                                    f"No {' or '.join(ks)} named {name} in namespace {k8s.namespace}",
                                    {"workload": name, "kind": ks[0] if len(ks) == 1 else None, "kinds": list(ks)}))
        elif match not in selected:
            selected.append(match)
    now = datetime.now(timezone.utc)
    entries = []
    for workload in selected if asked else sorted(workloads, key=lambda w: (w["kind"], w["metadata"]["name"])):
        entry, found = describe(workload, ctx, params, now)
        entries.append(entry)
        findings += found
    return check_result(findings, DOWN_IDS, workloads=entries)
