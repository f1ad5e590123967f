"""The lab's Kubernetes controller loop and faults, seen through the official client and the demo app."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from kubernetes.client import ApiException, AppsV1Api, AutoscalingV2Api, CoreV1Api

from lab import app, demo_app, faults, k8s, k8s_faults
from lab.core import wait_until

NS = k8s.NAMESPACE
REVISION = "deployment.kubernetes.io/revision"
CAUSE = "kubernetes.io/change-cause"
TIMEOUT = 30


@pytest.fixture(scope="module")
def client(lab):
    with k8s.api(lab.service("k8s")) as api_client:
        yield api_client


@pytest.fixture
def core(client):
    return CoreV1Api(client)


@pytest.fixture
def apps(client):
    return AppsV1Api(client)


def wait(predicate, what):
    return wait_until(predicate, timeout=TIMEOUT, what=what, interval=0.2)


def health(lab) -> tuple[int | None, dict]:
    try:
        with urllib.request.urlopen(lab.service("app")["health_url"], timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def health_when(lab, code: int, what: str) -> dict:
    """The app's /health body once it answers `code`."""
    return wait(lambda: (answer := health(lab))[0] == code and answer, what)[1]


def ready(pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def crashlooping(pod) -> bool:
    return any(s.state.waiting and s.state.waiting.reason == "CrashLoopBackOff"
               for s in pod.status.container_statuses or [])


def pods(core, app):
    return core.list_namespaced_pod(NS, label_selector=f"app={app}").items


def rolled_out(apps, name):
    d = apps.read_namespaced_deployment(name, NS)
    progressing = {c.type: c for c in d.status.conditions or []}.get("Progressing")
    return (d.status.observed_generation == d.metadata.generation and progressing is not None
            and progressing.reason == "NewReplicaSetAvailable" and d.status.ready_replicas == d.spec.replicas
            and d.status.replicas == d.spec.replicas) and d


def revisions(apps, name):
    owned = apps.list_namespaced_replica_set(NS, label_selector=f"app={name}").items
    return {int(rs.metadata.annotations[REVISION]): rs for rs in owned}


@pytest.fixture
def frontend_template(apps):
    """The frontend's template is put back (an old template: its ReplicaSet's revision) after the test."""
    before = apps.read_namespaced_deployment("frontend", NS)
    yield before
    template = apps.api_client.sanitize_for_serialization(before.spec.template)
    apps.patch_namespaced_deployment("frontend", NS, [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/spec/replicas", "value": before.spec.replicas},
        {"op": "add", "path": "/spec/progressDeadlineSeconds", "value": 600},
        {"op": "add", "path": "/metadata/annotations/kubernetes.io~1change-cause",
         "value": before.metadata.annotations[CAUSE]}])
    wait(lambda: rolled_out(apps, "frontend"), "the frontend back on its template")


def test_workloads_file_describes_every_workload(lab):
    found = wait(lambda: k8s.workloads(lab).get("log-shipper"), "workloads.json")
    assert found["kind"] == "DaemonSet"
    workloads = k8s.workloads(lab)
    assert {name: w["kind"] for name, w in workloads.items()} == {
        "backend": "Deployment", "frontend": "Deployment", "qdrant": "StatefulSet", "redis": "StatefulSet",
        "log-shipper": "DaemonSet"}
    backend = workloads["backend"]
    assert backend["env"] == {"REDIS_ENABLED": "true", "LLM_PROVIDER": "openai", "CACHE_ONLY_MODE": "false"}
    assert backend["image"].startswith("registry.local/pubsec/backend:")
    assert backend["ready"] == backend["desired"] == 2 and backend["crashloop"] is False


def test_daemonset_has_one_ready_pod_per_node(apps, core):
    ds = apps.read_namespaced_daemon_set("log-shipper", NS)
    assert ds.status.desired_number_scheduled == ds.status.number_ready == 3
    shipper = pods(core, "log-shipper")
    assert sorted(p.spec.node_name for p in shipper) == ["node-1", "node-2", "node-3"]
    assert all(ready(p) and p.metadata.owner_references[0].kind == "DaemonSet" for p in shipper)


def test_template_change_makes_a_revision_and_an_old_template_gets_the_next(apps, core, frontend_template):
    before = revisions(apps, "frontend")
    top = max(before)
    apps.patch_namespaced_deployment("frontend", NS, {
        "metadata": {"annotations": {CAUSE: "release 2.0.4: footer"}},
        "spec": {"template": {"spec": {"containers": [{"name": "frontend",
                                                       "image": "registry.local/pubsec/frontend:2.0.4"}]}}}})
    d = wait(lambda: rolled_out(apps, "frontend"), "the frontend rollout")
    new = revisions(apps, "frontend")[top + 1]
    assert d.metadata.annotations[REVISION] == str(top + 1)
    assert new.metadata.annotations[CAUSE] == "release 2.0.4: footer"
    assert new.spec.replicas == 2 and all(rs.spec.replicas == 0 for n, rs in revisions(apps, "frontend").items()
                                          if n != top + 1)
    fresh = pods(core, "frontend")
    assert len(fresh) == 2 and all(ready(p) and p.spec.containers[0].image.endswith(":2.0.4") for p in fresh)
    assert {p.metadata.owner_references[0].name for p in fresh} == {new.metadata.name}

    old = before[top]
    template = apps.api_client.sanitize_for_serialization(old.spec.template)
    del template["metadata"]["labels"]["pod-template-hash"]
    apps.patch_namespaced_deployment("frontend", NS, [{"op": "replace", "path": "/spec/template", "value": template}])
    wait(lambda: rolled_out(apps, "frontend"), "the frontend back on its old template")
    after = revisions(apps, "frontend")
    assert len(after) == len(before) + 1, "an old template makes no new ReplicaSet"
    assert after[top + 2].metadata.name == old.metadata.name
    assert apps.read_namespaced_deployment("frontend", NS).metadata.annotations[REVISION] == str(top + 2)


def test_deleted_statefulset_pod_comes_back(core):
    gone = core.read_namespaced_pod("redis-1", NS)
    core.delete_namespaced_pod("redis-1", NS)

    def back():
        try:
            pod = core.read_namespaced_pod("redis-1", NS)
        except ApiException:
            return None
        return ready(pod) and pod

    pod = wait(back, "redis-1 to come back Ready")
    assert pod.metadata.uid != gone.metadata.uid
    assert pod.metadata.labels["statefulset.kubernetes.io/pod-name"] == "redis-1"


def test_statefulset_scales_by_ordinal(apps, core):
    try:
        apps.patch_namespaced_stateful_set_scale("redis", NS, {"spec": {"replicas": 3}})
        wait(lambda: apps.read_namespaced_stateful_set("redis", NS).status.ready_replicas == 3, "redis at 3")
        assert sorted(p.metadata.name for p in pods(core, "redis")) == ["redis-0", "redis-1", "redis-2"]
    finally:
        apps.patch_namespaced_stateful_set_scale("redis", NS, {"spec": {"replicas": 2}})
    wait(lambda: apps.read_namespaced_stateful_set("redis", NS).status.replicas == 2, "redis back at 2")
    assert sorted(p.metadata.name for p in pods(core, "redis")) == ["redis-0", "redis-1"]


@pytest.mark.parametrize("kind, name", [("StatefulSet", "redis"), ("DaemonSet", "log-shipper")])
def test_restarted_at_replaces_every_pod(apps, core, kind, name):
    read, patch = ((apps.read_namespaced_stateful_set, apps.patch_namespaced_stateful_set) if kind == "StatefulSet"
                   else (apps.read_namespaced_daemon_set, apps.patch_namespaced_daemon_set))
    annotations = read(name, NS).spec.template.metadata.annotations

    def replaced(before):
        now = pods(core, name)
        return len(now) == len(before) and all(ready(p) for p in now) and not before & {p.metadata.uid for p in now}

    def restart(change):
        before = {p.metadata.uid for p in pods(core, name)}
        patch(name, NS, change)
        wait(lambda: replaced(before), f"every pod of {name} replaced and Ready")

    try:
        restart({"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"}}}}})
        status = read(name, NS).status
        if kind == "StatefulSet":
            assert status.current_revision == status.update_revision and status.updated_replicas == 2
        else:
            assert status.updated_number_scheduled == status.number_ready == 3
    finally:  # the template as it was (a template change, so its pods are replaced once more)
        restart([{"op": "remove", "path": "/spec/template/metadata/annotations"} if annotations is None else
                 {"op": "replace", "path": "/spec/template/metadata/annotations", "value": annotations}])
    assert read(name, NS).spec.template.metadata.annotations == annotations


