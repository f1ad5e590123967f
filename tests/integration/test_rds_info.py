"""rds_info against the lab's moto: the seeded Aurora cluster, and clusters and instances a test makes."""

from __future__ import annotations

import uuid

import pytest
from conftest import aws_connection, put_lag, rds_status, run_module

from lab import rds_faults


def rds_info(lab, **args) -> dict:
    return run_module("rds_info", {**aws_connection(lab), **args}, lab.root)


@pytest.fixture
def scratch_cluster(rds):
    """An Aurora cluster of the test's own (writer -1, reader -2), deleted afterwards."""
    cluster_id = f"scratch-{uuid.uuid4().hex[:8]}"
    rds.create_db_cluster(DBClusterIdentifier=cluster_id, Engine="aurora-postgresql",
                          MasterUsername="scratch", MasterUserPassword="lab-only-password")
    members = [f"{cluster_id}-1", f"{cluster_id}-2"]
    for instance_id in members:
        rds.create_db_instance(DBInstanceIdentifier=instance_id, DBClusterIdentifier=cluster_id,
                               Engine="aurora-postgresql", DBInstanceClass="db.r6g.large")
    yield cluster_id, members
    for instance_id in members:
        rds.delete_db_instance(DBInstanceIdentifier=instance_id, SkipFinalSnapshot=True)
    rds.delete_db_cluster(DBClusterIdentifier=cluster_id, SkipFinalSnapshot=True)


@pytest.fixture
def multi_az_instance(rds):
    """A non-Aurora Multi-AZ PostgreSQL instance of the test's own, deleted afterwards."""
    instance_id = f"scratch-pg-{uuid.uuid4().hex[:8]}"
    rds.create_db_instance(DBInstanceIdentifier=instance_id, Engine="postgres", DBInstanceClass="db.t3.micro",
                           MultiAZ=True, AllocatedStorage=20, MasterUsername="scratch",
                           MasterUserPassword="lab-only-password")
    yield instance_id
    rds.delete_db_instance(DBInstanceIdentifier=instance_id, SkipFinalSnapshot=True)


def ids(result) -> list[str]:
    return sorted(f["id"] for f in result["findings"])


def test_healthy_cluster_shows_writer_and_reader(lab, rds):
    info = lab.service("aws")
    result = rds_info(lab, cluster_ids=[info["rds_cluster_id"]])
    assert result["failed"] is False and result["changed"] is False
    assert result["status"] == "ok", result["findings"]
    (cluster,) = result["clusters"]
    assert (cluster["id"], cluster["status"], cluster["engine"]) == ("pynomaly-cluster", "available",
                                                                     "aurora-postgresql")
    assert cluster["writer"]["id"] == info["rds_writer_id"] and cluster["writer"]["status"] == "available"
    assert [(r["id"], r["status"], r["az"]) for r in cluster["readers"]] == [
        (info["rds_reader_id"], "available", "us-east-1b")]
    assert cluster["readers"][0]["lag_ms"] is None  # no AuroraReplicaLag datapoint in the lab's CloudWatch
    assert sorted(cluster["members"]) == sorted([info["rds_writer_id"], info["rds_reader_id"]])
    assert cluster["endpoint"].startswith("pynomaly-cluster.cluster-")


def test_unknown_ids_are_findings_not_failures(lab, rds):
    result = rds_info(lab, cluster_ids=["no-such-cluster"], instance_ids=["no-such-db"])
    assert result["failed"] is False and result["status"] == "down"
    assert ids(result) == ["rds.not_found", "rds.not_found"]
    assert {f["evidence"]["id"] for f in result["findings"]} == {"no-such-cluster", "no-such-db"}
    assert result["clusters"] == [] and result["instances"] == []


def test_unreachable_endpoint_is_a_finding_not_a_failure(lab):
    args = {**aws_connection(lab), "endpoint_url": "http://127.0.0.1:1", "max_attempts": 1}
    result = run_module("rds_info", {**args, "cluster_ids": ["pynomaly-cluster"]}, lab.root)
    assert result["failed"] is False and result["status"] == "unknown"
    assert ids(result) == ["rds.api_unreachable"]
    assert result["findings"][0]["evidence"]["endpoint_url"] == "http://127.0.0.1:1"


def test_stopped_writer_is_down(lab, rds):
    info = lab.service("aws")
    rds_faults.break_rds_writer_down(lab)
    try:
        assert rds_status(rds, info["rds_writer_id"]) == "stopped"
        result = rds_info(lab, cluster_ids=[info["rds_cluster_id"]])
        assert result["failed"] is False and result["status"] == "down"
        (failing,) = result["findings"]
        assert failing["id"] == "rds.member_failing" and failing["severity"] == "critical"
        assert failing["evidence"] == {"cluster": "pynomaly-cluster", "instance": info["rds_writer_id"],
                                       "status": "stopped", "writer": True}
    finally:
        rds_faults.heal_rds_writer_down(lab)
    assert rds_info(lab, cluster_ids=[info["rds_cluster_id"]])["status"] == "ok"


def test_stopped_reader_degrades(lab, rds, scratch_cluster):
    cluster_id, (writer, reader) = scratch_cluster
    rds.stop_db_instance(DBInstanceIdentifier=reader)
    result = rds_info(lab, cluster_ids=[cluster_id])
    assert result["status"] == "degraded" and ids(result) == ["rds.member_failing"]
    assert result["findings"][0]["evidence"]["writer"] is False
    assert result["clusters"][0]["writer"]["id"] == writer
    rds.start_db_instance(DBInstanceIdentifier=reader)


def test_lagging_reader_is_a_warning(lab, rds, scratch_cluster):
    cluster_id, (_writer, reader) = scratch_cluster
    put_lag(lab, reader, 2500.0)
    result = rds_info(lab, cluster_ids=[cluster_id])
    assert result["status"] == "degraded" and ids(result) == ["rds.reader_lagging"]
    assert result["clusters"][0]["readers"][0]["lag_ms"] == 2500.0
    assert rds_info(lab, cluster_ids=[cluster_id], max_lag_ms=5000)["status"] == "ok"


def test_multi_az_instance_and_its_outage(lab, rds, multi_az_instance):
    result = rds_info(lab, instance_ids=[multi_az_instance])
    assert result["status"] == "ok", result["findings"]
    (instance,) = result["instances"]
    assert (instance["engine"], instance["multi_az"], instance["status"]) == ("postgres", True, "available")
    assert instance["pending_maintenance"] is None  # the lab's moto does not answer DescribePendingMaintenanceActions
    rds.stop_db_instance(DBInstanceIdentifier=multi_az_instance)
    result = rds_info(lab, instance_ids=[multi_az_instance])
    assert result["status"] == "down" and ids(result) == ["rds.instance_not_available"]
    assert result["findings"][0]["evidence"]["status"] == "stopped"


def test_bad_arguments_name_the_option(lab):
    result = rds_info(lab, cluster_ids=["pynomaly-cluster"], max_lag_ms="lots")
    assert result["failed"] is True and "max_lag_ms" in result["msg"]
    result = rds_info(lab)
    assert result["failed"] is True and "cluster_ids" in result["msg"] and "instance_ids" in result["msg"]
