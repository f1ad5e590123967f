"""Workload statuses the lab's controller loop keeps true, and the workloads.json it writes.

The counters follow the API's own rules: a zero that the API server omits is omitted here too.
workloads.json: {"updated": <epoch seconds>, "workloads": {"<name>": {"kind": "Deployment" |
"StatefulSet" | "DaemonSet", "desired": n, "ready": n, "image": str, "env": {NAME: value of the first
container}, "crashloop": bool, "pods": {"<pod>": ready}}}}.
"""

from __future__ import annotations

import time
from pathlib import Path

from lab import k8s_kubelet as kubelet
from lab.core import write_json
from lab.k8s import owner_uid, template_hash

DEFAULT_DEADLINE = 600


def _gen(obj: dict) -> int:
    return obj["metadata"].get("generation", 1)


def _counts(required: dict, optional: dict) -> dict:
    return required | {key: value for key, value in optional.items() if value}


def _container(template: dict) -> dict:
    return (((template or {}).get("spec") or {}).get("containers") or [{}])[0]


def _max_unavailable(spec: dict, replicas: int) -> int:
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0
    value = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return replicas * int(value[:-1]) // 100
    return int(value)


def _keep_times(old_conditions: list | None, new_conditions: list[dict], with_update: bool) -> list[dict]:
    """Transition (and update) times stay those of the condition as it was, unless it changed."""
    old = {c.get("type"): c for c in old_conditions or []}
    for new in new_conditions:
        previous = old.get(new["type"]) or {}
        if previous.get("status") == new["status"]:
            new["lastTransitionTime"] = previous.get("lastTransitionTime", new["lastTransitionTime"])
        if with_update:
            same = all(previous.get(key) == new.get(key) for key in ("status", "reason", "message"))
            new["lastUpdateTime"] = previous.get("lastUpdateTime", kubelet.now()) if same else kubelet.now()
    return new_conditions


