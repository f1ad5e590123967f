"""The lab's stand-in for an Aurora cluster endpoint: the database the application uses follows
the writer that the RDS API (moto) shows.

moto keeps the API state of the cluster ``pynomaly-cluster`` but runs no database; the
application uses the lab's real PostgreSQL. The fault ``rds-writer-down`` breaks both sides:
moto's writer instance is stopped (lab/rds_faults.py says how far moto allows this) and
PostgreSQL is stopped, so clients see what they see when an Aurora writer fails: the endpoint
refuses connections. Nothing but a failover brings it back, as in AWS: this module's loop
(``python -m lab.rds_link --lab DIR``, started by break) plays RDS's part and starts PostgreSQL
again once the API shows an available writer. heal puts everything back as seeded: members
started, the seeded writer failed back to, PostgreSQL running.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lab import aws, postgres, rds_faults
from lab.core import REPO_ROOT, Lab, LabError, wait_until

LOOP = "rds-endpoint"


def _writer(lab: Lab) -> tuple[str | None, str | None]:
    info = lab.service("aws")
    rds = aws.client(info, "rds")
    members = rds.describe_db_clusters(DBClusterIdentifier=info["rds_cluster_id"])["DBClusters"][0]["DBClusterMembers"]
    writer = next((m["DBInstanceIdentifier"] for m in members if m["IsClusterWriter"]), None)
    if writer is None:
        return None, None
    return writer, rds.describe_db_instances(DBInstanceIdentifier=writer)["DBInstances"][0]["DBInstanceStatus"]


def break_writer_down(lab: Lab) -> None:
    rds_faults.break_rds_writer_down(lab)
    postgres.stop(lab.service("postgres"))
    lab.spawn(LOOP, [sys.executable, "-m", "lab.rds_link", "--lab", str(lab.root)],
              env={"PYTHONPATH": str(REPO_ROOT)})


def heal_writer_down(lab: Lab) -> None:
    lab.stop(LOOP)
    rds_faults.heal_rds_writer_down(lab)
    info = lab.service("aws")
    rds = aws.client(info, "rds")
    wait_until(lambda: all(i["DBInstanceStatus"] == "available" for i in rds.describe_db_instances(
        Filters=[{"Name": "db-cluster-id", "Values": [info["rds_cluster_id"]]}])["DBInstances"]),
        30, "the cluster's instances to be available")
    if _writer(lab)[0] != info["rds_writer_id"]:
        rds.failover_db_cluster(DBClusterIdentifier=info["rds_cluster_id"],
                                TargetDBInstanceIdentifier=info["rds_writer_id"])
    if not postgres.running(lab.service("postgres")):
        postgres.start(lab.service("postgres"))


def follow(lab: Lab, timeout: float = 3600.0, interval: float = 0.3) -> int:
    """Start PostgreSQL once the API shows an available writer; then stop (1: none within timeout)."""
    def available_writer() -> str | None:
        writer, status = _writer(lab)
        return writer if status == "available" else None

    try:
        writer = wait_until(available_writer, timeout, "an available writer", interval)
    except LabError as exc:
        print(exc, flush=True)
        return 1
    postgres.start(lab.service("postgres"))
    print(f"writer {writer} available: database endpoint serving again", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="Follow the Aurora writer of the lab (see module docstring).")
    parser.add_argument("--lab", required=True)
    return follow(Lab(Path(parser.parse_args().lab)))


if __name__ == "__main__":
    sys.exit(main())
