"""k8s_scale against the lab's Kubernetes, on workloads (and an HPA) of its own."""

import pytest
from conftest import run_module
from k8s_change_helpers import Cluster, diff_lines, unique

from lab.core import free_port


@pytest.fixture
def cluster(lab):
    made = Cluster(lab)
    yield made
    made.remove()


def replicas(cluster, kind, name):
    obj = cluster.read(kind, name)
    return obj.spec.replicas, len(cluster.pods(name)), sum(map(cluster.ready, cluster.pods(name)))


def state(cluster, name, *kinds):
    """What a second run must leave alone: the snapshot of each object named `name`, and the pods' uids."""
    return [cluster.snapshot(kind, name) for kind in kinds], {p.metadata.uid for p in cluster.pods(name)}


def test_scale_up_waits_for_ready_replicas_and_second_run_changes_nothing(cluster):
    name = unique("scale")
    cluster.deployment(name, replicas=2)
    result = cluster.run("k8s_scale", name=name, replicas=4, wait_timeout=60)
    assert result["changed"] is True and not result["failed"], result["_stdout"]
    assert result["before"] == {"replicas": 2, "ready": 2, "hpa": None}
    assert result["after"] == {"replicas": 4, "ready": 4, "hpa": None}
    assert replicas(cluster, "Deployment", name) == (4, 4, 4)
    before = state(cluster, name, "Deployment")
    again = cluster.run("k8s_scale", name=name, replicas=4, wait_timeout=60)
    assert again["changed"] is False and not again["failed"] and again["actions"] == []
    assert state(cluster, name, "Deployment") == before


def test_hpa_minimum_is_raised_so_it_keeps_the_replicas(cluster):
    name = unique("scale")
    cluster.deployment(name, replicas=2)
    cluster.hpa(name, name, low=2, high=5)
    result = cluster.run("k8s_scale", name=name, replicas=4, wait_timeout=60)
    assert result["changed"] is True and not result["failed"], result["_stdout"]
    assert result["actions"] == [f"Raise minReplicas of HPA {name} from 2 to 4 (to revert, set it back to 2)",
                                 f"Scale Deployment {name} from 2 to 4 replicas"]
    assert result["before"]["hpa"] == {"name": name, "min_replicas": 2, "max_replicas": 5}
    assert result["after"]["hpa"] == {"name": name, "min_replicas": 4, "max_replicas": 5}
    hpa = cluster.read("HorizontalPodAutoscaler", name)
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (4, 5)
    assert replicas(cluster, "Deployment", name) == (4, 4, 4)
    before = state(cluster, name, "Deployment", "HorizontalPodAutoscaler")
    again = cluster.run("k8s_scale", name=name, replicas=4, wait_timeout=60)
    assert again["changed"] is False and again["actions"] == []
    assert state(cluster, name, "Deployment", "HorizontalPodAutoscaler") == before


def test_hpa_guards_refuse_and_change_nothing(cluster):
    name = unique("scale")
    cluster.deployment(name, replicas=2)
    cluster.hpa(name, name, low=2, high=5)
    before = cluster.snapshot("Deployment", name)
    refused = cluster.run("k8s_scale", name=name, replicas=4, hpa_policy="refuse")
    assert refused["failed"] is True and refused["changed"] is False
    assert refused["msg"] == (f"Refused (no HPA): HPA {name} (min 2, max 5) targets Deployment {name} and would "
                              "undo a scale to 4. To override: hpa_policy=raise_min, or change the HPA instead.")
    above = cluster.run("k8s_scale", name=name, replicas=6)
    assert above["failed"] is True and "is above its maxReplicas" in above["msg"]
    below = cluster.run("k8s_scale", name=name, replicas=1)
    assert below["failed"] is True and "back up to its minReplicas" in below["msg"]
    assert cluster.snapshot("Deployment", name) == before
    assert cluster.read("HorizontalPodAutoscaler", name).spec.min_replicas == 2


def test_replica_cap_refuses(cluster):
    name = unique("scale")
    cluster.deployment(name, replicas=1)
    result = cluster.run("k8s_scale", name=name, replicas=6, max_replicas=5)
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == ("Refused (replica cap): 6 replicas is above max_replicas=5. "
                             "To override: raise max_replicas.")
    assert replicas(cluster, "Deployment", name) == (1, 1, 1)


def test_statefulset_scales_to_zero_and_back(cluster):
    name = unique("scale-sts")
    cluster.statefulset(name, replicas=2)
    down = cluster.run("k8s_scale", kind="StatefulSet", name=name, replicas=0, wait_timeout=60)
    assert down["changed"] is True and not down["failed"], down["_stdout"]
    assert replicas(cluster, "StatefulSet", name) == (0, 0, 0)
    up = cluster.run("k8s_scale", kind="StatefulSet", name=name, replicas=2, wait_timeout=60)
    assert up["changed"] is True and not up["failed"], up["_stdout"]
    assert replicas(cluster, "StatefulSet", name) == (2, 2, 2)
    assert sorted(p.metadata.name for p in cluster.pods(name)) == [f"{name}-0", f"{name}-1"]


