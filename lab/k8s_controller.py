"""The lab's controller loop: a stand-in for Kubernetes' controllers, scheduler and kubelets.

    python -m lab.k8s_controller --kubeconfig FILE --context lab --namespace NS --logs-dir DIR --state FILE

The API stand-in (lab/k8s_emulator.py) only stores objects. This process reads them through the
official kubernetes client every POLL seconds and, in namespace NS only, does what the real
components would, as a client (so every change it makes is an ordinary API write):
- Deployments: a pod template not yet seen makes a new ReplicaSet with the next revision and the
  Deployment's change-cause; a template equal to an older ReplicaSet's (pod-template-hash aside)
  gives that ReplicaSet the next revision, as after `kubectl rollout undo`. The new ReplicaSet gets
  all the replicas and the others none, at once (like strategy Recreate).
- ReplicaSets, StatefulSets, DaemonSets: pods are created and deleted to match. StatefulSet pods are
  NAME-0..N-1 (a deleted one comes back); a changed template (restartedAt) replaces them one at a
  time from the highest ordinal, each once the one before is Ready. DaemonSets run one pod on every
  Ready node. The HPA keeps its target's replicas within minReplicas..maxReplicas.
- Pods: placed on the least busy Ready, schedulable, untainted node; Pending, then Running and Ready
  START_SECONDS later. A pod whose annotations (copied from its template) carry
  lab.sre-runbooks/crashloop: "true" crash-loops (Running, not Ready, CrashLoopBackOff, restartCount
  growing). Pods on a NotReady node are not Ready. New pods get a log; crashing ones an error log
  and a previous log (lab/k8s_logs.py).
- Statuses: replicas, ready, updated, available, observedGeneration and the Available/Progressing
  conditions (NewReplicaSetAvailable, ReplicaSetUpdated, ProgressDeadlineExceeded after
  spec.progressDeadlineSeconds without progress) of every workload.
After every pass it writes FILE (workloads.json) atomically for the lab services that "run in the
cluster". API errors are logged and the next pass tries again; SIGTERM ends it cleanly.

What it does not do: rolling updates of Deployments (maxSurge/maxUnavailable are ignored), pod
eviction from NotReady nodes, graceful termination, garbage collection of owned objects, the
metrics-driven part of the HPA, ControllerRevisions, events, pod disruption budgets, and anything
outside namespace NS.
"""

from __future__ import annotations

import argparse
import copy
import os
import random
import signal
import threading
import time
import traceback
from pathlib import Path

import kubernetes
import urllib3
from kubernetes.client import ApiException

from lab import k8s_kubelet as kubelet
from lab import k8s_logs
from lab.k8s import ALPHABET, CAUSE, REVISION, metadata, name_hash, normalized, owner_uid, raw, revision
from lab.k8s_sets import SetControllers
from lab.k8s_status import Statuses

POLL = 0.4
START_SECONDS = 1.0
RESTART_SECONDS = 4.0
HISTORY = "deployment.kubernetes.io/revision-history"


def without_hash(template: dict) -> dict:
    template = copy.deepcopy(template or {})
    (template.get("metadata") or {}).get("labels", {}).pop("pod-template-hash", None)
    return normalized(template)