def test_crashloop_marked_template_stalls_the_rollout(apps, core, frontend_template):
    apps.patch_namespaced_deployment("frontend", NS, {"spec": {"progressDeadlineSeconds": 2, "template": {
        "metadata": {"annotations": {k8s.CRASHLOOP: "true"}}}}})

    def stuck():
        conditions = {c.type: c for c in apps.read_namespaced_deployment("frontend", NS).status.conditions}
        return conditions["Progressing"].reason == "ProgressDeadlineExceeded" and conditions

    conditions = wait(stuck, "the frontend rollout to exceed its deadline")
    assert conditions["Progressing"].status == "False" and conditions["Available"].status == "False"
    crashing = pods(core, "frontend")
    assert len(crashing) == 2 and all(crashlooping(p) and not ready(p) for p in crashing)
    wait(lambda: all(p.status.container_statuses[0].restart_count >= 2 for p in pods(core, "frontend")),
         "restarts to grow")
    status = crashing[0].status
    assert status.phase == "Running"
    assert (status.container_statuses[0].last_state.terminated.reason,
            status.container_statuses[0].last_state.terminated.exit_code) == ("Error", 1)
    assert core.read_namespaced_pod_log(crashing[0].metadata.name, NS, previous=True)


def test_crashloop_marked_pod_until_replaced(core):
    victim = pods(core, "frontend")[0].metadata.name
    core.patch_namespaced_pod(victim, NS, {"metadata": {"annotations": {k8s.CRASHLOOP: "true"}}})
    wait(lambda: crashlooping(core.read_namespaced_pod(victim, NS)), f"{victim} to crash-loop")
    assert all(ready(p) for p in pods(core, "frontend") if p.metadata.name != victim)
    core.delete_namespaced_pod(victim, NS)
    wait(lambda: len(pods(core, "frontend")) == 2 and all(ready(p) for p in pods(core, "frontend")),
         "a Ready replacement")


