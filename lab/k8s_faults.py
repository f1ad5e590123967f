"""Faults of the lab's Kubernetes, made as an operator or a failing release would make them, through
the official client against the API stand-in; the controller loop (lab/k8s_controller.py) then plays
their consequences.

bad-deploy
    A new backend revision (image BAD_IMAGE, change-cause "release 1.5.0: ...") whose pod template
    carries the crash-loop marker: every pod made from it crash-loops and the backend has no ready pod.
    Its pods log a startup error. Heal: the last good revision's template goes back, as
    `kubectl rollout undo` does.
backend-crashloop
    The backend's current pods are marked and crash-loop (a deadlock in the application); the
    template is untouched, so a rollout restart (new pods) fixes it. Heal: the marked pods are deleted.
node-not-ready
    NODE stops reporting: Ready=False (NodeStatusUnknown) and the unreachable taints; its pods are not
    Ready and no new pod goes there. Heal: the node reports Ready again and the taints go.
redis-pod-down
    Pod redis-0 is marked and crash-loops; the backend logs "Redis connection failed". Heal: the pod
    is deleted, so the StatefulSet makes a healthy one.
backend-at-capacity
    The backend's HPA is capped at CAPACITY_MAX replicas and is at it (ScalingLimited, TooManyReplicas),
    while the load needs PODS_NEEDED ready pods (<lab>/k8s/load.json): the backend answers, slowly.
    Heal: the HPA goes back to 2..10, the backend to 2 replicas, and the load away.

Every break returns once the fault shows in the API; every heal is idempotent, works whatever
remediation already happened, and returns once the workloads are healthy again.
"""

from __future__ import annotations

import copy

from kubernetes.client import AppsV1Api, AutoscalingV2Api, CoreV1Api

from lab import k8s, k8s_kubelet
from lab.core import Lab, LabError, wait_until, write_json

BAD_IMAGE = "registry.local/pubsec/backend:1.5.0"
BAD_CAUSE = "release 1.5.0: retrieval pipeline v2"
NODE = "node-2"
UNREACHABLE = "node.kubernetes.io/unreachable"
CAPACITY_MAX, PODS_NEEDED = 4, 6
SEEDED_HPA = {"minReplicas": 2, "maxReplicas": 10}
TIMEOUT = 30
BAD_DEPLOY_LINES = [
    "Traceback (most recent call last):",
    '  File "/app/app/main.py", line 18, in <module>',
    "    from app.retrieval.pipeline_v2 import build_pipeline",
    "ModuleNotFoundError: No module named 'app.retrieval.pipeline_v2'",
    "ERROR:    Application startup failed. Exiting.",
]
CRASHLOOP_LINES = [
    "ERROR app.query: deadlock detected: all 8 workers wait on the embedding cache lock (held 30s by worker 3)",
    "CRITICAL app.main: watchdog: worker pool deadlocked, exiting with code 1",
]
REDIS_LINES = [
    "ERROR app.cache: Redis connection failed: Error 111 connecting to redis-0.redis:6379. Connection refused.",
    "WARNING app.cache: Redis connection failed, answering without the query cache",
]


def apis(lab: Lab):
    """An ApiClient of the lab's Kubernetes (close it: `with client:`), its CoreV1Api and AppsV1Api."""
    client = k8s.api(lab.service("k8s"))
    return client, CoreV1Api(client), AppsV1Api(client)


def _pods(core: CoreV1Api, app: str) -> list[dict]:
    return k8s.raw(core.list_namespaced_pod(k8s.NAMESPACE, label_selector=f"app={app}",
                                            _preload_content=False))["items"]


def mark_crashloop(core: CoreV1Api, app: str, pod: str | None = None) -> None:
    """Mark the pods of app (or only the pod named `pod`): the controller loop makes them crash-loop."""
    names = [pod] if pod else [p["metadata"]["name"] for p in _pods(core, app)]
    if not names:
        raise LabError(f"no {app} pod to break")
    for name in names:
        core.patch_namespaced_pod(name, k8s.NAMESPACE, {"metadata": {"annotations": {k8s.CRASHLOOP: "true"}}})


def delete_marked(core: CoreV1Api, app: str, pod: str | None = None) -> None:
    """Delete the marked pods of app (or only the pod named `pod`, if marked): their controller makes healthy ones."""
    for found in _pods(core, app):
        if k8s_kubelet.marked_crashloop(found) and pod in (None, found["metadata"]["name"]):
            core.delete_namespaced_pod(found["metadata"]["name"], k8s.NAMESPACE)


def _wait(check, what: str) -> None:
    wait_until(check, timeout=TIMEOUT, what=what, interval=0.2)


