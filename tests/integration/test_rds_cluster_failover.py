"""rds_cluster_failover against the lab's moto: the seeded Aurora cluster (failed back after every test that
fails it over), and clusters and instances a test makes."""

from __future__ import annotations

import uuid

import pytest
from conftest import aws_connection, put_lag, rds_status, run_module

from lab import aws, rds_faults


def failover(lab, check=False, **args) -> dict:
    return run_module("rds_cluster_failover", {**aws_connection(lab), "wait_timeout": 30, **args}, lab.root,
                      check=check, diff=True)


def writer_of(rds, cluster_id: str) -> str:
    members = rds.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]["DBClusterMembers"]
    (writer,) = [m["DBInstanceIdentifier"] for m in members if m["IsClusterWriter"]]
    return writer


@pytest.fixture
def seeded(lab):
    """The seeded cluster with its seeded writer; whatever the test does, the writer is failed back after it."""
    info = lab.service("aws")
    rds = aws.client(info, "rds")
    cluster_id, writer = info["rds_cluster_id"], info["rds_writer_id"]
    assert writer_of(rds, cluster_id) == writer
    try:
        yield info, rds
    finally:
        rds_faults.heal_rds_writer_down(lab)
        if writer_of(rds, cluster_id) != writer:
            rds.failover_db_cluster(DBClusterIdentifier=cluster_id, TargetDBInstanceIdentifier=writer)
    assert writer_of(rds, cluster_id) == writer


@pytest.fixture
def make_cluster(lab):
    """Make Aurora clusters of the test's own ({instance suffix: promotion tier}, first = writer); deleted after."""
    rds = aws.client(lab.service("aws"), "rds")
    made = []

    def make(tiers):
        cluster_id = f"scratch-{uuid.uuid4().hex[:8]}"
        rds.create_db_cluster(DBClusterIdentifier=cluster_id, Engine="aurora-postgresql",
                              MasterUsername="scratch", MasterUserPassword="lab-only-password")
        made.append((cluster_id, []))
        for suffix, tier in tiers.items():
            rds.create_db_instance(DBInstanceIdentifier=f"{cluster_id}-{suffix}", DBClusterIdentifier=cluster_id,
                                   Engine="aurora-postgresql", DBInstanceClass="db.r6g.large", PromotionTier=tier)
            made[-1][1].append(f"{cluster_id}-{suffix}")
        return cluster_id

    yield make
    for cluster_id, instances in made:
        for instance_id in instances:
            rds.delete_db_instance(DBInstanceIdentifier=instance_id, SkipFinalSnapshot=True)
        rds.delete_db_cluster(DBClusterIdentifier=cluster_id, SkipFinalSnapshot=True)


@pytest.fixture
def make_instance(lab):
    """Make non-Aurora PostgreSQL instances of the test's own; deleted after."""
    rds = aws.client(lab.service("aws"), "rds")
    made = []

    def make(multi_az):
        instance_id = f"scratch-pg-{uuid.uuid4().hex[:8]}"
        rds.create_db_instance(DBInstanceIdentifier=instance_id, Engine="postgres", DBInstanceClass="db.t3.micro",
                               MultiAZ=multi_az, AllocatedStorage=20, MasterUsername="scratch",
                               MasterUserPassword="lab-only-password")
        made.append(instance_id)
        return instance_id

    yield make
    for instance_id in made:
        rds.delete_db_instance(DBInstanceIdentifier=instance_id, SkipFinalSnapshot=True)


def test_check_mode_calls_nothing(lab, seeded):
    info, rds = seeded
    result = failover(lab, check=True, cluster_id=info["rds_cluster_id"])
    assert result["failed"] is False and result["changed"] is True and result["check_mode"] is True
    assert result["target"] == info["rds_reader_id"] and f"chose {info['rds_reader_id']}" in result["msg"]
    assert result["actions"] == [f"FailoverDBCluster pynomaly-cluster to {info['rds_reader_id']}"]
    assert result["before"]["writer"] == info["rds_writer_id"] and result["after"]["writer"] == info["rds_reader_id"]
    assert f'+    "writer": "{info["rds_reader_id"]}"' in result["_stdout"]
    assert writer_of(rds, info["rds_cluster_id"]) == info["rds_writer_id"]


def test_fails_over_to_the_named_reader_and_waits(lab, seeded):
    info, rds = seeded
    result = failover(lab, cluster_id=info["rds_cluster_id"], target_instance_id=info["rds_reader_id"])
    assert result["failed"] is False and result["changed"] is True and result["check_mode"] is False
    assert result["after"] == {"writer": info["rds_reader_id"], "readers": [info["rds_writer_id"]]}
    assert "duration" in result
    assert writer_of(rds, info["rds_cluster_id"]) == info["rds_reader_id"]
    assert rds_status(rds, info["rds_reader_id"]) == "available"


def test_second_run_with_the_same_target_changes_nothing(lab, seeded):
    info, rds = seeded
    args = {"cluster_id": info["rds_cluster_id"], "target_instance_id": info["rds_reader_id"]}
    assert failover(lab, **args)["changed"] is True
    again = failover(lab, **args)
    assert again["failed"] is False and again["changed"] is False and again["actions"] == []
    assert writer_of(rds, info["rds_cluster_id"]) == info["rds_reader_id"]


def test_current_writer_as_target_changes_nothing(lab, seeded):
    info, rds = seeded
    result = failover(lab, cluster_id=info["rds_cluster_id"], target_instance_id=info["rds_writer_id"])
    assert result["failed"] is False and result["changed"] is False and result["actions"] == []
    assert "already is the writer" in result["msg"]
    assert writer_of(rds, info["rds_cluster_id"]) == info["rds_writer_id"]