class Statuses:
    """Status computation for the controller loop (which provides owned(), put_status() and the APIs)."""

    def __init__(self, namespace: str, state_file: Path):
        self.namespace, self.state_file = namespace, state_file
        self.nodes: dict[str, dict] = {}
        self.pods: dict[str, dict] = {}
        self.progress: dict[str, tuple[str, int, float]] = {}  # deployment uid -> (new RS, its ready pods, when)

    @staticmethod
    def env_of(obj: dict) -> dict:
        """Env of the first container of a pod or of an object with a pod template."""
        spec = obj.get("spec") or {}
        container = _container(spec.get("template") if "template" in spec else obj)
        return {e["name"]: e.get("value", "") for e in container.get("env") or [] if "name" in e}

    def _entry(self, kind: str, desired: int, pods: list[dict], template: dict) -> dict:
        crashloop = kubelet.marked_crashloop(template) or any(
            kubelet.marked_crashloop(p) or kubelet.crashlooping(p) for p in pods)
        return {"kind": kind, "desired": desired, "ready": sum(map(kubelet.pod_ready, pods)),
                "image": _container(template).get("image", ""), "env": self.env_of({"spec": {"template": template}}),
                "crashloop": crashloop, "pods": {p["metadata"]["name"]: kubelet.pod_ready(p) for p in pods}}

    def replicaset_status(self, rs: dict) -> dict:
        pods = self.owned(rs)
        ready = sum(map(kubelet.pod_ready, pods))
        return _counts({"replicas": len(pods), "observedGeneration": _gen(rs)},
                       {"fullyLabeledReplicas": len(pods), "readyReplicas": ready, "availableReplicas": ready})

    def deployment_status(self, d: dict, new: dict, replicasets: list[dict]) -> dict:
        uid, spec = d["metadata"]["uid"], d["spec"]
        owned = [rs for rs in replicasets if owner_uid(rs) == uid]
        pods = [p for rs in owned for p in self.owned(rs)]
        new_pods, replicas = self.owned(new), spec.get("replicas", 1)
        ready, new_ready = sum(map(kubelet.pod_ready, pods)), sum(map(kubelet.pod_ready, new_pods))
        new_name = new["metadata"]["name"]
        seen = self.progress.get(uid)
        if seen is None or seen[0] != new_name or new_ready > seen[1]:
            self.progress[uid] = (new_name, new_ready, time.monotonic())
        complete = len(new_pods) == len(pods) == replicas == ready
        done_before = next((c for c in (d.get("status") or {}).get("conditions") or []
                            if c.get("type") == "Progressing" and c.get("reason") == "NewReplicaSetAvailable"
                            and f'"{new_name}"' in c.get("message", "")), None)
        # As the deployment controller: a finished rollout stays finished when its pods fail later.
        if complete or done_before:
            progressing = (True, "NewReplicaSetAvailable", f'ReplicaSet "{new_name}" has successfully progressed.')
        elif time.monotonic() - self.progress[uid][2] > spec.get("progressDeadlineSeconds", DEFAULT_DEADLINE):
            progressing = (False, "ProgressDeadlineExceeded", f'ReplicaSet "{new_name}" has timed out progressing.')
        else:
            progressing = (True, "ReplicaSetUpdated", f'ReplicaSet "{new_name}" is progressing.')
        when = kubelet.now()
        available = ready >= replicas - _max_unavailable(spec, replicas)
        availability = (("MinimumReplicasAvailable", "Deployment has minimum availability.") if available else
                        ("MinimumReplicasUnavailable", "Deployment does not have minimum availability."))
        conditions = [kubelet.condition("Available", available, when, *availability),
                      kubelet.condition("Progressing", progressing[0], when, *progressing[1:])]
        old = d.get("status") or {}
        status = _counts({"observedGeneration": _gen(d)}, {
            "replicas": len(pods), "updatedReplicas": len(new_pods), "readyReplicas": ready,
            "availableReplicas": ready, "unavailableReplicas": max(replicas - ready, 0)})
        status["conditions"] = _keep_times(old.get("conditions"), conditions, with_update=True)
        self.put_status(self.apps.patch_namespaced_deployment_status, d, status)
        return self._entry("Deployment", replicas, pods, spec["template"])

    def statefulset_status(self, sts: dict) -> dict:
        spec, pods = sts["spec"], self.owned(sts)
        replicas, update = spec.get("replicas", 1), f"{sts['metadata']['name']}-{template_hash(spec['template'])}"
        revisions = [p["metadata"].get("labels", {}).get("controller-revision-hash") for p in pods]
        current = (sts.get("status") or {}).get("currentRevision") or update
        if revisions.count(update) == len(pods) == replicas:
            current = update
        ready = sum(map(kubelet.pod_ready, pods))
        status = _counts({"observedGeneration": _gen(sts), "replicas": len(pods), "availableReplicas": ready,
                          "currentRevision": current, "updateRevision": update, "collisionCount": 0},
                         {"readyReplicas": ready, "currentReplicas": revisions.count(current),
                          "updatedReplicas": revisions.count(update)})
        self.put_status(self.apps.patch_namespaced_stateful_set_status, sts, status)
        return self._entry("StatefulSet", replicas, pods, spec["template"])

    def daemonset_status(self, ds: dict) -> dict:
        pods, template = self.owned(ds), ds["spec"]["template"]
        with_pod = {p["spec"].get("nodeName") for p in pods}
        desired = sum(kubelet.node_ready(node) or name in with_pod for name, node in self.nodes.items())
        ready = sum(map(kubelet.pod_ready, pods))
        updated = sum(p["metadata"].get("labels", {}).get("controller-revision-hash") == template_hash(template)
                      for p in pods)
        status = _counts({"observedGeneration": _gen(ds), "desiredNumberScheduled": desired,
                          "currentNumberScheduled": len(pods), "numberReady": ready, "numberMisscheduled": 0},
                         {"numberAvailable": ready, "numberUnavailable": max(desired - ready, 0),
                          "updatedNumberScheduled": updated})
        self.put_status(self.apps.patch_namespaced_daemon_set_status, ds, status)
        return self._entry("DaemonSet", desired, pods, template)

    def write_state(self, workloads: dict) -> None:
        """workloads.json, replaced atomically (readers never see half a file)."""
        write_json(self.state_file, {"updated": time.time(), "workloads": workloads})
