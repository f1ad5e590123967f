"""Throwaway objects for the tests of the k8s checks, made through the official kubernetes client.

- the Deployment reader-probe: revision 1 healthy; `break_rollout` rolls out revision 2 with a new image, the
  lab's crashloop marker on its template, a claim that does not exist and a short progress deadline;
- the node reader-node: NotReady, under memory pressure and cordoned, so no controller touches the pods put on it
  (`frozen_pod` makes a pod there with the status a test gives it).

The lab's controller loop plays the controllers (ReplicaSets, pods, statuses); tests wait until the state they
want is visible, then run the module. Everything made here is deleted afterwards, leaving the seeded
namespace as it was.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import yaml
from kubernetes.client import ApiException, AppsV1Api, CoreV1Api

from lab import k8s
from lab.core import free_port, wait_until

NAME, NODE = "reader-probe", "reader-node"
GOOD, BAD = "registry.local/pubsec/reader-probe:1.0", "registry.local/pubsec/reader-probe:2.0"
CRASHLOOP = "lab.sre-runbooks/crashloop"


def connection(lab, **options) -> dict:
    """The module options that point at the lab's Kubernetes."""
    info = lab.service("k8s")
    return {"kubeconfig": info["kubeconfig"], "context": info["context"], "namespace": info["namespace"]} | options


def closed_port_kubeconfig(lab, directory: Path) -> str:
    """A copy of the lab's kubeconfig whose server is a port nothing listens on."""
    config = yaml.safe_load(Path(lab.service("k8s")["kubeconfig"]).read_text())
    config["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{free_port()}"
    (directory / "kubeconfig").write_text(yaml.safe_dump(config))
    return str(directory / "kubeconfig")


def require_controller(lab) -> None:
    assert lab.alive("k8s-controller"), "the lab's Kubernetes controller loop is not running (the lab starts it)"


def _pods(core: CoreV1Api, ns: str) -> list:
    return core.list_namespaced_pod(ns, label_selector=f"app={NAME}").items


def _ready(pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def _crashlooping(pod) -> bool:
    return any(s.state.waiting and s.state.waiting.reason == "CrashLoopBackOff"
               for s in pod.status.container_statuses or [])


def _quietly(call, *args, **kwargs) -> None:
    with contextlib.suppress(ApiException):
        call(*args, **kwargs)


@contextlib.contextmanager
def probe(lab):
    """The healthy reader-probe (2 ready pods of revision 1); yields (core, apps, namespace)."""
    require_controller(lab)
    ns = lab.service("k8s")["namespace"]
    with k8s.api(lab.service("k8s")) as client:
        core, apps = CoreV1Api(client), AppsV1Api(client)
        labels = {"app": NAME, "component": NAME}
        apps.create_namespaced_deployment(ns, {
            "metadata": {"name": NAME, "labels": labels, "annotations": {"kubernetes.io/change-cause": "probe 1.0"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": NAME}}, "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": NAME, "image": GOOD, "env": [{"name": "LLM_PROVIDER",
                                                                                 "value": "anthropic"}]}]}}}})
        try:
            wait_until(lambda: [p for p in _pods(core, ns) if _ready(p)].__len__() == 2, timeout=30,
                       what="reader-probe's pods ready")
            yield core, apps, ns
        finally:
            _delete_probe(core, apps, ns)


def _delete_probe(core: CoreV1Api, apps: AppsV1Api, ns: str) -> None:
    _quietly(apps.patch_namespaced_deployment_scale, NAME, ns, {"spec": {"replicas": 0}})
    _quietly(apps.delete_namespaced_deployment, NAME, ns)
    for rs in apps.list_namespaced_replica_set(ns, label_selector=f"app={NAME}").items:
        _quietly(apps.delete_namespaced_replica_set, rs.metadata.name, ns)

    def gone() -> bool:
        pods = _pods(core, ns)
        for pod in pods:
            _quietly(core.delete_namespaced_pod, pod.metadata.name, ns)
        return not pods

    wait_until(gone, timeout=30, what="reader-probe's pods deleted")


def break_rollout(core: CoreV1Api, apps: AppsV1Api, ns: str) -> list[str]:
    """Roll out revision 2, whose pods crash-loop; once they do and the deadline passed, their names."""
    apps.patch_namespaced_deployment(NAME, ns, {
        "metadata": {"annotations": {"kubernetes.io/change-cause": "probe 2.0"}},
        "spec": {"progressDeadlineSeconds": 2, "template": {
            "metadata": {"annotations": {CRASHLOOP: "true"}},
            "spec": {"containers": [{"name": NAME, "image": BAD}],
                     "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": f"{NAME}-data"}}]}}}})

    def broken():
        pods = [p for p in _pods(core, ns) if p.spec.containers[0].image == BAD]
        status = apps.read_namespaced_deployment_status(NAME, ns).status
        stuck = any(c.type == "Progressing" and c.reason == "ProgressDeadlineExceeded" for c in status.conditions or [])
        old = [p for p in _pods(core, ns) if p.spec.containers[0].image != BAD]
        return (len(pods) == 2 and all(map(_crashlooping, pods)) and not old and stuck
                and sorted(p.metadata.name for p in pods))

    return wait_until(broken, timeout=30, what="reader-probe's revision 2 crash-looping past its deadline")


@contextlib.contextmanager
def bad_node(lab):
    """reader-node: NotReady, MemoryPressure, cordoned; yields (core, namespace)."""
    ns = lab.service("k8s")["namespace"]
    with k8s.api(lab.service("k8s")) as client:
        core = CoreV1Api(client)
        core.create_node({"metadata": {"name": NODE}, "spec": {"unschedulable": True}, "status": {"conditions": [
            {"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": "PLEG is not healthy"},
            {"type": "MemoryPressure", "status": "True", "reason": "KubeletHasInsufficientMemory"},
            {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure"}]}})
        try:
            yield core, ns
        finally:
            for pod in core.list_namespaced_pod(ns, field_selector=f"spec.nodeName={NODE}").items:
                _quietly(core.delete_namespaced_pod, pod.metadata.name, ns)
            _quietly(core.delete_node, NODE)


def frozen_pod(core: CoreV1Api, ns: str, name: str, status: dict) -> None:
    """A bare pod on reader-node with this status (no kubelet runs there to change it)."""
    core.create_namespaced_pod(ns, {
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"nodeName": NODE, "containers": [{"name": "main", "image": f"registry.local/{name}:1"}]},
        "status": status})


def waiting(reason: str, last: str | None = None) -> dict:
    """A Running pod status whose container waits for `reason` (last terminated with `last`)."""
    container = {"name": "main", "image": "x", "imageID": "", "ready": False, "restartCount": 3 if last else 0,
                 "state": {"waiting": {"reason": reason}}}
    if last:
        container["lastState"] = {"terminated": {"reason": last, "exitCode": 137}}
    return {"phase": "Pending" if reason == "ContainerCreating" else "Running", "containerStatuses": [container],
            "conditions": [{"type": "Ready", "status": "False"}]}
