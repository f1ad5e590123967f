"""The lab fault ``rds-writer-down``: the writer of the Aurora cluster is stopped.

break stops the cluster's current writer instance (``stop_db_instance``); the
cluster keeps it as its writer, so the RDS API shows a cluster whose writer is
``stopped`` while the reader is ``available``. heal starts every stopped
instance of the cluster again; it comes back in whatever role it has then (the
writer, or a reader when a failover happened meanwhile), as after an AWS
outage.

What moto (5.2, server mode, reached over HTTP through boto3) can and cannot do
here, as found by calling it:

- ``stop_db_instance`` on an Aurora instance is accepted and the instance reads
  ``stopped``; ``start_db_instance`` makes it ``available`` again. AWS itself
  refuses to stop one instance of an Aurora cluster (only the whole cluster
  stops), so this is a stand-in for a writer that has failed: the nearest state
  moto can show through the API.
- ``stop_db_cluster`` only marks the cluster ``stopped``: its instances stay
  ``available`` and the writer keeps its role, a state AWS never shows; it is
  not used.
- No API sets another instance status (``failed``, ``incompatible-network``,
  ``storage-full``, ``rebooting``), and moto never fails over by itself: the
  stopped writer stays the writer until ``failover_db_cluster`` or heal.
- ``failover_db_cluster`` swaps the writer at once (no ``failing-over``
  status, no outage window); it refuses a target that is not ``available``,
  but accepts an instance of another cluster as target, which leaves both
  clusters with a wrong writer (rds_cluster_failover's guard refuses first).
- ``reboot_db_instance`` ignores ``ForceFailover``: status stays ``available``
  and the zone does not change; ``SecondaryAvailabilityZone`` is never set.
- ``describe_pending_maintenance_actions`` is not implemented (HTTP 500), and
  CloudWatch holds no ``AuroraReplicaLag``/``ReplicaLag`` datapoint unless one
  is put with ``put_metric_data``: lag reads as unknown.
"""

from __future__ import annotations

from lab import aws
from lab.core import Lab, LabError


def _rds(lab: Lab):
    info = lab.service("aws")
    if not info.get("endpoint_url"):
        raise LabError("the lab's AWS (moto) is not up: run `lab up` first")
    return info, aws.client(info, "rds")


def _members(rds, cluster_id: str) -> list[dict]:
    cluster = rds.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]
    return cluster["DBClusterMembers"]


def _status(rds, instance_id: str) -> str:
    return rds.describe_db_instances(DBInstanceIdentifier=instance_id)["DBInstances"][0]["DBInstanceStatus"]


def break_rds_writer_down(lab: Lab) -> None:
    """Stop the cluster's current writer instance."""
    info, rds = _rds(lab)
    cluster_id = info["rds_cluster_id"]
    writer = next((m["DBInstanceIdentifier"] for m in _members(rds, cluster_id) if m["IsClusterWriter"]), None)
    if writer is None:
        raise LabError(f"{cluster_id} has no writer: nothing to take down")
    if _status(rds, writer) != "stopped":
        rds.stop_db_instance(DBInstanceIdentifier=writer)


def heal_rds_writer_down(lab: Lab) -> None:
    """Start every stopped instance of the cluster again."""
    info, rds = _rds(lab)
    for member in _members(rds, info["rds_cluster_id"]):
        instance_id = member["DBInstanceIdentifier"]
        if _status(rds, instance_id) == "stopped":
            rds.start_db_instance(DBInstanceIdentifier=instance_id)
