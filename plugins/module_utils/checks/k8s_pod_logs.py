# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The k8s_pod_logs_info check (``kubectl logs ... | grep -i PATTERN``): argument_spec() and run(params),
used by its module and by incident_triage_info."""

import re
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.sre.runbooks.plugins.module_utils.common import check_bounds
from ansible_collections.sre.runbooks.plugins.module_utils.errors import BackendUnavailable, RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.findings import check_result, finding
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_client import k8s_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_state import owner_workload
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_workloads import (
    NotFound,
    connect,
    get_workload,
    list_pods,
    list_replicasets,
    unreachable_result,
    workload_pods,
)

SELECTIONS = ("label_selector", "deployment", "statefulset", "pod")
# option: (lowest, highest)
BOUNDS = {"tail_lines": (1, 5000), "since_seconds": (1, 604800), "max_pods": (1, 100), "return_lines": (0, 200)}
MATCHES_KEPT = 5

# Passed to AnsibleModule (and to ArgumentSpecValidator) with argument_spec().
SPEC_OPTIONS = {"mutually_exclusive": [SELECTIONS], "required_one_of": [SELECTIONS]}


def argument_spec():
    """The options of sre.runbooks.k8s_pod_logs_info, with the shared k8s group."""
    spec = k8s_argument_spec()
    spec.update({
        "label_selector": {"type": "str"},
        "deployment": {"type": "str"},
        "statefulset": {"type": "str"},
        "pod": {"type": "str"},
        "container": {"type": "str"},
        "previous": {"type": "bool", "default": False},
        "tail_lines": {"type": "int", "default": 500},
        "since_seconds": {"type": "int"},
        "patterns": {"type": "dict", "default": {}},
        "max_pods": {"type": "int", "default": 20},
        "return_lines": {"type": "int", "default": 20},
    })
    return spec


def validate(params):
    """The compiled patterns; a bad bound or regex fails naming its option."""
    check_bounds(params, BOUNDS)
    compiled = {}
    for name, regex in (params.get("patterns") or {}).items():
        try:
            compiled[name] = re.compile(str(regex), re.IGNORECASE)
        except re.error as exc:
            raise RunbookError(f"patterns: {name}: {regex!r} is not a regular expression: {exc}",
                               option="patterns") from exc
    return compiled


def select(k8s, params):
    """(pods, missing finding or None) for the selection made by the options."""
    try:
        if params.get("pod"):
            return [k8s.read(k8s.core.read_namespaced_pod, params["pod"], k8s.namespace,
                             what=f"read pod {params['pod']}")], None
        if params.get("label_selector"):
            return list_pods(k8s, params["label_selector"]), None
        kind = "Deployment" if params.get("deployment") else "StatefulSet"
        name = params.get("deployment") or params.get("statefulset")
        return workload_pods(k8s, get_workload(k8s, kind, name)), None
    except NotFound as exc:
        name = params.get("deployment") or params.get("statefulset")
        if name:
            kind = "Deployment" if params.get("deployment") else "StatefulSet"
            return [], finding("k8s.workload_missing", "critical", exc.msg, {"workload": name, "kind": kind})
        return [], None


def read_logs(k8s, pod, params):
    """One entry per container of the pod (or the container asked for): its log lines, or the error."""
    name = pod["metadata"]["name"]
    containers = [params["container"]] if params.get("container") else [
        c["name"] for c in (pod.get("spec") or {}).get("containers") or []] or [None]
    entries = []
    for container in containers:
        kwargs = {k: v for k, v in (("container", container), ("previous", params["previous"]),
                                    ("tail_lines", params["tail_lines"]),
                                    ("since_seconds", params.get("since_seconds"))) if v is not None}
        entry = {"pod": name, "container": container, "previous": params["previous"], "error": None, "lines": []}
        try:
            body = k8s.call(k8s.core.read_namespaced_pod_log, name, k8s.namespace,
                            what=f"read the logs of pod {name}", **kwargs)
            entry["lines"] = body.decode("utf-8", errors="replace").splitlines()
        except BackendUnavailable:
            raise
        except RunbookError as exc:
            entry["error"] = exc.msg
        entries.append(entry)
    return entries


def match(entries, patterns):
    """Per pattern: count of matching lines, pods with a match, the last matching lines."""
    results = {}
    for name, regex in patterns.items():
        count, pods, last = 0, [], deque(maxlen=MATCHES_KEPT)
        for entry in entries:
            hits = [line for line in entry["lines"] if regex.search(line)]
            count += len(hits)
            if hits and entry["pod"] not in pods:
                pods.append(entry["pod"])
            last.extend({"pod": entry["pod"], "line": line} for line in hits)
        results[name] = {"regex": regex.pattern, "count": count, "pods": pods, "last_lines": list(last)}
    return results


def run(params):
    """Read the logs of the selected pods; the result sre.runbooks.k8s_pod_logs_info returns."""
    patterns = validate(params)
    try:
        k8s = connect(params)
        pods, missing = select(k8s, params)
        pods = sorted(pods, key=lambda p: p["metadata"]["name"])
        chosen = pods[:params["max_pods"]]
        replicasets = list_replicasets(k8s) if chosen else []
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(chosen)))) as pool:
            entries = [e for found in pool.map(lambda pod: read_logs(k8s, pod, params), chosen) for e in found]
    except BackendUnavailable as exc:
        return unreachable_result(exc, pods=[], pods_total=0, logs=[], patterns={},
                                  workload={"kind": None, "name": None})
    owners = [owner_workload(p, replicasets) for p in chosen]
    owner = owners[0] if owners and all(o == owners[0] for o in owners) else {"kind": None, "name": None}
    results = match(entries, patterns)
    findings = [missing] if missing else []
    if not chosen and not missing:
        findings.append(finding("k8s.no_pods", "warning", "No pod matches the selection " + ", ".join(
            f"{k}={params[k]}" for k in SELECTIONS if params.get(k)), {k: params.get(k) for k in SELECTIONS}))
    for name, result in results.items():
        if result["count"]:
            findings.append(finding(
                "k8s.log_pattern_found", "warning",
                f"{result['count']} log line(s) match {name!r} in {', '.join(result['pods'])}",
                {"pattern": name, "count": result["count"], "pods": result["pods"], "workload": owner["name"],
                 "kind": owner["kind"], "last_lines": [m["line"] for m in result["last_lines"]]}))
    logs = [dict(e, line_count=len(e["lines"]), lines=e["lines"][-params["return_lines"]:]
                 if params["return_lines"] else []) for e in entries]
    return check_result(findings, status=None if chosen else "unknown", pods=[p["metadata"]["name"] for p in chosen],
                        pods_total=len(pods), logs=logs, patterns=results, workload=owner)