def _backend_healthy(apps: AppsV1Api) -> bool:
    d = k8s.raw(apps.read_namespaced_deployment("backend", k8s.NAMESPACE, _preload_content=False))
    status, replicas = d.get("status") or {}, d["spec"].get("replicas", 1)
    return (status.get("observedGeneration") == d["metadata"].get("generation")
            and status.get("updatedReplicas", 0) == status.get("replicas", 0) == replicas
            and status.get("readyReplicas", 0) == replicas)


# bad-deploy ------------------------------------------------------------------
def break_bad_deploy(lab: Lab) -> None:
    client, core, apps = apis(lab)
    with client:
        apps.patch_namespaced_deployment("backend", k8s.NAMESPACE, {
            "metadata": {"annotations": {k8s.CAUSE: BAD_CAUSE}},
            "spec": {"template": {"metadata": {"annotations": {k8s.CRASHLOOP: "true"}},
                                  "spec": {"containers": [{"name": "backend", "image": BAD_IMAGE}]}}}})

        def crashing() -> bool:
            pods = _pods(core, "backend")
            return bool(pods) and all(p["spec"]["containers"][0]["image"] == BAD_IMAGE
                                      and k8s_kubelet.crashlooping(p) for p in pods)

        _wait(crashing, "the backend's pods of release 1.5.0 to crash-loop")
    k8s.append_pod_logs(lab, "backend", BAD_DEPLOY_LINES)


def heal_bad_deploy(lab: Lab) -> None:
    client, _, apps = apis(lab)
    with client:
        d = k8s.raw(apps.read_namespaced_deployment("backend", k8s.NAMESPACE, _preload_content=False))
        if k8s_kubelet.marked_crashloop(d["spec"]["template"]):
            rs = _last_good(apps, d["metadata"]["uid"])
            template = copy.deepcopy(rs["spec"]["template"])
            template["metadata"]["labels"].pop("pod-template-hash", None)
            cause = (rs["metadata"].get("annotations") or {}).get(k8s.CAUSE, "")
            apps.patch_namespaced_deployment("backend", k8s.NAMESPACE, [
                {"op": "replace", "path": "/spec/template", "value": template},
                {"op": "add", "path": "/metadata/annotations/kubernetes.io~1change-cause", "value": cause}])
        _wait(lambda: _backend_healthy(apps), "the backend's rollout to complete")


def _last_good(apps: AppsV1Api, uid: str) -> dict:
    """The newest ReplicaSet of the backend whose template is not the bad release's."""
    owned = [rs for rs in k8s.raw(apps.list_namespaced_replica_set(
        k8s.NAMESPACE, label_selector="app=backend", _preload_content=False))["items"] if k8s.owner_uid(rs) == uid]
    good = [rs for rs in owned if not k8s_kubelet.marked_crashloop(rs["spec"]["template"])]
    if not good:
        raise LabError("the backend has no good revision to go back to")
    return max(good, key=k8s.revision)


# backend-crashloop -----------------------------------------------------------
def break_backend_crashloop(lab: Lab) -> None:
    client, core, _ = apis(lab)
    with client:
        mark_crashloop(core, "backend")
        _wait(lambda: all(map(k8s_kubelet.crashlooping, _pods(core, "backend"))),
              "the backend's pods to crash-loop")
    k8s.append_pod_logs(lab, "backend", CRASHLOOP_LINES)


def heal_backend_crashloop(lab: Lab) -> None:
    client, core, apps = apis(lab)
    with client:
        d = k8s.raw(apps.read_namespaced_deployment("backend", k8s.NAMESPACE, _preload_content=False))
        if k8s_kubelet.marked_crashloop(d["spec"]["template"]):
            return  # the template itself is bad (bad-deploy): new pods would crash too
        delete_marked(core, "backend")
        _wait(lambda: _backend_healthy(apps), "new backend pods to be Ready")


# node-not-ready --------------------------------------------------------------
def _set_node(core: CoreV1Api, ready: bool) -> None:
    node = k8s.raw(core.read_node(NODE, _preload_content=False))
    when = k8s_kubelet.now()
    conditions = []
    for condition in node["status"].get("conditions") or []:
        if condition["type"] == "Ready":
            reason, message = (("KubeletReady", "kubelet is posting ready status") if ready else
                               ("NodeStatusUnknown", "Kubelet stopped posting node status."))
            changed = condition.get("status") != ("True" if ready else "False")
            condition = condition | {"status": "True" if ready else "False", "reason": reason, "message": message,
                                     "lastHeartbeatTime": when}
            condition["lastTransitionTime"] = when if changed else condition.get("lastTransitionTime", when)
        conditions.append(condition)
    core.patch_node_status(NODE, [{"op": "replace", "path": "/status/conditions", "value": conditions}])
    taints = [t for t in node["spec"].get("taints") or [] if t.get("key") != UNREACHABLE]
    if not ready:
        taints += [{"key": UNREACHABLE, "effect": effect, "timeAdded": when} for effect in ("NoSchedule", "NoExecute")]
    core.patch_node(NODE, [{"op": "add", "path": "/spec/taints", "value": taints}])


