"""k8s_rollout_undo against the lab's Kubernetes, on Deployments of its own with real revisions."""

import pytest
from k8s_change_helpers import CAUSE, REVISION, Cluster, diff_lines, unique

V1, V2 = "registry.local/test/app:1.0.0", "registry.local/test/app:1.1.0"


@pytest.fixture
def cluster(lab):
    made = Cluster(lab)
    yield made
    made.remove()


@pytest.fixture
def bad_rollout(cluster):
    """A Deployment whose newest revision (2) crash-loops; revision 1 was good."""
    name = unique("undo")
    cluster.deployment(name, V1, cause="release 1.0.0")
    cluster.roll_out(name, V2, crashloop=True, cause="release 1.1.0: broken")
    assert sorted(cluster.replicasets(name)) == [1, 2]
    assert not any(map(cluster.ready, cluster.pods(name)))
    return name


def image(cluster, name):
    return cluster.read("Deployment", name).spec.template.spec.containers[0].image


def history(cluster, name):
    """{revision: ReplicaSet name} of one of our Deployments."""
    return {number: rs.metadata.name for number, rs in cluster.replicasets(name).items()}


def test_undo_rolls_back_to_the_previous_revision(cluster, bad_rollout):
    result = cluster.run("k8s_rollout_undo", name=bad_rollout, wait_timeout=60)
    assert result["changed"] is True and not result["failed"], result["_stdout"]
    assert result["to_revision"] == 1
    assert result["before"] == {"revision": 2, "images": {bad_rollout: V2}, "change_cause": "release 1.1.0: broken"}
    assert result["after"] == {"revision": 3, "images": {bad_rollout: V1}, "change_cause": "release 1.0.0"}
    assert f'+ "{bad_rollout}": "{V1}"' in diff_lines(result)
    deployment = cluster.read("Deployment", bad_rollout)
    assert image(cluster, bad_rollout) == V1
    assert "pod-template-hash" not in deployment.spec.template.metadata.labels
    assert not (deployment.spec.template.metadata.annotations or {}).get("lab.sre-runbooks/crashloop")
    assert deployment.metadata.annotations[CAUSE] == "release 1.0.0"
    assert deployment.metadata.annotations[REVISION] == "3"
    # the rollout is complete: every pod is of the old ReplicaSet (now revision 3) and Ready
    revisions = cluster.replicasets(bad_rollout)
    assert sorted(revisions) == [2, 3]
    pods = cluster.pods(bad_rollout)
    assert len(pods) == 2 and all(map(cluster.ready, pods))
    assert {p.metadata.owner_references[0].name for p in pods} == {revisions[3].metadata.name}


def test_check_mode_changes_nothing(cluster, bad_rollout):
    before = cluster.snapshot("Deployment", bad_rollout)
    result = cluster.run("k8s_rollout_undo", check=True, name=bad_rollout)
    assert result["changed"] is True and result["check_mode"] is True
    assert result["actions"] == [f"Roll Deployment {bad_rollout} back to revision 1 ({bad_rollout} {V1})"]
    assert f'- "{bad_rollout}": "{V2}"' in diff_lines(result)
    assert f'+ "{bad_rollout}": "{V1}"' in diff_lines(result)
    assert cluster.snapshot("Deployment", bad_rollout) == before
    assert sorted(cluster.replicasets(bad_rollout)) == [1, 2]


def test_current_revision_as_target_changes_nothing(cluster, bad_rollout):
    before = cluster.snapshot("Deployment", bad_rollout)
    result = cluster.run("k8s_rollout_undo", name=bad_rollout, to_revision=2, wait=False)
    assert result["changed"] is False and not result["failed"]
    assert "already runs the template of revision 2" in result["msg"]
    assert cluster.snapshot("Deployment", bad_rollout) == before


def test_second_run_to_the_same_revision_changes_nothing(cluster, bad_rollout):
    first = cluster.run("k8s_rollout_undo", name=bad_rollout, to_revision=1, wait_timeout=60)
    assert first["changed"] is True and not first["failed"], first["_stdout"]
    renumbered = cluster.replicasets(bad_rollout)[3].metadata.annotations
    assert renumbered["deployment.kubernetes.io/revision-history"] == "1"
    before, revisions = cluster.snapshot("Deployment", bad_rollout), history(cluster, bad_rollout)
    again = cluster.run("k8s_rollout_undo", name=bad_rollout, to_revision=1, wait_timeout=60)
    assert again["changed"] is False and not again["failed"], again["_stdout"]
    assert again["actions"] == []
    assert image(cluster, bad_rollout) == V1
    assert cluster.snapshot("Deployment", bad_rollout) == before and history(cluster, bad_rollout) == revisions


def test_refuses_a_revision_that_does_not_exist(cluster, bad_rollout):
    before = cluster.snapshot("Deployment", bad_rollout)
    result = cluster.run("k8s_rollout_undo", name=bad_rollout, to_revision=7)
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == (f"Refused (revision exists): Deployment {bad_rollout} has no revision 7 "
                             "(revisions: 1, 2). Nothing was changed.")
    assert cluster.snapshot("Deployment", bad_rollout) == before


def test_refuses_without_a_previous_revision(cluster):
    name = unique("undo")
    cluster.deployment(name, V1)
    result = cluster.run("k8s_rollout_undo", name=name)
    assert result["failed"] is True and result["changed"] is False
    assert "has no revision before the newest one (revisions: 1)" in result["msg"]
    assert image(cluster, name) == V1


def test_refuses_a_paused_deployment(cluster, bad_rollout):
    cluster.apps.patch_namespaced_deployment(bad_rollout, cluster.ns, {"spec": {"paused": True}})
    result = cluster.run("k8s_rollout_undo", name=bad_rollout)
    assert result["failed"] is True and result["changed"] is False
    assert "is paused" in result["msg"] and "kubectl rollout resume" in result["msg"]
    assert image(cluster, bad_rollout) == V2


def test_missing_deployment_is_named(cluster):
    result = cluster.run("k8s_rollout_undo", name="no-such-deployment")
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == f"Deployment no-such-deployment not found in namespace {cluster.ns}"
    assert "exception" not in result


def test_bad_arguments_name_the_option(cluster):
    result = cluster.run("k8s_rollout_undo", name="backend", to_revision=0)
    assert result["failed"] is True and result["msg"] == "to_revision must be 1 or more, not 0"
    result = cluster.run("k8s_rollout_undo", to_revision=1)
    assert result["failed"] is True and "name" in result["msg"] and "missing required arguments" in result["msg"]
