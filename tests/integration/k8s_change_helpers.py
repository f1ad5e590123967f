"""Shared by the tests of the Kubernetes remediations: workloads of their own in the lab's namespace.

Each test makes its own Deployment, StatefulSet, DaemonSet or HPA (under a unique name), so that the seeded
workloads other tests read stay as seeded; the lab's controller loop makes their ReplicaSets and pods, and
`remove` deletes everything they own. State is read back through the official kubernetes client.
"""

from __future__ import annotations

import time
import uuid

import kubernetes
from conftest import run_module
from kubernetes.client import ApiException

from lab import k8s

CRASHLOOP = "lab.sre-runbooks/crashloop"
CAUSE = "kubernetes.io/change-cause"
REVISION = "deployment.kubernetes.io/revision"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def eventually(predicate, timeout: float = 30.0, what: str = "the condition"):
    """Poll until predicate() is truthy (the controller works in passes); fail with what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def diff_lines(result: dict) -> list[str]:
    """The changed lines of the diff Ansible printed (the result file leaves the diff out)."""
    return [f"{line[0]} {line[1:].strip()}" for line in result["_stdout"].splitlines()
            if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))]


def snapshot_of(client: kubernetes.client.ApiClient, obj) -> dict:
    """What a change would alter on an object read through the client: its spec, annotations and generation
    (the status, which the controller keeps moving, left out)."""
    data = client.sanitize_for_serialization(obj)
    return {"spec": data["spec"], "annotations": data["metadata"].get("annotations"),
            "generation": data["metadata"].get("generation")}


def template(name: str, image: str, env: dict | None = None, crashloop: bool = False) -> dict:
    container = {"name": name, "image": image, "ports": [{"containerPort": 8000, "protocol": "TCP"}]}
    if env:
        container["env"] = [{"name": key, "value": value} for key, value in env.items()]
    meta = {"labels": {"app": name}}
    if crashloop:
        meta["annotations"] = {CRASHLOOP: "true"}
    return {"metadata": meta, "spec": {"containers": [container]}}


class Cluster:
    """The lab's Kubernetes as a test sees it: module arguments, the API groups, workloads of its own."""

    def __init__(self, lab):
        self.lab = lab
        self.info = lab.service("k8s")
        self.ns = self.info["namespace"]
        self.client = k8s.api(self.info)
        self.core = kubernetes.client.CoreV1Api(self.client)
        self.apps = kubernetes.client.AppsV1Api(self.client)
        self.autoscaling = kubernetes.client.AutoscalingV2Api(self.client)
        self.made: list[tuple[str, str]] = []

    def run(self, module: str, check: bool = False, **args) -> dict:
        connection = {"kubeconfig": self.info["kubeconfig"], "context": self.info["context"], "namespace": self.ns}
        return run_module(module, {**connection, **args}, self.lab.root, check=check, diff=True)

    # making ------------------------------------------------------------------------------------
    def deployment(self, name: str, image: str = "registry.local/test/app:1", replicas: int = 2,
                   env: dict | None = None, crashloop: bool = False, cause: str | None = None):
        body = {"metadata": {"name": name, "labels": {"app": name}, "annotations": {CAUSE: cause or image}},
                "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                         "template": template(name, image, env, crashloop)}}
        self.made.append(("Deployment", name))
        self.apps.create_namespaced_deployment(self.ns, body)
        return self.settled("Deployment", name, ready=not crashloop)

    def roll_out(self, name: str, image: str, crashloop: bool = False, cause: str | None = None):
        """A new revision of one of our Deployments: a new image (and change-cause)."""
        current = self.apps.read_namespaced_deployment(name, self.ns)
        env = {e.name: e.value for e in current.spec.template.spec.containers[0].env or []}
        patch = [{"op": "replace", "path": "/spec/template", "value": template(name, image, env, crashloop)},
                 {"op": "add", "path": f"/metadata/annotations/{CAUSE.replace('/', '~1')}", "value": cause or image}]
        self.apps.patch_namespaced_deployment(name, self.ns, patch)
        return self.settled("Deployment", name, ready=not crashloop)

    def statefulset(self, name: str, replicas: int = 2):
        body = {"metadata": {"name": name, "labels": {"app": name}},
                "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                         "updateStrategy": {"type": "RollingUpdate"},
                         "template": template(name, "registry.local/test/store:1")}}
        self.made.append(("StatefulSet", name))
        self.apps.create_namespaced_stateful_set(self.ns, body)
        return self.settled("StatefulSet", name)

    def daemonset(self, name: str):
        body = {"metadata": {"name": name, "labels": {"app": name}},
                "spec": {"selector": {"matchLabels": {"app": name}}, "updateStrategy": {"type": "RollingUpdate"},
                         "template": template(name, "registry.local/test/agent:1")}}
        self.made.append(("DaemonSet", name))
        self.apps.create_namespaced_daemon_set(self.ns, body)
        return self.settled("DaemonSet", name)

    def bare_pod(self, name: str):
        """A pod no controller owns (the controller loop still runs it)."""
        body = {"metadata": {"name": name, "labels": {"app": name}}, "spec": template(name, "busybox:1.36")["spec"]}
        self.made.append(("Pod", name))
        self.core.create_namespaced_pod(self.ns, body)
        return eventually(lambda: next((p for p in self.pods(name) if self.ready(p)), None), what=f"pod {name}")

    def hpa(self, name: str, target: str, low: int, high: int):
        body = {"metadata": {"name": name},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                         "minReplicas": low, "maxReplicas": high}}
        self.made.append(("HorizontalPodAutoscaler", name))
        return self.autoscaling.create_namespaced_horizontal_pod_autoscaler(self.ns, body)

    # reading -----------------------------------------------------------------------------------
    def read(self, kind: str, name: str):
        if kind == "HorizontalPodAutoscaler":
            return self.autoscaling.read_namespaced_horizontal_pod_autoscaler(name, self.ns)
        suffix = {"Deployment": "deployment", "StatefulSet": "stateful_set", "DaemonSet": "daemon_set"}[kind]
        return getattr(self.apps, f"read_namespaced_{suffix}")(name, self.ns)

    def pods(self, app: str) -> list:
        return [p for p in self.core.list_namespaced_pod(self.ns, label_selector=f"app={app}").items
                if not p.metadata.deletion_timestamp]

    def replicasets(self, deployment: str) -> dict:
        """{revision: ReplicaSet} of one of our Deployments."""
        owner = self.read("Deployment", deployment).metadata.uid
        return {int(rs.metadata.annotations[REVISION]): rs
                for rs in self.apps.list_namespaced_replica_set(self.ns, label_selector=f"app={deployment}").items
                if rs.metadata.owner_references and rs.metadata.owner_references[0].uid == owner}

    def snapshot(self, kind: str, name: str) -> dict:
        return snapshot_of(self.client, self.read(kind, name))

    @staticmethod
    def ready(pod) -> bool:
        conditions = pod.status.conditions if pod.status else None
        return any(c.type == "Ready" and c.status == "True" for c in conditions or [])

    def settled(self, kind: str, name: str, ready: bool = True):
        """Wait until the controller has caught up with the workload (and, when ready, all its pods are Ready)."""
        def caught_up():
            obj = self.read(kind, name)
            status = obj.status
            if status is None or (status.observed_generation or 0) < (obj.metadata.generation or 0):
                return None
            wanted = status.desired_number_scheduled if kind == "DaemonSet" else obj.spec.replicas
            pods = self.pods(name)
            if len(pods) != wanted or (ready and not all(map(self.ready, pods))):
                return None
            return obj
        return eventually(caught_up, what=f"{kind} {name} to settle")

    # cleaning up -------------------------------------------------------------------------------
    def remove(self) -> None:
        """Delete what the test made, and the ReplicaSets, pods and PVCs the controller made for it."""
        for kind, name in reversed(self.made):
            try:
                if kind == "HorizontalPodAutoscaler":
                    self.autoscaling.delete_namespaced_horizontal_pod_autoscaler(name, self.ns)
                elif kind != "Pod":  # pods go with the sweep below
                    suffix = {"Deployment": "deployment", "StatefulSet": "stateful_set",
                              "DaemonSet": "daemon_set"}[kind]
                    getattr(self.apps, f"delete_namespaced_{suffix}")(name, self.ns)
            except ApiException as exc:
                if exc.status != 404:
                    raise
        for _kind, name in self.made:
            eventually(lambda name=name: self._sweep(name), what=f"the objects of {name} to be gone")
        self.client.close()

    def _sweep(self, name: str) -> bool:
        selector = f"app={name}"
        left = self.apps.list_namespaced_replica_set(self.ns, label_selector=selector).items + \
            self.core.list_namespaced_pod(self.ns, label_selector=selector).items + \
            self.core.list_namespaced_persistent_volume_claim(self.ns, label_selector=selector).items
        for obj in left:
            delete = {"ReplicaSet": self.apps.delete_namespaced_replica_set, "Pod": self.core.delete_namespaced_pod,
                      "PersistentVolumeClaim": self.core.delete_namespaced_persistent_volume_claim}
            kind = type(obj).__name__.removeprefix("V1")
            try:
                delete[kind](obj.metadata.name, self.ns)
            except ApiException as exc:
                if exc.status != 404:
                    raise
        return not left