class Controller(SetControllers, Statuses):
    """One pass (`sync`) reads everything in the namespace and moves it one step toward its spec."""

    def __init__(self, client: kubernetes.client.ApiClient, namespace: str, logs_dir: Path, state_file: Path):
        super().__init__(namespace, state_file)
        self.core, self.apps = kubernetes.client.CoreV1Api(client), kubernetes.client.AppsV1Api(client)
        self.hpa_api = kubernetes.client.AutoscalingV2Api(client)
        self.logs_dir = logs_dir / namespace
        self.born: dict[str, float] = {}  # pod uid -> when it was scheduled (monotonic)
        self.restarted: dict[str, float] = {}  # pod uid -> its last crash (monotonic)

    def _list(self, call, *args) -> list[dict]:
        return raw(call(*args, _preload_content=False)).get("items", [])

    def sync(self) -> None:
        ns = self.namespace
        self.nodes = {metadata(n)["name"]: n for n in self._list(self.core.list_node)}
        self.pods = {metadata(p)["name"]: p for p in self._list(self.core.list_namespaced_pod, ns)}
        deployments = self._list(self.apps.list_namespaced_deployment, ns)
        replicasets = self._list(self.apps.list_namespaced_replica_set, ns)
        statefulsets = self._list(self.apps.list_namespaced_stateful_set, ns)
        daemonsets = self._list(self.apps.list_namespaced_daemon_set, ns)
        for hpa in self._list(self.hpa_api.list_namespaced_horizontal_pod_autoscaler, ns):
            self._hpa(hpa, deployments + statefulsets)
        current = {metadata(d)["uid"]: self._deployment(d, replicasets) for d in deployments}
        for rs in replicasets:
            self._replicaset(rs)
        for sts in statefulsets:
            self._statefulset(sts)
        for ds in daemonsets:
            self._daemonset(ds)
        for pod in list(self.pods.values()):
            self._kubelet(pod)
        for rs in replicasets:
            self.put_status(self.apps.patch_namespaced_replica_set_status, rs, self.replicaset_status(rs))
        found = {}
        for d in deployments:
            found[metadata(d)["name"]] = self.deployment_status(d, current[metadata(d)["uid"]], replicasets)
        for sts in statefulsets:
            found[metadata(sts)["name"]] = self.statefulset_status(sts)
        for ds in daemonsets:
            found[metadata(ds)["name"]] = self.daemonset_status(ds)
        self.write_state(found)
        self._forget({metadata(p)["uid"] for p in self.pods.values()}, {metadata(d)["uid"] for d in deployments})

    def _forget(self, pods: set[str], deployments: set[str]) -> None:
        """Drop what the loop remembers of objects that are gone."""
        for memory, live in ((self.born, pods), (self.restarted, pods), (self.progress, deployments)):
            for uid in set(memory) - live:
                del memory[uid]

    # writes ----------------------------------------------------------------
    def put_status(self, patch_status, obj: dict, status: dict) -> None:
        """Write the status when it changed; an object deleted meanwhile is left to the next pass."""
        if normalized(obj.get("status")) != normalized(status):
            try:
                patch_status(metadata(obj)["name"], self.namespace, [{"op": "add", "path": "/status", "value": status}],
                             _preload_content=False)
            except ApiException as exc:
                if exc.status != 404:
                    raise
            obj["status"] = status

    def _patch(self, patch, obj: dict, body: dict) -> dict:
        updated = raw(patch(metadata(obj)["name"], self.namespace, body, _preload_content=False))
        obj.clear()
        obj.update(updated)
        return obj

    def _create_pod(self, name: str, template: dict, owner: dict, labels: dict, spec: dict | None = None,
                    node: str | None = None) -> None:
        meta = template.get("metadata") or {}
        node = node or self._schedule((meta.get("labels") or {}).get("app"))
        body = {"metadata": {"name": name, "labels": {**(meta.get("labels") or {}), **labels},
                             "annotations": dict(meta.get("annotations") or {}),
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner["kind"],
                                                  "name": metadata(owner)["name"], "uid": metadata(owner)["uid"],
                                                  "controller": True, "blockOwnerDeletion": True}]},
                "spec": {**copy.deepcopy(template.get("spec") or {}), **(spec or {})}}
        if node:
            body["spec"]["nodeName"] = node
        reason = "" if node else f"0/{len(self.nodes)} nodes are available: no Ready, schedulable node."
        body["status"] = kubelet.pending(body, self.nodes.get(node), reason)
        try:
            pod = raw(self.core.create_namespaced_pod(self.namespace, body, _preload_content=False))
        except ApiException as exc:
            if exc.status != 409:
                raise
            print(f"pod {name} exists and is not {metadata(owner)['name']}'s: not made", flush=True)
            return
        k8s_logs.forget(self.logs_dir, name)
        self.pods[name] = pod
        self.born[metadata(pod)["uid"]] = time.monotonic()

    def _delete_pod(self, pod: dict) -> None:
        try:
            self.core.delete_namespaced_pod(metadata(pod)["name"], self.namespace, _preload_content=False)
        except ApiException as exc:
            if exc.status != 404:
                raise
        self.pods.pop(metadata(pod)["name"], None)

    def _schedule(self, app: str | None = None) -> str | None:
        """The schedulable node with the fewest pods of the app, then the fewest pods."""
        load = {name: [0, 0] for name, node in self.nodes.items() if kubelet.schedulable(node)}
        for pod in self.pods.values():
            if pod["spec"].get("nodeName") in load:
                load[pod["spec"]["nodeName"]][0] += (metadata(pod).get("labels") or {}).get("app") == app
                load[pod["spec"]["nodeName"]][1] += 1
        return min(load, key=lambda name: (load[name], name)) if load else None

    def owned(self, owner: dict) -> list[dict]:
        uid = metadata(owner)["uid"]
        return [p for p in self.pods.values() if owner_uid(p) == uid and not metadata(p).get("deletionTimestamp")]

    def _new_name(self, prefix: str) -> str:
        while True:
            name = f"{prefix}-{''.join(random.choices(ALPHABET, k=5))}"
            if name not in self.pods:
                return name

    # controllers -----------------------------------------------------------
    def _deployment(self, d: dict, replicasets: list[dict]) -> dict:
        """Pick or make the ReplicaSet of the current template; it gets the replicas, the others none."""
        meta, spec = metadata(d), d["spec"]
        owned = [rs for rs in replicasets if owner_uid(rs) == meta["uid"]]
        wanted, top = normalized(spec["template"]), max(map(revision, owned), default=0)
        cause = (meta.get("annotations") or {}).get(CAUSE)
        replicas = spec.get("replicas", 1)
        matches = [rs for rs in owned if without_hash(rs["spec"].get("template")) == wanted]
        if matches:
            new = max(matches, key=revision)
            notes = {}
            if revision(new) < top:  # as the deployment controller: the old number goes to revision-history
                history = (metadata(new).get("annotations") or {}).get(HISTORY)
                notes = {REVISION: str(top + 1), HISTORY: ",".join(filter(None, [history, str(revision(new))]))}
            if cause and (metadata(new).get("annotations") or {}).get(CAUSE) != cause:
                notes[CAUSE] = cause
            if notes:
                self._patch(self.apps.patch_namespaced_replica_set, new, {"metadata": {"annotations": notes}})
        else:
            new = self._new_replicaset(d, top + 1, cause)
            replicasets.append(new)
            owned.append(new)
        if (meta.get("annotations") or {}).get(REVISION) != str(revision(new)):
            self._patch(self.apps.patch_namespaced_deployment, d,
                        {"metadata": {"annotations": {REVISION: str(revision(new))}}})
        for rs in owned:
            count = replicas if rs is new else 0
            if rs["spec"].get("replicas") != count:
                self._patch(self.apps.patch_namespaced_replica_set, rs, {"spec": {"replicas": count}, "metadata": {
                    "annotations": {"deployment.kubernetes.io/desired-replicas": str(replicas)}}})
        return new

    def _new_replicaset(self, d: dict, number: int, cause: str | None) -> dict:
        meta, spec = metadata(d), d["spec"]
        pod_hash = name_hash(meta["name"], normalized(spec["template"]))
        template = copy.deepcopy(spec["template"])
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        labels["pod-template-hash"] = pod_hash
        notes = {REVISION: str(number), "deployment.kubernetes.io/desired-replicas": str(spec.get("replicas", 1)),
                 "deployment.kubernetes.io/max-replicas": str(spec.get("replicas", 1) + 1)}
        body = {"metadata": {"name": f"{meta['name']}-{pod_hash}", "labels": dict(labels),
                             "annotations": notes | ({CAUSE: cause} if cause else {}),
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"],
                                                  "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}]},
                "spec": {"replicas": 0, "template": template, "selector": {"matchLabels": {
                    **((spec.get("selector") or {}).get("matchLabels") or {}), "pod-template-hash": pod_hash}}},
                "status": {"replicas": 0}}
        return raw(self.apps.create_namespaced_replica_set(self.namespace, body, _preload_content=False))

    def _replicaset(self, rs: dict) -> None:
        pods = self.owned(rs)
        missing = rs["spec"].get("replicas", 1) - len(pods)
        for _ in range(missing):
            self._create_pod(self._new_name(metadata(rs)["name"]), rs["spec"]["template"], rs, {})
        for pod in sorted(pods, key=lambda p: (kubelet.pod_ready(p), metadata(p).get("creationTimestamp", "")))[
                :max(-missing, 0)]:
            self._delete_pod(pod)

    # kubelets --------------------------------------------------------------
    def _kubelet(self, pod: dict) -> None:
        meta, spec = metadata(pod), pod["spec"]
        uid, node_name = meta["uid"], spec.get("nodeName")
        if not node_name:
            node_name = self._schedule((meta.get("labels") or {}).get("app"))
            if node_name is None:
                reason = f"0/{len(self.nodes)} nodes are available: no Ready, schedulable node."
                if not (pod.get("status") or {}).get("conditions"):
                    self.put_status(self.core.patch_namespaced_pod_status, pod, kubelet.pending(pod, None, reason))
                return
            self._patch(self.core.patch_namespaced_pod, pod, {"spec": {"nodeName": node_name}})
            self.born[uid] = time.monotonic()
            self.put_status(self.core.patch_namespaced_pod_status, pod, kubelet.pending(pod, self.nodes[node_name]))
            return
        node = self.nodes.get(node_name)
        current = kubelet.state(pod)
        if current == "pending":
            self.born.setdefault(uid, time.monotonic())
        if not kubelet.node_ready(node):
            if current == "ready":
                self.put_status(self.core.patch_namespaced_pod_status, pod, kubelet.node_lost(pod))
            return
        if current == "pending" and time.monotonic() - self.born[uid] < START_SECONDS:
            return
        app = (meta.get("labels") or {}).get("app", "")
        env = self.env_of(pod)
        if kubelet.marked_crashloop(pod):
            last = self.restarted.setdefault(uid, time.monotonic())
            if current == "crashloop" and time.monotonic() - last < RESTART_SECONDS:
                return
            if current != "crashloop":
                k8s_logs.write_crash(self.logs_dir, meta["name"], app, env)
            self.restarted[uid] = time.monotonic()
            self.put_status(self.core.patch_namespaced_pod_status, pod, kubelet.crashing(pod, node))
        elif current != "ready":
            k8s_logs.write_startup(self.logs_dir, meta["name"], app, env)
            self.put_status(self.core.patch_namespaced_pod_status, pod, kubelet.running(pod, node))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.k8s_controller", description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--context", default="lab")
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--logs-dir", type=Path, required=True)
    parser.add_argument("--state", type=Path, required=True)
    args = parser.parse_args(argv)
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    client = kubernetes.config.new_client_from_config(config_file=args.kubeconfig, context=args.context,
                                                      persist_config=False)
    controller = Controller(client, args.namespace, args.logs_dir, args.state)
    print(f"controller loop for namespace {args.namespace} (pid {os.getpid()})", flush=True)
    while not stopped.is_set():
        try:
            controller.sync()
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
            print(f"pass interrupted by the API, retrying: {str(exc).splitlines()[0]}", flush=True)
        except (ValueError, KeyError, TypeError, AttributeError):
            print("pass failed on an unexpected object, retrying:", flush=True)
            traceback.print_exc()
        stopped.wait(POLL)
    client.close()
    print("controller loop stopped", flush=True)


if __name__ == "__main__":
    main()
