"""The lab's Kubernetes API stand-in, read and changed through the official client over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes
import pytest
from kubernetes.client import ApiException, AppsV1Api, AutoscalingV2Api, CoreV1Api

from lab import k8s
from lab.core import Lab, wait_until


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("k8s"))
    info = k8s.up(lab)
    yield info
    k8s.down(lab)
    assert not lab.alive("k8s") and not lab.alive("k8s-controller")


@pytest.fixture(scope="module")
def client(cluster):
    with k8s.api(cluster) as api_client:
        yield api_client


@pytest.fixture
def core(client):
    return CoreV1Api(client)


@pytest.fixture
def apps(client):
    return AppsV1Api(client)


def test_info_names_the_lab_context(cluster):
    assert cluster["context"] == "lab"
    assert cluster["namespace"] == "pubsec-info-assistant"
    assert cluster["url"].startswith("http://127.0.0.1:")
    _, active = kubernetes.config.list_kube_config_contexts(cluster["kubeconfig"])
    assert active["name"] == "lab"


def test_three_nodes_are_ready(core):
    nodes = core.list_node().items
    ready = [n.metadata.name for n in nodes
             if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions)]
    assert sorted(ready) == ["node-1", "node-2", "node-3"]
    assert nodes[0].status.capacity["cpu"] == "8"


def test_pods_listed_by_label_selector(cluster, core):
    qdrant = core.list_namespaced_pod(cluster["namespace"], label_selector="component=qdrant").items
    assert sorted(p.metadata.name for p in qdrant) == ["qdrant-0", "qdrant-1", "qdrant-2"]
    assert all(p.status.phase == "Running" and p.status.container_statuses[0].ready for p in qdrant)
    assert all(p.metadata.owner_references[0].kind == "StatefulSet" for p in qdrant)
    backend = core.list_namespaced_pod(cluster["namespace"], label_selector="app=backend,component in (backend)").items
    assert len(backend) == 2
    assert core.list_namespaced_pod(cluster["namespace"], label_selector="component=nothing").items == []


def test_backend_deployment_has_its_env(cluster, apps):
    deployment = apps.read_namespaced_deployment("backend", cluster["namespace"])
    container = deployment.spec.template.spec.containers[0]
    assert container.image == "registry.local/pubsec/backend:1.4.2"
    assert {e.name: e.value for e in container.env} == {
        "REDIS_ENABLED": "true", "LLM_PROVIDER": "openai", "CACHE_ONLY_MODE": "false"}
    assert deployment.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    assert deployment.status.ready_replicas == deployment.status.available_replicas == 2
    assert {c.type for c in deployment.status.conditions} == {"Available", "Progressing"}


def test_controller_loop_runs_with_the_emulator(cluster, apps, core):
    namespace, workloads = cluster["namespace"], Path(cluster["logs_dir"]).parent / "workloads.json"
    ds = apps.read_namespaced_daemon_set("log-shipper", namespace)
    assert ds.status.desired_number_scheduled == ds.status.number_ready == 3
    passed = json.loads(workloads.read_text())["updated"]
    gone = core.list_namespaced_pod(namespace, label_selector="app=log-shipper").items[0]
    core.delete_namespaced_pod(gone.metadata.name, namespace)

    def replaced():
        shippers = core.list_namespaced_pod(namespace, label_selector="app=log-shipper").items
        return (len(shippers) == 3 and gone.metadata.uid not in {p.metadata.uid for p in shippers}
                and all(any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
                        for p in shippers)
                and gone.spec.node_name in {p.spec.node_name for p in shippers})

    wait_until(replaced, timeout=30, what="the DaemonSet's pod made again on its node and Ready")
    assert json.loads(workloads.read_text())["updated"] > passed


def test_backend_has_two_replicaset_revisions(cluster, apps):
    deployment = apps.read_namespaced_deployment("backend", cluster["namespace"])
    owned = [rs for rs in apps.list_namespaced_replica_set(cluster["namespace"], label_selector="app=backend").items
             if rs.metadata.owner_references[0].uid == deployment.metadata.uid]
    by_revision = {rs.metadata.annotations["deployment.kubernetes.io/revision"]: rs for rs in owned}
    assert sorted(by_revision) == ["1", "2"]
    assert by_revision["1"].spec.template.spec.containers[0].image == "registry.local/pubsec/backend:1.4.1"
    assert (by_revision["1"].spec.replicas, by_revision["2"].spec.replicas) == (0, 2)


def test_scale_subresource_changes_replicas(cluster, apps):
    namespace = cluster["namespace"]
    assert apps.read_namespaced_deployment_scale("backend", namespace).spec.replicas == 2
    try:
        scale = apps.patch_namespaced_deployment_scale("backend", namespace, {"spec": {"replicas": 5}})
        assert scale.spec.replicas == 5
        assert apps.read_namespaced_deployment("backend", namespace).spec.replicas == 5
    finally:
        apps.patch_namespaced_deployment_scale("backend", namespace, {"spec": {"replicas": 2}})
    assert apps.read_namespaced_deployment("backend", namespace).spec.replicas == 2


def test_env_patch_merges_by_name(cluster, apps):
    namespace = cluster["namespace"]
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "backend", "env": [{"name": "REDIS_ENABLED", "value": "false"}]}]}}}}
    before = apps.read_namespaced_deployment("backend", namespace)
    try:
        after = apps.patch_namespaced_deployment("backend", namespace, patch)
        container = after.spec.template.spec.containers[0]
        assert {e.name: e.value for e in container.env}["REDIS_ENABLED"] == "false"
        assert len(container.env) == 3 and container.image == "registry.local/pubsec/backend:1.4.2"
        assert after.metadata.generation == before.metadata.generation + 1
    finally:
        patch["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = "true"
        apps.patch_namespaced_deployment("backend", namespace, patch)


def test_hpa_targets_backend(cluster, client):
    hpa = AutoscalingV2Api(client).read_namespaced_horizontal_pod_autoscaler("backend", cluster["namespace"])
    assert (hpa.spec.scale_target_ref.kind, hpa.spec.scale_target_ref.name) == ("Deployment", "backend")
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas, hpa.status.current_replicas) == (2, 10, 2)


def test_pod_logs_honour_tail_lines(cluster, core):
    full = core.read_namespaced_pod_log("qdrant-0", cluster["namespace"])
    tail = core.read_namespaced_pod_log("qdrant-0", cluster["namespace"], tail_lines=2)
    assert "Qdrant HTTP listening on 6333" in full
    assert tail.splitlines() == full.splitlines()[-2:]


def test_create_and_delete_a_pod(cluster, core):
    namespace = cluster["namespace"]
    body = {"metadata": {"name": "debug-shell", "labels": {"app": "debug"}},
            "spec": {"containers": [{"name": "shell", "image": "busybox:1.36"}]}}
    created = core.create_namespaced_pod(namespace, body)
    assert created.metadata.uid and created.metadata.namespace == namespace
    assert core.read_namespaced_pod_log("debug-shell", namespace) == ""
    with pytest.raises(ApiException) as conflict:
        core.create_namespaced_pod(namespace, body)
    assert conflict.value.status == 409
    core.delete_namespaced_pod("debug-shell", namespace)
    assert core.list_namespaced_pod(namespace, label_selector="app=debug").items == []
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod("debug-shell", namespace)
    assert missing.value.status == 404


def test_missing_objects_answer_not_found(cluster, apps):
    with pytest.raises(ApiException) as missing:
        apps.read_namespaced_deployment("no-such-deployment", cluster["namespace"])
    assert missing.value.status == 404
    status = json.loads(missing.value.body)
    assert (status["reason"], status["message"]) == ("NotFound", 'deployments.apps "no-such-deployment" not found')