def _pods_on_node(core: CoreV1Api) -> list[dict]:
    pods = k8s.raw(core.list_namespaced_pod(k8s.NAMESPACE, _preload_content=False))["items"]
    return [p for p in pods if p["spec"].get("nodeName") == NODE]


def break_node_not_ready(lab: Lab) -> None:
    client, core, _ = apis(lab)
    with client:
        _set_node(core, ready=False)
        _wait(lambda: not any(map(k8s_kubelet.pod_ready, _pods_on_node(core))), f"the pods on {NODE} to be not Ready")


def heal_node_not_ready(lab: Lab) -> None:
    client, core, _ = apis(lab)
    with client:
        _set_node(core, ready=True)
        _wait(lambda: all(k8s_kubelet.pod_ready(p) or k8s_kubelet.marked_crashloop(p) or k8s_kubelet.state(p) ==
                          "pending" for p in _pods_on_node(core)), f"the pods on {NODE} to be Ready again")


# redis-pod-down --------------------------------------------------------------
def break_redis_pod_down(lab: Lab) -> None:
    client, core, _ = apis(lab)
    with client:
        mark_crashloop(core, "redis", "redis-0")
        _wait(lambda: k8s_kubelet.crashlooping(k8s.raw(core.read_namespaced_pod(
            "redis-0", k8s.NAMESPACE, _preload_content=False))), "redis-0 to crash-loop")
    k8s.append_pod_logs(lab, "backend", REDIS_LINES)


def heal_redis_pod_down(lab: Lab) -> None:
    client, core, apps = apis(lab)
    with client:
        delete_marked(core, "redis", "redis-0")

        def healthy() -> bool:
            replicas = apps.read_namespaced_stateful_set("redis", k8s.NAMESPACE).spec.replicas
            pods = {p["metadata"]["name"]: p for p in _pods(core, "redis")}
            return replicas == 0 or ("redis-0" in pods and k8s_kubelet.pod_ready(pods["redis-0"])
                                     and not k8s_kubelet.marked_crashloop(pods["redis-0"]))

        _wait(healthy, "redis-0 to be Ready")


# backend-at-capacity ---------------------------------------------------------
def _hpa_settled(autoscaling: AutoscalingV2Api, apps: AppsV1Api, replicas: int) -> bool:
    """The backend has `replicas` ready pods and its HPA's status says so (at its maximum or not)."""
    hpa = k8s.raw(autoscaling.read_namespaced_horizontal_pod_autoscaler("backend", k8s.NAMESPACE,
                                                                        _preload_content=False))
    status = hpa.get("status") or {}
    limited = {c["type"]: c for c in status.get("conditions") or []}.get("ScalingLimited") or {}
    at_max = replicas >= hpa["spec"]["maxReplicas"]
    return (_backend_healthy(apps) and status.get("currentReplicas") == status.get("desiredReplicas") == replicas
            and limited.get("status") == ("True" if at_max else "False"))


def _set_capacity(lab: Lab, limits: dict, replicas: int) -> None:
    """The HPA's limits first, then the Deployment's replicas (so the HPA never scales it back in between)."""
    client, _, apps = apis(lab)
    autoscaling = AutoscalingV2Api(client)
    with client:
        autoscaling.patch_namespaced_horizontal_pod_autoscaler("backend", k8s.NAMESPACE, {"spec": limits})
        apps.patch_namespaced_deployment_scale("backend", k8s.NAMESPACE, {"spec": {"replicas": replicas}})
        _wait(lambda: _hpa_settled(autoscaling, apps, replicas), f"the backend at {replicas} ready replicas")


def break_backend_at_capacity(lab: Lab) -> None:
    _set_capacity(lab, {"maxReplicas": CAPACITY_MAX}, CAPACITY_MAX)
    write_json(k8s.load_file(lab), {"backend_pods_needed": PODS_NEEDED})


def heal_backend_at_capacity(lab: Lab) -> None:
    k8s.load_file(lab).unlink(missing_ok=True)
    _set_capacity(lab, SEEDED_HPA, SEEDED_HPA["minReplicas"])
