"""The foundation drill: Redis primary down -> p0-system-down.yml -> verified recovery, on the lab."""

import json

import kubernetes
import pytest
from conftest import app_health, report_of, run_playbook
from k8s_change_helpers import snapshot_of

from lab import faults, k8s, redis_pair
from lab.core import wait_until


@pytest.fixture
def redis_primary_down(lab):
    """Stop whichever node is master now; yield the lab's Redis info and the surviving replica."""
    info = lab.service("redis")
    faults.inject(lab, "redis-primary-down")
    survivor = next(n for n in info["nodes"] if redis_pair.roles({"nodes": [n]})[n["name"]] == "slave")
    yield info, survivor
    faults.heal(lab, "redis-primary-down")


def no_master(info):
    return sorted(redis_pair.roles(info).values()) == ["down", "slave"]


@pytest.mark.drill
def test_redis_drill_plan_then_auto(lab, incident_dir, redis_primary_down):
    info, survivor = redis_primary_down
    assert app_health(lab) == 503

    planned = run_playbook("playbooks/p0-system-down.yml", lab.root, incident_dir,
                           {"incident_id": "DRILL-REDIS-PLAN"}, check=True)
    assert planned.returncode == 0, planned.stdout[-3000:]
    assert no_master(info)
    report, timeline = report_of(incident_dir, "DRILL-REDIS-PLAN")
    assert "PLAN ONLY: nothing was changed" in report
    assert "Redis primary down (P0-3 Redis Cache Failure)" in report
    assert f"Would do: `REPLICAOF NO ONE on 127.0.0.1:{survivor['port']}`" in report
    assert any(e["phase"] == "triage" for e in timeline)

    fixed = run_playbook("playbooks/p0-system-down.yml", lab.root, incident_dir,
                         {"incident_id": "DRILL-REDIS-AUTO", "remediation_mode": "auto"})
    assert fixed.returncode == 0, fixed.stdout[-3000:]
    assert redis_pair.roles(info)[survivor["name"]] == "master"
    new_primary = redis_pair.client(survivor["port"])
    assert None not in new_primary.mget(info["app_keys"])
    assert app_health(lab) == 200
    report, timeline = report_of(incident_dir, "DRILL-REDIS-AUTO")
    assert "**RECOVERED" in report
    assert f"Did: `REPLICAOF NO ONE on 127.0.0.1:{survivor['port']}`" in report
    assert "`redis.primary_unreachable`" in report
    assert f"api http://127.0.0.1:{lab.service('app')['port']}/health: 200" in report
    for secret in (info["password"], lab.service("postgres")["password"]):
        assert secret not in report
        assert secret not in json.dumps(timeline)
        assert secret not in fixed.stdout


@pytest.mark.drill
def test_plan_mode_never_changes_and_approve_without_approval_waits(lab, incident_dir, redis_primary_down):
    info, _ = redis_primary_down
    result = run_playbook("playbooks/p0-system-down.yml", lab.root, incident_dir,
                          {"incident_id": "DRILL-REDIS-APPROVE", "remediation_mode": "approve"})
    assert no_master(info)
    report, _ = report_of(incident_dir, "DRILL-REDIS-APPROVE")
    assert "needs_approval" in report
    assert result.returncode != 0  # recovery not proven: nothing was approved
    assert "NOT RECOVERED" in report


@pytest.mark.drill
def test_app_down_is_diagnosed(lab, incident_dir):
    faults.inject(lab, "app-down")
    try:
        result = run_playbook("playbooks/p0-system-down.yml", lab.root, incident_dir,
                              {"incident_id": "DRILL-APP-DOWN"}, check=True)
    finally:
        faults.heal(lab, "app-down")
    assert result.returncode == 0, result.stdout[-3000:]
    report, _ = report_of(incident_dir, "DRILL-APP-DOWN")
    assert "Application down: health endpoint not answering" in report
    assert "`http.endpoint_down`" in report
    assert app_health(lab) == 200


def test_redis_failure_playbook_alone_on_a_healthy_lab_changes_nothing(lab, incident_dir):
    before = redis_pair.roles(lab.service("redis"))
    result = run_playbook("playbooks/redis-failure.yml", lab.root, incident_dir,
                          {"incident_id": "REDIS-HEALTHY", "remediation_mode": "auto"})
    assert result.returncode == 0, result.stdout[-3000:]
    assert redis_pair.roles(lab.service("redis")) == before
    report, _ = report_of(incident_dir, "REDIS-HEALTHY")
    assert "No problem found" in report or "No remediation step ran" in report


@pytest.mark.drill
def test_no_redis_node_left_runs_the_backend_without_the_cache_once_approved(lab, incident_dir):
    """P0-3 option 3 on Kubernetes: neither a restart nor a promotion can help, so REDIS_ENABLED=false."""
    with k8s.api(lab.service("k8s")) as client:
        apps = kubernetes.client.AppsV1Api(client)

        def backend():
            return apps.read_namespaced_deployment("backend", k8s.NAMESPACE)

        def redis_enabled():
            return {e.name: e.value for e in backend().spec.template.spec.containers[0].env}["REDIS_ENABLED"]

        faults.inject(lab, "redis-down")
        try:
            wait_until(lambda: app_health(lab) == 503, 30, "the lost cache to fail the backend's health")
            before = snapshot_of(client, backend())
            waiting = run_playbook("playbooks/p0-system-down.yml", lab.root, incident_dir,
                                   {"incident_id": "DRILL-REDIS-NONE-WAIT", "remediation_mode": "auto"})
            assert waiting.returncode != 0  # high risk, not approved: nothing changed, recovery not proven
            assert snapshot_of(client, backend()) == before and redis_enabled() == "true"
            assert app_health(lab) == 503
            assert "needs_approval" in report_of(incident_dir, "DRILL-REDIS-NONE-WAIT")[0]

            fixed = run_playbook("playbooks/p0-system-down.yml", lab.root, incident_dir,
                                 {"incident_id": "DRILL-REDIS-NONE", "remediation_mode": "auto",
                                  "approved_steps": ["redis.disable_cache"]})
            assert fixed.returncode == 0, fixed.stdout[-3000:]
            assert redis_enabled() == "false"
            assert set(redis_pair.roles(lab.service("redis")).values()) == {"down"}
            assert app_health(lab) == 200
            report, _ = report_of(incident_dir, "DRILL-REDIS-NONE")
            assert "**RECOVERED" in report
            assert "REDIS_ENABLED=false" in report
        finally:
            faults.heal(lab, "redis-down")
            k8s_env = {"spec": {"template": {"spec": {"containers": [
                {"name": "backend", "env": [{"name": "REDIS_ENABLED", "value": "true"}]}]}}}}
            apps.patch_namespaced_deployment("backend", k8s.NAMESPACE, k8s_env)

            def rolled_back():
                backend = k8s.workloads(lab).get("backend", {})
                return backend.get("env", {}).get("REDIS_ENABLED") == "true" and backend.get("ready") == 2
            wait_until(rolled_back, 60, "the backend's pods to use Redis again")
            wait_until(lambda: app_health(lab) == 200, 60, "the backend to be healthy")