def test_bad_deploy_breaks_the_app_and_heal_rolls_back(lab, apps, core):
    good = apps.read_namespaced_deployment("backend", NS)
    assert health(lab)[0] == 200
    try:
        faults.inject(lab, "bad-deploy")
        d = apps.read_namespaced_deployment("backend", NS)
        assert d.spec.template.spec.containers[0].image == k8s_faults.BAD_IMAGE
        assert d.metadata.annotations[CAUSE].startswith("release 1.5.0: ")
        assert all(crashlooping(p) for p in pods(core, "backend"))
        assert "ModuleNotFoundError" in core.read_namespaced_pod_log(pods(core, "backend")[0].metadata.name, NS)
        body = health_when(lab, 503, "the app to answer 503")
        assert body["problems"][0].startswith("backend: no ready pod (")
    finally:
        faults.heal(lab, "bad-deploy")
    d = rolled_out(apps, "backend")
    assert d.spec.template.spec.containers[0].image == good.spec.template.spec.containers[0].image
    assert int(d.metadata.annotations[REVISION]) == int(good.metadata.annotations[REVISION]) + 2
    assert d.metadata.annotations[CAUSE] == good.metadata.annotations[CAUSE]
    assert wait(lambda: health(lab)[0] == 200, "the app to answer 200")
    faults.heal(lab, "bad-deploy")  # idempotent


def test_backend_crashloop_leaves_the_template_alone(lab, apps, core):
    template = apps.read_namespaced_deployment("backend", NS).spec.template
    try:
        faults.inject(lab, "backend-crashloop")
        assert all(crashlooping(p) for p in pods(core, "backend"))
        assert apps.read_namespaced_deployment("backend", NS).spec.template == template
        assert "deadlock" in core.read_namespaced_pod_log(pods(core, "backend")[0].metadata.name, NS)
        assert wait(lambda: health(lab)[0] == 503, "the app to answer 503")
    finally:
        faults.heal(lab, "backend-crashloop")
    assert rolled_out(apps, "backend") and not any(crashlooping(p) for p in pods(core, "backend"))
    faults.heal(lab, "backend-crashloop")


def test_node_not_ready_takes_its_pods_out(lab, apps, core):
    try:
        faults.inject(lab, "node-not-ready")
        node = core.read_node("node-2")
        condition = {c.type: c for c in node.status.conditions}["Ready"]
        assert (condition.status, condition.reason) == ("False", "NodeStatusUnknown")
        assert {(t.key, t.effect) for t in node.spec.taints} == {
            ("node.kubernetes.io/unreachable", "NoSchedule"), ("node.kubernetes.io/unreachable", "NoExecute")}
        on_node = core.list_namespaced_pod(NS, field_selector="spec.nodeName=node-2").items
        assert on_node and not any(ready(p) for p in on_node)
        existing = {p.metadata.name for p in pods(core, "frontend")}
        apps.patch_namespaced_deployment_scale("frontend", NS, {"spec": {"replicas": 4}})
        wait(lambda: len(pods(core, "frontend")) == 4 and all(ready(p) for p in pods(core, "frontend")
                                                                if p.spec.node_name != "node-2"), "4 frontends")
        new = [p.spec.node_name for p in pods(core, "frontend") if p.metadata.name not in existing]
        assert len(new) == 2 and "node-2" not in new
    finally:
        apps.patch_namespaced_deployment_scale("frontend", NS, {"spec": {"replicas": 2}})
        faults.heal(lab, "node-not-ready")
    node = core.read_node("node-2")
    assert {c.type: c.status for c in node.status.conditions}["Ready"] == "True" and not node.spec.taints
    wait(lambda: all(ready(p) for p in core.list_namespaced_pod(NS, field_selector="spec.nodeName=node-2").items),
         "the pods on node-2 Ready again")
    faults.heal(lab, "node-not-ready")


