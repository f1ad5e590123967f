"""StatefulSets, DaemonSets and the HPA, as the lab's controller loop (lab/k8s_controller.py) plays them.

A mixin of the loop's Controller: it uses its nodes, pods, APIs and pod helpers.
"""

from __future__ import annotations

import copy

from kubernetes.client import ApiException

from lab import k8s_kubelet as kubelet
from lab.k8s import metadata, name_hash, template_hash


class SetControllers:
    """The StatefulSet, DaemonSet and HorizontalPodAutoscaler controllers."""

    def _hpa(self, hpa: dict, targets: list[dict]) -> None:
        ref, spec = hpa["spec"].get("scaleTargetRef") or {}, hpa["spec"]
        target = next((t for t in targets
                       if t.get("kind") == ref.get("kind") and metadata(t)["name"] == ref.get("name")), None)
        if target is None:
            return
        low, high = spec.get("minReplicas", 1), spec["maxReplicas"]
        replicas = target["spec"].get("replicas", 1)
        wanted = min(max(replicas, low), high)
        if wanted != replicas:
            patch = (self.apps.patch_namespaced_deployment if target["kind"] == "Deployment"
                     else self.apps.patch_namespaced_stateful_set)
            self._patch(patch, target, {"spec": {"replicas": wanted}})
        status = dict(hpa.get("status") or {})
        at_max = wanted >= high
        limited = kubelet.condition("ScalingLimited", at_max, kubelet.now(), "TooManyReplicas" if at_max else
                                    "DesiredWithinRange", "the desired replica count is more than the maximum replica "
                                    "count" if at_max else "the desired count is within the acceptable range")
        old = {c["type"]: c for c in status.get("conditions") or []}
        if old.get("ScalingLimited", {}).get("status") == limited["status"]:
            limited = old["ScalingLimited"]
        status["conditions"] = [c for c in old.values() if c["type"] != "ScalingLimited"] + [limited]
        status |= {"currentReplicas": (target.get("status") or {}).get("replicas", 0), "desiredReplicas": wanted}
        self.put_status(self.hpa_api.patch_namespaced_horizontal_pod_autoscaler_status, hpa, status)

    def _statefulset(self, sts: dict) -> None:
        name, spec = metadata(sts)["name"], sts["spec"]
        template, replicas = spec["template"], spec.get("replicas", 1)
        update = f"{name}-{template_hash(template)}"
        by_ordinal = {int(metadata(p)["name"].rsplit("-", 1)[1]): p for p in self.owned(sts)
                      if metadata(p)["name"].rsplit("-", 1)[-1].isdigit()}
        for ordinal, pod in by_ordinal.items():
            if ordinal >= replicas:
                self._delete_pod(pod)
        for ordinal in range(replicas):
            if ordinal not in by_ordinal:
                self._create_sts_pod(sts, ordinal, update)
        for ordinal in sorted(range(replicas), reverse=True):
            pod = by_ordinal.get(ordinal)
            if pod is None:
                break
            if metadata(pod).get("labels", {}).get("controller-revision-hash") != update:
                self._delete_pod(pod)
                self._create_sts_pod(sts, ordinal, update)
                break
            if not kubelet.pod_ready(pod):
                break

    def _create_sts_pod(self, sts: dict, ordinal: int, update: str) -> None:
        name, spec = metadata(sts)["name"], sts["spec"]
        pod = f"{name}-{ordinal}"
        volumes = []
        for claim in spec.get("volumeClaimTemplates") or []:
            claim_name = f"{metadata(claim)['name']}-{pod}"
            volumes.append({"name": metadata(claim)["name"], "persistentVolumeClaim": {"claimName": claim_name}})
            self._ensure_claim(claim_name, claim, name)
        extra = {"hostname": pod, "subdomain": spec.get("serviceName", name)}
        if volumes:
            extra["volumes"] = (spec["template"].get("spec") or {}).get("volumes", []) + volumes
        self._create_pod(pod, spec["template"], sts, {"statefulset.kubernetes.io/pod-name": pod,
                                                      "controller-revision-hash": update}, extra)

    def _ensure_claim(self, claim_name: str, claim: dict, app: str) -> None:
        try:
            self.core.read_namespaced_persistent_volume_claim(claim_name, self.namespace, _preload_content=False)
            return
        except ApiException as exc:
            if exc.status != 404:
                raise
        size = (((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        self.core.create_namespaced_persistent_volume_claim(self.namespace, {
            "metadata": {"name": claim_name, "labels": {"app": app}},
            "spec": {**copy.deepcopy(claim.get("spec") or {}), "storageClassName": "standard",
                     "volumeName": f"pvc-{name_hash(claim_name)}"},
            "status": {"phase": "Bound", "accessModes": (claim.get("spec") or {}).get("accessModes", []),
                       "capacity": {"storage": size}}}, _preload_content=False)

    def _daemonset(self, ds: dict) -> None:
        template = ds["spec"]["template"]
        update = template_hash(template)
        on_node = {}
        for pod in self.owned(ds):
            node = pod["spec"].get("nodeName")
            if node not in self.nodes or node in on_node:
                self._delete_pod(pod)
            else:
                on_node[node] = pod
        labels = {"controller-revision-hash": update, "pod-template-generation": str(metadata(ds).get("generation", 1))}
        for node, info in sorted(self.nodes.items()):
            if node not in on_node and kubelet.node_ready(info):
                self._create_pod(self._new_name(metadata(ds)["name"]), template, ds, labels, node=node)
        for node, pod in sorted(on_node.items()):
            if metadata(pod).get("labels", {}).get("controller-revision-hash") != update:
                self._delete_pod(pod)
                if kubelet.node_ready(self.nodes[node]):
                    self._create_pod(self._new_name(metadata(ds)["name"]), template, ds, labels, node=node)
                break
            if not kubelet.pod_ready(pod):
                break