def test_instance_outside_the_cluster_is_refused(lab, seeded, make_cluster):
    info, rds = seeded
    other = make_cluster({"1": 1, "2": 1})
    for stranger in (f"{other}-2", "no-such-db"):
        result = failover(lab, cluster_id=info["rds_cluster_id"], target_instance_id=stranger)
        assert result["failed"] is True and result["changed"] is False
        assert result["guard"] == "target in cluster" and "is not an instance of cluster" in result["msg"]
    assert writer_of(rds, info["rds_cluster_id"]) == info["rds_writer_id"]
    assert writer_of(rds, other) == f"{other}-1"


def test_fails_over_while_the_writer_is_down(lab, seeded):
    info, rds = seeded
    rds_faults.break_rds_writer_down(lab)
    assert rds_status(rds, info["rds_writer_id"]) == "stopped"
    result = failover(lab, cluster_id=info["rds_cluster_id"])
    assert result["failed"] is False and result["changed"] is True and result["target"] == info["rds_reader_id"]
    assert writer_of(rds, info["rds_cluster_id"]) == info["rds_reader_id"]
    assert rds_status(rds, info["rds_reader_id"]) == "available"


def test_picks_the_lowest_tier_then_the_lowest_lag(lab, make_cluster):
    rds = aws.client(lab.service("aws"), "rds")
    cluster_id = make_cluster({"w": 0, "far": 2, "slow": 1, "close": 1})
    for suffix, lag in (("far", 10.0), ("slow", 500.0), ("close", 50.0)):
        put_lag(lab, f"{cluster_id}-{suffix}", lag)
    result = failover(lab, cluster_id=cluster_id)
    assert result["changed"] is True and result["target"] == f"{cluster_id}-close"
    assert "promotion tier 1, lag 50.0 ms" in result["msg"]
    assert writer_of(rds, cluster_id) == f"{cluster_id}-close"


def test_refuses_a_lagging_reader(lab, make_cluster):
    rds = aws.client(lab.service("aws"), "rds")
    cluster_id = make_cluster({"1": 1, "2": 1})
    put_lag(lab, f"{cluster_id}-2", 4000.0)
    result = failover(lab, cluster_id=cluster_id, target_instance_id=f"{cluster_id}-2")
    assert result["failed"] is True and result["changed"] is False and result["guard"] == "reader in sync"
    assert "lags 4000.0 ms" in result["msg"] and "max_lag_ms" in result["msg"]
    assert writer_of(rds, cluster_id) == f"{cluster_id}-1"
    allowed = failover(lab, cluster_id=cluster_id, target_instance_id=f"{cluster_id}-2", max_lag_ms=5000)
    assert allowed["changed"] is True and writer_of(rds, cluster_id) == f"{cluster_id}-2"


def test_refuses_without_an_available_reader(lab, make_cluster):
    rds = aws.client(lab.service("aws"), "rds")
    cluster_id = make_cluster({"1": 1, "2": 1})
    rds.stop_db_instance(DBInstanceIdentifier=f"{cluster_id}-2")
    result = failover(lab, cluster_id=cluster_id)
    assert result["failed"] is True and result["guard"] == "available reader"
    assert f"{cluster_id}-2 stopped" in result["msg"]
    named = failover(lab, cluster_id=cluster_id, target_instance_id=f"{cluster_id}-2")
    assert named["failed"] is True and named["guard"] == "target available"
    assert writer_of(rds, cluster_id) == f"{cluster_id}-1"


def test_multi_az_instance_reboots_with_failover(lab, make_instance):
    rds = aws.client(lab.service("aws"), "rds")
    instance_id = make_instance(multi_az=True)
    planned = failover(lab, check=True, instance_id=instance_id)
    assert planned["changed"] is True and planned["check_mode"] is True
    result = failover(lab, instance_id=instance_id)
    assert result["failed"] is False and result["changed"] is True and result["target"] == instance_id
    assert result["actions"] == [f"RebootDBInstance {instance_id} with ForceFailover"]
    assert result["before"]["status"] == "available" and result["after"]["status"] == "available"
    assert "duration" in result
    assert rds_status(rds, instance_id) == "available"


def test_single_az_instance_is_refused(lab, make_instance):
    rds = aws.client(lab.service("aws"), "rds")
    instance_id = make_instance(multi_az=False)
    result = failover(lab, instance_id=instance_id)
    assert result["failed"] is True and result["changed"] is False and result["guard"] == "instance Multi-AZ"
    assert "would only be a reboot" in result["msg"]
    assert rds_status(rds, instance_id) == "available"


def test_bad_arguments_call_nothing(lab, seeded):
    info, rds = seeded
    both = failover(lab, cluster_id=info["rds_cluster_id"], instance_id=info["rds_writer_id"])
    assert both["failed"] is True and "cluster_id" in both["msg"] and "instance_id" in both["msg"]
    orphan = failover(lab, target_instance_id=info["rds_reader_id"])
    assert orphan["failed"] is True and "cluster_id" in orphan["msg"]
    late = failover(lab, cluster_id=info["rds_cluster_id"], target_instance_id=info["rds_reader_id"],
                    wait_timeout="later")
    assert late["failed"] is True and "wait_timeout" in late["msg"]
    negative = failover(lab, cluster_id=info["rds_cluster_id"], max_lag_ms=-1)
    assert negative["failed"] is True and "max_lag_ms" in negative["msg"]
    assert writer_of(rds, info["rds_cluster_id"]) == info["rds_writer_id"]