def test_redis_pod_down_and_redis_disabled(lab, apps, core):
    try:
        faults.inject(lab, "redis-pod-down")
        assert crashlooping(core.read_namespaced_pod("redis-0", NS))
        assert "Redis connection failed" in core.read_namespaced_pod_log(pods(core, "backend")[0].metadata.name, NS)
        body = health_when(lab, 503, "the app to answer 503")
        assert body["checks"]["redis"].startswith("Redis connection failed")
        set_env(apps, "REDIS_ENABLED", "false")
        body = health_when(lab, 200, "the app without Redis")
        assert body["checks"]["redis"] == "disabled"
    finally:
        set_env(apps, "REDIS_ENABLED", "true")
        faults.heal(lab, "redis-pod-down")
    assert ready(core.read_namespaced_pod("redis-0", NS))
    body = health_when(lab, 200, "the app with Redis")
    assert body["checks"]["redis"] == "ok"
    faults.heal(lab, "redis-pod-down")


def test_llm_outage_fails_health_unless_cache_only(lab, apps):
    assert lab.service("llm"), "the lab always runs its LLM stand-in"
    assert health_when(lab, 200, "a healthy app")["checks"]["llm"] == "ok"
    try:
        faults.inject(lab, "llm-outage")
        assert health_when(lab, 503, "the app to answer 503")["checks"]["llm"].startswith("openai answered HTTP 5")
        set_env(apps, "CACHE_ONLY_MODE", "true")
        assert health_when(lab, 200, "the app in cache-only mode")["checks"]["llm"] == "cache-only"
    finally:
        set_env(apps, "CACHE_ONLY_MODE", "false")
        faults.heal(lab, "llm-outage")
    assert health_when(lab, 200, "the app back on OpenAI")["checks"]["llm"] == "ok"


def test_lost_qdrant_collection_fails_health(lab):
    assert lab.service("qdrant"), "the lab always runs its Qdrant stand-in"
    try:
        faults.inject(lab, "qdrant-data-lost")
        assert "documents" in health_when(lab, 503, "the app to answer 503")["checks"]["qdrant"]
    finally:
        faults.heal(lab, "qdrant-data-lost")
    assert health_when(lab, 200, "the app with its collection")["checks"]["qdrant"] == "ok"


def test_backend_at_capacity_holds_the_hpa_at_its_maximum_and_heal_puts_it_back(lab, apps):
    autoscaling = AutoscalingV2Api(apps.api_client)
    config = demo_app.load_config(str(app.config_path(lab)))
    assert not demo_app.overloaded(config)
    try:
        faults.inject(lab, "backend-at-capacity")
        hpa = autoscaling.read_namespaced_horizontal_pod_autoscaler("backend", NS)
        assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (2, k8s_faults.CAPACITY_MAX) == (2, 4)
        assert hpa.status.current_replicas == hpa.status.desired_replicas == 4
        limited = {c.type: c for c in hpa.status.conditions}["ScalingLimited"]
        assert (limited.status, limited.reason, limited.message) == (
            "True", "TooManyReplicas", "the desired replica count is more than the maximum replica count")
        assert json.loads(k8s.load_file(lab).read_text()) == {"backend_pods_needed": 6}
        apps.patch_namespaced_deployment_scale("backend", NS, {"spec": {"replicas": 6}})
        d = wait(lambda: (d := rolled_out(apps, "backend")) and d.spec.replicas == 4 and d,
                 "the HPA to hold the backend at its maximum")
        assert d.status.ready_replicas == 4
        assert demo_app.overloaded(config)
        assert health_when(lab, 200, "the overloaded backend to answer")["status"] == "ok"
    finally:
        faults.heal(lab, "backend-at-capacity")
    hpa = autoscaling.read_namespaced_horizontal_pod_autoscaler("backend", NS)
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (2, 10)
    assert hpa.status.current_replicas == hpa.status.desired_replicas == 2
    assert {c.type: c for c in hpa.status.conditions}["ScalingLimited"].reason == "DesiredWithinRange"
    d = rolled_out(apps, "backend")
    assert d and d.spec.replicas == d.status.ready_replicas == 2
    assert not k8s.load_file(lab).exists() and not demo_app.overloaded(config)
    faults.heal(lab, "backend-at-capacity")  # idempotent


def set_env(apps, name, value):
    apps.patch_namespaced_deployment("backend", NS, {"spec": {"template": {"spec": {"containers": [
        {"name": "backend", "env": [{"name": name, "value": value}]}]}}}})
    wait(lambda: rolled_out(apps, "backend"), f"the backend with {name}={value}")
