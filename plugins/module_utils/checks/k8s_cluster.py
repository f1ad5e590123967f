# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The k8s_cluster_info check (``kubectl get nodes``, ``kubectl get pods -o wide``): argument_spec() and
run(params), used by its module and by incident_triage_info."""

from datetime import datetime, timezone

from ansible_collections.sre.runbooks.plugins.module_utils.common import check_bounds
from ansible_collections.sre.runbooks.plugins.module_utils.errors import BackendUnavailable
from ansible_collections.sre.runbooks.plugins.module_utils.findings import check_result, finding
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_client import k8s_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_state import (
    desired_replicas,
    owner_workload,
    pod_summary,
)
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_workloads import (
    WORKLOAD_KINDS,
    connect,
    list_pods,
    list_replicasets,
    list_workloads,
    unreachable_result,
)

DOWN_IDS = ("k8s.workload_no_ready_pods",)
PRESSURE = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")
# finding id, severity, pod reasons that raise it, what the summary says of the pods
POD_PROBLEMS = (
    ("k8s.pods_crashlooping", "critical", {"CrashLoopBackOff"}, "crash-looping"),
    ("k8s.pods_image_pull_failing", "critical", {"ImagePullBackOff", "ErrImagePull", "InvalidImageName",
                                                 "ErrImageNeverPull"}, "failing to pull their image"),
    ("k8s.pods_oom_killed", "warning", {"OOMKilled"}, "killed for running out of memory"),
)

# Passed to AnsibleModule (and to ArgumentSpecValidator) with argument_spec().
SPEC_OPTIONS = {}


def argument_spec():
    """The options of sre.runbooks.k8s_cluster_info, with the shared k8s group."""
    spec = k8s_argument_spec()
    spec.update({
        "include_nodes": {"type": "bool", "default": True},
        "pending_seconds": {"type": "int", "default": 120},
    })
    return spec


def node_summary(node):
    meta, spec, status = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    ready = conditions.get("Ready") or {}
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    return {"name": meta.get("name"), "ready": ready.get("status") == "True", "ready_reason": ready.get("reason"),
            "ready_message": ready.get("message"), "unschedulable": bool(spec.get("unschedulable")),
            "pressure": [kind for kind in PRESSURE if (conditions.get(kind) or {}).get("status") == "True"],
            "internal_ip": addresses.get("InternalIP"),
            "kubelet_version": (status.get("nodeInfo") or {}).get("kubeletVersion")}


def node_findings(nodes):
    found = []
    for node in nodes:
        name = node["name"]
        if not node["ready"]:
            found.append(finding("k8s.node_not_ready", "critical",
                                 f"Node {name} is not Ready ({node['ready_reason'] or 'no Ready condition'})",
                                 {"node": name, "reason": node["ready_reason"], "message": node["ready_message"]}))
        if node["pressure"]:
            found.append(finding("k8s.node_pressure", "warning", f"Node {name} reports {', '.join(node['pressure'])}",
                                 {"node": name, "conditions": node["pressure"]}))
        if node["unschedulable"]:
            found.append(finding("k8s.node_cordoned", "warning", f"Node {name} is cordoned (unschedulable)",
                                 {"node": name}))
    return found


def _pod_finding(finding_id, severity, workload, pods, what):
    names = [p["name"] for p in pods]
    reasons = sorted({r for p in pods for r in p["reasons"]})
    summary = (f"{len(names)} pod(s) of {workload['kind']} {workload['name']} are {what}: {', '.join(names)}"
               f" ({', '.join(reasons) or 'no reason reported'})")
    return finding(finding_id, severity, summary, {"workload": workload["name"], "kind": workload["kind"],
                                                   "pods": names, "reasons": reasons})


def pod_findings(groups, pending_seconds):
    """One finding per workload and problem: crash-looping, image pull failing, OOM-killed, pending."""
    found = []
    for (kind, name), pods in sorted(groups.items()):
        workload = {"kind": kind, "name": name}
        for finding_id, severity, reasons, what in POD_PROBLEMS:
            hit = [p for p in pods if reasons.intersection(p["reasons"])]
            if hit:
                found.append(_pod_finding(finding_id, severity, workload, hit, what))
        pending = [p for p in pods if p["phase"] == "Pending" and (p["age_seconds"] or 0) >= pending_seconds]
        if pending:
            found.append(_pod_finding("k8s.pods_pending", "warning", workload, pending,
                                      f"Pending for {pending_seconds}s or more"))
    return found


def workload_entries(workloads, groups):
    """Each workload with its desired replicas and its ready pods; a finding for those with none ready."""
    entries, found = [], []
    for workload in workloads:
        key = (workload["kind"], workload["metadata"]["name"])
        pods = groups.get(key, [])
        entry = {"name": key[1], "kind": key[0], "desired": desired_replicas(workload),
                 "pods": len(pods), "ready": sum(1 for p in pods if p["ready"])}
        entries.append(entry)
        if entry["desired"] > 0 and entry["ready"] == 0:
            reasons = sorted({r for p in pods for r in p["reasons"]})
            found.append(finding(
                "k8s.workload_no_ready_pods", "critical",
                f"{key[0]} {key[1]} has no ready pod ({entry['desired']} desired, {len(pods)} pod(s)"
                f"{': ' + ', '.join(reasons) if reasons else ''})",
                {"workload": key[1], "kind": key[0], "desired": entry["desired"],
                 "pods": [p["name"] for p in pods], "reasons": reasons}))
    return entries, found


def validate(params):
    """Bad input the argument spec cannot see (RunbookError naming the option)."""
    check_bounds(params, {"pending_seconds": (0, None)})


def run(params):
    """Read nodes, pods and workloads of the namespace; the result sre.runbooks.k8s_cluster_info returns."""
    validate(params)
    try:
        k8s = connect(params)
        nodes = k8s.list(k8s.core.list_node, what="list nodes") if params["include_nodes"] else []
        pods, replicasets = list_pods(k8s), list_replicasets(k8s)
        workloads = list_workloads(k8s, WORKLOAD_KINDS)
    except BackendUnavailable as exc:
        return unreachable_result(exc, nodes=[], pods=[], workloads=[])
    now = datetime.now(timezone.utc)
    nodes = sorted((node_summary(n) for n in nodes), key=lambda n: n["name"])
    summaries, groups = [], {}
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        owner = owner_workload(pod, replicasets)
        summary = dict(pod_summary(pod, now), workload=owner["name"], kind=owner["kind"])
        summaries.append(summary)
        groups.setdefault((owner["kind"], owner["name"]), []).append(summary)
    entries, no_ready = workload_entries(workloads, groups)
    findings = node_findings(nodes) + no_ready + pod_findings(groups, params["pending_seconds"])
    return check_result(findings, DOWN_IDS, nodes=nodes, pods=summaries, workloads=entries)