def test_check_mode_changes_nothing(cluster):
    name = unique("scale")
    cluster.deployment(name, replicas=2)
    cluster.hpa(name, name, low=2, high=5)
    before = cluster.snapshot("Deployment", name)
    result = cluster.run("k8s_scale", check=True, name=name, replicas=3)
    assert result["changed"] is True and result["check_mode"] is True
    assert result["after"]["replicas"] == 3 and result["after"]["hpa"]["min_replicas"] == 3
    assert '+ "replicas": 3' in diff_lines(result)
    assert cluster.snapshot("Deployment", name) == before
    assert cluster.read("HorizontalPodAutoscaler", name).spec.min_replicas == 2
    assert replicas(cluster, "Deployment", name) == (2, 2, 2)


def test_missing_workload_is_named(cluster):
    result = cluster.run("k8s_scale", name="no-such-deployment", replicas=1)
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == f"Deployment no-such-deployment not found in namespace {cluster.ns}"


def test_unreachable_api_is_one_sentence(cluster, tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: gone\n"
        f"clusters: [{{name: gone, cluster: {{server: 'http://127.0.0.1:{free_port()}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: gone, context: {cluster: gone, user: u}}]\n")
    result = run_module("k8s_scale", {"kubeconfig": str(kubeconfig), "namespace": cluster.ns, "name": "backend",
                                      "replicas": 3, "request_timeout": 2})
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"].startswith("Kubernetes API unreachable (read Deployment backend)")
    assert "exception" not in result


def test_bad_arguments_name_the_option(cluster):
    result = cluster.run("k8s_scale", name="backend", replicas=-1)
    assert result["failed"] is True and result["msg"] == "replicas must be 0 or more, not -1"
    result = cluster.run("k8s_scale", name="backend", replicas=2, hpa_policy="ignore")
    assert result["failed"] is True and "hpa_policy" in result["msg"]
    result = cluster.run("k8s_scale", name="backend")
    assert result["failed"] is True and "missing required arguments: replicas" in result["msg"]


def test_raise_limits_lifts_the_hpa_maximum_too_and_second_run_changes_nothing(cluster):
    name = unique("scale")
    cluster.deployment(name, replicas=2)
    cluster.hpa(name, name, low=2, high=3)
    result = cluster.run("k8s_scale", name=name, replicas=5, hpa_policy="raise_limits", wait_timeout=60)
    assert result["changed"] is True and not result["failed"], result["_stdout"]
    raised = f"Raise minReplicas of HPA {name} from 2 to 5 and maxReplicas from 3 to 5"
    assert result["actions"] == [f"{raised} (to revert, set them back to 2 and 3)",
                                 f"Scale Deployment {name} from 2 to 5 replicas"]
    assert result["before"]["hpa"] == {"name": name, "min_replicas": 2, "max_replicas": 3}
    assert result["after"]["hpa"] == {"name": name, "min_replicas": 5, "max_replicas": 5}
    hpa = cluster.read("HorizontalPodAutoscaler", name)
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (5, 5)
    assert replicas(cluster, "Deployment", name) == (5, 5, 5)
    before = state(cluster, name, "Deployment", "HorizontalPodAutoscaler")
    again = cluster.run("k8s_scale", name=name, replicas=5, hpa_policy="raise_limits", wait_timeout=60)
    assert again["changed"] is False and not again["failed"] and again["actions"] == []
    assert state(cluster, name, "Deployment", "HorizontalPodAutoscaler") == before


def test_raise_limits_within_the_hpa_maximum_raises_only_the_minimum(cluster):
    name = unique("scale")
    cluster.deployment(name, replicas=2)
    cluster.hpa(name, name, low=2, high=5)
    result = cluster.run("k8s_scale", name=name, replicas=4, hpa_policy="raise_limits", wait_timeout=60)
    assert result["changed"] is True and not result["failed"], result["_stdout"]
    assert result["actions"][0] == f"Raise minReplicas of HPA {name} from 2 to 4 (to revert, set it back to 2)"
    assert result["after"]["hpa"] == {"name": name, "min_replicas": 4, "max_replicas": 5}
    hpa = cluster.read("HorizontalPodAutoscaler", name)
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (4, 5)
    assert replicas(cluster, "Deployment", name) == (4, 4, 4)


def test_raise_limits_check_mode_changes_nothing(cluster):
    name = unique("scale")
    cluster.deployment(name, replicas=2)
    cluster.hpa(name, name, low=2, high=3)
    before = cluster.snapshot("Deployment", name)
    result = cluster.run("k8s_scale", check=True, name=name, replicas=5, hpa_policy="raise_limits")
    assert result["changed"] is True and result["check_mode"] is True and not result["failed"]
    assert result["after"]["hpa"] == {"name": name, "min_replicas": 5, "max_replicas": 5}
    assert {'+ "max_replicas": 5', '+ "replicas": 5'} <= {line.rstrip(",") for line in diff_lines(result)}
    assert cluster.snapshot("Deployment", name) == before
    hpa = cluster.read("HorizontalPodAutoscaler", name)
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (2, 3)
    assert replicas(cluster, "Deployment", name) == (2, 2, 2)


def test_raise_limits_still_refuses_above_the_replica_cap(cluster):
    name = unique("scale")
    cluster.deployment(name, replicas=2)
    cluster.hpa(name, name, low=2, high=3)
    result = cluster.run("k8s_scale", name=name, replicas=6, max_replicas=5, hpa_policy="raise_limits")
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == ("Refused (replica cap): 6 replicas is above max_replicas=5. "
                             "To override: raise max_replicas.")
    hpa = cluster.read("HorizontalPodAutoscaler", name)
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (2, 3)
    assert replicas(cluster, "Deployment", name) == (2, 2, 2)
