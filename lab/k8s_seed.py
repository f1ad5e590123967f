"""The seed of the lab's Kubernetes: namespace pubsec-info-assistant as it runs before any incident.

Written through the official kubernetes client, as any module would: three Ready nodes; Deployments
backend and frontend, each with two ReplicaSet revisions (the current one with its Running pods);
StatefulSets qdrant (with PVCs) and redis with their pods; the DaemonSet log-shipper with a pod on
every node; the backend HPA; the services; and a few log lines for every pod (lab/k8s_logs.py).
Names and revision hashes are the ones the controller loop (lab/k8s_controller.py) computes, so it
finds everything up to date.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import kubernetes

from lab import k8s_logs
from lab.k8s import NAMESPACE, NODES, digest, name_hash, template_hash

# name: (port, [(revision image, change cause), ...] oldest first, env)
DEPLOYMENTS = {
    "backend": (8000, [("registry.local/pubsec/backend:1.4.1", "release 1.4.1"),
                       ("registry.local/pubsec/backend:1.4.2", "release 1.4.2: query cache tuning")],
                {"REDIS_ENABLED": "true", "LLM_PROVIDER": "openai", "CACHE_ONLY_MODE": "false"}),
    "frontend": (8080, [("registry.local/pubsec/frontend:2.0.2", "release 2.0.2"),
                        ("registry.local/pubsec/frontend:2.0.3", "release 2.0.3: status banner")],
                 {"BACKEND_URL": "http://backend:8000"}),
}
# name: (replicas, image, port, volume claim template or None)
STATEFULSETS = {
    "qdrant": (3, "qdrant/qdrant:v1.9.2", 6333, "qdrant-storage"),
    "redis": (2, "redis:7.2-alpine", 6379, None),
}
# name: (image, port)
DAEMONSETS = {"log-shipper": ("fluent/fluent-bit:3.0.4", 2020)}
STARTED = datetime.datetime.now(tz=datetime.UTC) - datetime.timedelta(hours=6)


def seed(client: kubernetes.client.ApiClient, logs_dir: Path) -> None:
    core, apps = kubernetes.client.CoreV1Api(client), kubernetes.client.AppsV1Api(client)
    core.create_namespace({"metadata": {"name": NAMESPACE, "labels": {"kubernetes.io/metadata.name": NAMESPACE}}})
    for index, name in enumerate(NODES):
        core.create_node(_node(name, index))
    for name, (port, revisions, env) in DEPLOYMENTS.items():
        core.create_namespaced_service(NAMESPACE, _service(name, port))
        deployment = apps.create_namespaced_deployment(NAMESPACE, _deployment(name, port, revisions, env))
        for revision, (image, cause) in enumerate(revisions, start=1):
            replicas = 2 if revision == len(revisions) else 0
            body = _replicaset(name, revision, image, cause, replicas, _template(name, image, port, env), deployment)
            replicaset = apps.create_namespaced_replica_set(NAMESPACE, body)
            for index in range(replicas):
                pod_name = f"{replicaset.metadata.name}-{name_hash(replicaset.metadata.name, index)[:5]}"
                labels = replicaset.spec.template.metadata.labels
                core.create_namespaced_pod(NAMESPACE, _pod(pod_name, labels, image, port, env, replicaset))
                k8s_logs.write_startup(logs_dir, pod_name, name, env, STARTED)
    for name, (replicas, image, port, claim) in STATEFULSETS.items():
        core.create_namespaced_service(NAMESPACE, _service(name, port))
        statefulset = apps.create_namespaced_stateful_set(NAMESPACE, _statefulset(name, replicas, image, port, claim))
        for index in range(replicas):
            pod_name = f"{name}-{index}"
            if claim:
                core.create_namespaced_persistent_volume_claim(NAMESPACE, _pvc(f"{claim}-{pod_name}", name))
            labels = {**_labels(name), "statefulset.kubernetes.io/pod-name": pod_name,
                      "controller-revision-hash": statefulset.status.update_revision}
            core.create_namespaced_pod(NAMESPACE, _pod(pod_name, labels, image, port, {}, statefulset, claim))
            k8s_logs.write_startup(logs_dir, pod_name, name, {}, STARTED)
    for name, (image, port) in DAEMONSETS.items():
        daemonset = apps.create_namespaced_daemon_set(NAMESPACE, _daemonset(name, image, port))
        labels = {**_labels(name), "controller-revision-hash": template_hash(_template(name, image, port, {})),
                  "pod-template-generation": "1"}
        for node in NODES:
            pod_name = f"{name}-{name_hash(name, node)[:5]}"
            core.create_namespaced_pod(NAMESPACE, _pod(pod_name, labels, image, port, {}, daemonset, node=node))
            k8s_logs.write_startup(logs_dir, pod_name, name, {}, STARTED)
    kubernetes.client.AutoscalingV2Api(client).create_namespaced_horizontal_pod_autoscaler(NAMESPACE, _hpa())


def _ts(minutes_after_start: int = 0) -> str:
    return (STARTED + datetime.timedelta(minutes=minutes_after_start)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _labels(name: str) -> dict:
    return {"app": name, "component": name, "app.kubernetes.io/part-of": NAMESPACE}


def _condition(kind: str, status: str = "True", reason: str | None = None, message: str | None = None) -> dict:
    condition = {"type": kind, "status": status, "lastTransitionTime": _ts()}
    return condition | ({"reason": reason} if reason else {}) | ({"message": message} if message else {})


def _owner(kind: str, owner) -> list[dict]:
    return [{"apiVersion": "apps/v1", "kind": kind, "name": owner.metadata.name, "uid": owner.metadata.uid,
             "controller": True, "blockOwnerDeletion": True}]


def _node(name: str, index: int) -> dict:
    resources = {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"}
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                              "topology.kubernetes.io/zone": f"zone-{'abc'[index]}"}},
        "spec": {"podCIDR": f"10.244.{index}.0/24"},
        "status": {
            "capacity": resources, "allocatable": {**resources, "cpu": "7800m", "memory": "31Gi"},
            "conditions": [{"type": kind, "status": "False", "reason": f"KubeletHas{reason}",
                            "lastHeartbeatTime": _ts(), "lastTransitionTime": _ts()}
                           for kind, reason in (("MemoryPressure", "SufficientMemory"),
                                                ("DiskPressure", "NoDiskPressure"), ("PIDPressure", "SufficientPID"))]
            + [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
                "lastHeartbeatTime": _ts(), "lastTransitionTime": _ts()}],
            "addresses": [{"type": "InternalIP", "address": f"10.0.1.{11 + index}"},
                          {"type": "Hostname", "address": name}],
            "nodeInfo": {"kubeletVersion": "v1.29.4", "kubeProxyVersion": "v1.29.4", "containerRuntimeVersion":
                         "containerd://1.7.13", "operatingSystem": "linux", "architecture": "amd64",
                         "osImage": "Debian GNU/Linux 12 (bookworm)", "kernelVersion": "6.1.0-18-amd64",
                         "machineID": name_hash(name, "machine"), "systemUUID": name_hash(name, "system"),
                         "bootID": name_hash(name, "boot")},
        },
    }


def _container(name: str, image: str, port: int, env: dict) -> dict:
    container = {"name": name, "image": image, "ports": [{"containerPort": port, "protocol": "TCP"}],
                 "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}}
    if env:
        container["env"] = [{"name": key, "value": value} for key, value in env.items()]
    return container


def _template(name: str, image: str, port: int, env: dict) -> dict:
    return {"metadata": {"labels": _labels(name)}, "spec": {"containers": [_container(name, image, port, env)]}}


def _deployment(name: str, port: int, revisions: list, env: dict) -> dict:
    image, cause = revisions[-1]
    return {
        "metadata": {"name": name, "labels": _labels(name), "annotations": {
            "deployment.kubernetes.io/revision": str(len(revisions)), "kubernetes.io/change-cause": cause}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}}, "revisionHistoryLimit": 10,
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                 "template": _template(name, image, port, env)},
        "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2,
                   "availableReplicas": 2, "conditions": [
                       _condition("Available", reason="MinimumReplicasAvailable",
                                  message="Deployment has minimum availability.") | {"lastUpdateTime": _ts()},
                       _condition("Progressing", reason="NewReplicaSetAvailable",
                                  message=f'ReplicaSet "{name}-{name_hash(name, image)}" has successfully progressed.')
                       | {"lastUpdateTime": _ts()}]},
    }


def _replicaset(name: str, revision: int, image: str, cause: str, replicas: int, template: dict, owner) -> dict:
    pod_hash = name_hash(name, image)
    template["metadata"]["labels"]["pod-template-hash"] = pod_hash
    return {
        "metadata": {"name": f"{name}-{pod_hash}", "labels": template["metadata"]["labels"],
                     "ownerReferences": _owner("Deployment", owner), "annotations": {
                         "deployment.kubernetes.io/revision": str(revision), "kubernetes.io/change-cause": cause,
                         "deployment.kubernetes.io/desired-replicas": "2",
                         "deployment.kubernetes.io/max-replicas": "3"}},
        "spec": {"replicas": replicas, "template": template,
                 "selector": {"matchLabels": {"app": name, "pod-template-hash": pod_hash}}},
        "status": {"observedGeneration": 1, "replicas": replicas, "fullyLabeledReplicas": replicas,
                   "readyReplicas": replicas, "availableReplicas": replicas},
    }


def _statefulset(name: str, replicas: int, image: str, port: int, claim: str | None) -> dict:
    template = _template(name, image, port, {})
    spec = {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": name}},
            "podManagementPolicy": "OrderedReady", "updateStrategy": {"type": "RollingUpdate"}, "template": template}
    if claim:
        template["spec"]["containers"][0]["volumeMounts"] = [{"name": claim, "mountPath": "/qdrant/storage"}]
        spec["volumeClaimTemplates"] = [{"metadata": {"name": claim}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}}]
    revision = f"{name}-{template_hash(template)}"
    return {"metadata": {"name": name, "labels": _labels(name)}, "spec": spec,
            "status": {"observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas,
                       "currentReplicas": replicas, "updatedReplicas": replicas, "availableReplicas": replicas,
                       "currentRevision": revision, "updateRevision": revision, "collisionCount": 0}}


def _daemonset(name: str, image: str, port: int) -> dict:
    nodes = len(NODES)
    return {"metadata": {"name": name, "labels": _labels(name)},
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": _template(name, image, port, {}),
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}},
            "status": {"observedGeneration": 1, "desiredNumberScheduled": nodes, "currentNumberScheduled": nodes,
                       "numberReady": nodes, "numberAvailable": nodes, "updatedNumberScheduled": nodes,
                       "numberMisscheduled": 0}}


def _pod(name: str, labels: dict, image: str, port: int, env: dict, owner, claim: str | None = None,
         node: str | None = None) -> dict:
    node_index = NODES.index(node) if node else int(name_hash(name, "node"), 36) % len(NODES)
    spec = {"containers": [_container(labels["app"], image, port, env)], "nodeName": NODES[node_index],
            "restartPolicy": "Always", "serviceAccountName": "default"}
    if claim:
        spec["containers"][0]["volumeMounts"] = [{"name": claim, "mountPath": "/qdrant/storage"}]
        spec["volumes"] = [{"name": claim, "persistentVolumeClaim": {"claimName": f"{claim}-{name}"}}]
    ip = f"10.244.{node_index}.{10 + int(name_hash(name, 'ip'), 36) % 240}"
    return {
        "metadata": {"name": name, "labels": labels, "ownerReferences": _owner(owner.kind, owner)},
        "spec": spec,
        "status": {
            "phase": "Running", "qosClass": "Burstable", "hostIP": f"10.0.1.{11 + node_index}",
            "podIP": ip, "podIPs": [{"ip": ip}], "startTime": _ts(),
            "conditions": [{"type": kind, "status": "True", "lastTransitionTime": _ts(1)}
                           for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
            "containerStatuses": [{
                "name": labels["app"], "image": image, "imageID": f"{image.split(':')[0]}@sha256:{digest(image)}",
                "containerID": f"containerd://{digest(name)}", "ready": True, "started": True,
                "restartCount": 0, "state": {"running": {"startedAt": _ts(1)}}}],
        },
    }


def _pvc(name: str, app: str) -> dict:
    return {"metadata": {"name": name, "labels": _labels(app)},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard",
                     "resources": {"requests": {"storage": "10Gi"}}, "volumeName": f"pvc-{name_hash(name)}"},
            "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"}}}


def _service(name: str, port: int) -> dict:
    return {"metadata": {"name": name, "labels": _labels(name)},
            "spec": {"type": "ClusterIP", "selector": {"app": name},
                     "clusterIP": f"10.96.{int(name_hash(name), 36) % 250}.10",
                     "ports": [{"name": "http" if port != 6379 else "redis", "port": port, "targetPort": port}]}}


def _hpa() -> dict:
    cpu = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}
    return {
        "metadata": {"name": "backend", "labels": _labels("backend")},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "backend"},
                 "minReplicas": 2, "maxReplicas": 10, "metrics": [cpu]},
        "status": {"currentReplicas": 2, "desiredReplicas": 2, "currentMetrics": [{
            "type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 35,
                                                                           "averageValue": "175m"}}}],
                   "conditions": [_condition("AbleToScale", reason="ReadyForNewScale"),
                                  _condition("ScalingActive", reason="ValidMetricFound"),
                                  _condition("ScalingLimited", "False", reason="DesiredWithinRange")]},
    }
