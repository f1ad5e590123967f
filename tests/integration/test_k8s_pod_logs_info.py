"""k8s_pod_logs_info against the pod logs the lab's Kubernetes API stand-in serves."""

from __future__ import annotations

import pytest
from k8s_probe import NAME, break_rollout, closed_port_kubeconfig, connection, probe

from lab import k8s


def test_pattern_counts_across_a_deployment(lab, ansible_module):
    with probe(lab):
        pods = k8s.append_pod_logs(lab, NAME, ["ERROR app.llm: OpenAI API error: 503 Service Unavailable",
                                               "INFO app: request served",
                                               "ERROR app.llm: openai api ERROR: timeout"])
        result = ansible_module("k8s_pod_logs_info", connection(lab, deployment=NAME, return_lines=2, patterns={
            "openai": "OpenAI API error", "qdrant": "Qdrant connection error"}))
    assert len(pods) == 2 and result["pods"] == pods and result["pods_total"] == 2
    assert result["status"] == "degraded"
    assert result["workload"] == {"kind": "Deployment", "name": NAME}
    [found] = result["findings"]
    assert found["id"] == "k8s.log_pattern_found"
    assert found["evidence"]["pattern"] == "openai" and found["evidence"]["count"] == 4
    assert found["evidence"]["pods"] == pods
    assert (found["evidence"]["workload"], found["evidence"]["kind"]) == (NAME, "Deployment")
    openai = result["patterns"]["openai"]
    assert openai["count"] == 4 and openai["pods"] == pods
    assert [m["pod"] for m in openai["last_lines"]] == [pods[0], pods[0], pods[1], pods[1]]
    assert openai["last_lines"][-1]["line"].endswith("ERROR app.llm: openai api ERROR: timeout")
    assert result["patterns"]["qdrant"] == {"regex": "Qdrant connection error", "count": 0, "pods": [],
                                            "last_lines": []}
    assert all(entry["container"] == NAME and entry["error"] is None and len(entry["lines"]) == 2
               for entry in result["logs"])


def test_one_pod_tail_lines(lab, ansible_module):
    full = ansible_module("k8s_pod_logs_info", connection(lab, pod="qdrant-0", return_lines=200))
    tail = ansible_module("k8s_pod_logs_info", connection(lab, pod="qdrant-0", tail_lines=2, return_lines=200),
                          check=True)
    assert full["status"] == "ok" and full["findings"] == [] and full["workload"] == {"kind": "StatefulSet",
                                                                                     "name": "qdrant"}
    assert any("Qdrant HTTP listening on 6333" in line for line in full["logs"][0]["lines"])
    assert tail["changed"] is False and tail["logs"][0]["lines"] == full["logs"][0]["lines"][-2:]
    assert tail["logs"][0]["line_count"] == 2


def test_label_selector_and_max_pods(lab, ansible_module):
    result = ansible_module("k8s_pod_logs_info", connection(lab, label_selector="component=qdrant", max_pods=2,
                                                            patterns={"listening": "http listening"}))
    assert result["pods"] == ["qdrant-0", "qdrant-1"] and result["pods_total"] == 3
    assert result["patterns"]["listening"]["count"] == 2


def test_previous_logs_of_a_crashlooping_pod(lab, ansible_module):
    with probe(lab) as (core, apps, ns):
        crashing = break_rollout(core, apps, ns)
        k8s.append_pod_logs(lab, NAME, ["INFO app: starting again after the crash"])  # the current container
        result = ansible_module("k8s_pod_logs_info", connection(lab, pod=crashing[0], previous=True, return_lines=200,
                                                                patterns={"exit": r"exited with code \d+"}))
        previous = core.read_namespaced_pod_log(crashing[0], ns, previous=True).splitlines()
        current = core.read_namespaced_pod_log(crashing[0], ns).splitlines()
    assert previous != current  # reading the current container's log instead would fail the test
    assert result["logs"][0]["lines"] == previous and result["logs"][0]["line_count"] == len(previous)
    assert result["logs"][0]["previous"] is True and result["logs"][0]["error"] is None
    assert result["patterns"]["exit"]["count"] >= 1
    assert result["findings"][0]["evidence"]["pods"] == [crashing[0]]


def test_missing_selection_is_a_finding(lab, ansible_module):
    missing = ansible_module("k8s_pod_logs_info", connection(lab, statefulset="nope"))
    assert missing["status"] == "unknown" and missing["pods"] == []
    assert [(f["id"], f["evidence"]) for f in missing["findings"]] == [
        ("k8s.workload_missing", {"workload": "nope", "kind": "StatefulSet"})]
    empty = ansible_module("k8s_pod_logs_info", connection(lab, label_selector="app=nothing-here"))
    assert empty["status"] == "unknown" and [f["id"] for f in empty["findings"]] == ["k8s.no_pods"]


def test_unreachable_api_is_a_finding(lab, ansible_module, tmp_path):
    result = ansible_module("k8s_pod_logs_info", connection(lab, pod="qdrant-0",
                                                            kubeconfig=closed_port_kubeconfig(lab, tmp_path)))
    assert result["failed"] is False and "Traceback" not in result["_stdout"]
    assert result["status"] == "unknown" and [f["id"] for f in result["findings"]] == ["k8s.api_unreachable"]


@pytest.mark.parametrize(("args", "option"), [
    ({}, "label_selector"),
    ({"pod": "qdrant-0", "deployment": "backend"}, "deployment"),
    ({"pod": "qdrant-0", "tail_lines": 5001}, "tail_lines"),
    ({"pod": "qdrant-0", "since_seconds": 0}, "since_seconds"),
    ({"pod": "qdrant-0", "patterns": {"broken": "error ("}}, "patterns"),
    ({"pod": "qdrant-0", "previous": "maybe"}, "previous"),
    ({"label_selector": "app is backend"}, "label selector"),
])
def test_bad_arguments_name_the_option(lab, ansible_module, args, option):
    result = ansible_module("k8s_pod_logs_info", connection(lab, **args))
    assert result["failed"] is True and option in result["msg"]
    assert "Traceback" not in result["_stdout"]
