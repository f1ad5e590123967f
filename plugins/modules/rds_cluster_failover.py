#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: rds_cluster_failover
short_description: Fail an Aurora cluster or a Multi-AZ RDS instance over, safely
version_added: 1.0.0
description:
  - The runbook's Database Recovery step C(aws rds failover-db-cluster), with its guards and its wait.
  - With O(cluster_id), promotes a reader of an Aurora cluster to writer with C(FailoverDBCluster), either the
    named O(target_instance_id) or the healthiest available reader (lowest promotion tier, then lowest replica lag).
  - With O(instance_id), fails a non-Aurora Multi-AZ instance over to its standby (C(RebootDBInstance) with
    C(ForceFailover)).
  - Refuses, changing nothing, when the cluster or instance is not C(available), when the target is not an
    available reader of this cluster, when the chosen reader lags more than O(max_lag_ms) (when CloudWatch
    reports its lag), and when the instance is not Multi-AZ (a reboot with failover would only be a reboot).
  - Waits until the target is the writer and available (cluster), or the instance is available again; when that
    does not happen within O(wait_timeout), the task fails with C(changed=true), the failover having been requested.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.aws
  - sre.runbooks.wait
  - sre.runbooks.attributes
attributes:
  check_mode:
    support: full
    details: Reports the failover it would do, with a diff of the writer; calls no changing API.
  diff_mode:
    support: full
  idempotent:
    support: partial
    details:
      - With O(target_instance_id), a cluster whose writer already is the target is left alone.
      - Without it, and with O(instance_id), every run fails over again.
options:
  cluster_id:
    description: Aurora cluster to fail over (DB cluster identifier). Exclusive with O(instance_id).
    type: str
  target_instance_id:
    description:
      - Reader of O(cluster_id) to promote to writer. Without it, the healthiest available reader is chosen.
    type: str
  instance_id:
    description:
      - Non-Aurora Multi-AZ instance to fail over to its standby (DB instance identifier).
      - One of O(cluster_id) and O(instance_id) is required.
    type: str
  max_lag_ms:
    description:
      - Refuse when the reader to promote lags more than this many milliseconds (CloudWatch C(AuroraReplicaLag)).
      - When CloudWatch has no lag datapoint for it, the lag is unknown and does not refuse.
    type: int
    default: 1000
  wait_timeout:
    description: Seconds to wait for the new state when O(wait=true).
    type: int
    default: 300
"""

EXAMPLES = r"""
- name: Fail over Aurora cluster to the healthiest reader (Database Recovery)
  sre.runbooks.rds_cluster_failover:
    cluster_id: pynomaly-cluster
  register: failover

- name: Fail over to a named reader, waiting up to 10 minutes
  sre.runbooks.rds_cluster_failover:
    cluster_id: pynomaly-cluster
    target_instance_id: pynomaly-db-2
    wait_timeout: 600

- name: Fail a Multi-AZ PostgreSQL instance over to its standby
  sre.runbooks.rds_cluster_failover:
    instance_id: pynomaly-prod
"""

RETURN = r"""
msg:
  description: What was (or would be) done and why this target; for a chosen reader, its tier and lag.
  returned: always
  type: str
  sample: "Fail over pynomaly-cluster from pynomaly-db-1 to pynomaly-db-2 (chose pynomaly-db-2: promotion tier 1,
    lag unknown, among 1 available reader(s))."
target:
  description: The reader that is (or would be) the writer (cluster), or the instance failed over (instance).
  returned: always
  type: str
  sample: pynomaly-db-2
actions:
  description: What was done (or would be done in check mode), one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["FailoverDBCluster pynomaly-cluster to pynomaly-db-2"]
before:
  description: C({writer, readers}) of the cluster, or C({status, az}) of the instance, before.
  returned: always
  type: dict
  sample: {writer: pynomaly-db-1, readers: [pynomaly-db-2]}
after:
  description: The same, after (as observed; in check mode, as it would be).
  returned: always
  type: dict
  sample: {writer: pynomaly-db-2, readers: [pynomaly-db-1]}
check_mode:
  description: True when this was a dry run (check mode for the whole run, or for this step only).
  returned: always
  type: bool
  sample: false
duration:
  description: Seconds spent waiting for the new state.
  returned: when waited
  type: float
  sample: 0.21
"""

from ansible_collections.sre.runbooks.plugins.module_utils.aws_client import (
    BOTO3_IMPORT_ERROR,
    HAS_BOTO3,
    aws_argument_spec,
    call,
    client,
)
from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule, wait_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.errors import NotConfirmed, RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.guards import require
from ansible_collections.sre.runbooks.plugins.module_utils.rds import NOT_FOUND_CODES, replica_lag_ms
from ansible_collections.sre.runbooks.plugins.module_utils.waiting import wait_for


def describe(method, kind, resource_id, key, **kwargs):
    """The one described resource; refused (nothing done) when it does not exist."""
    try:
        return call(method, **kwargs)[key][0]
    except RunbookError as exc:
        require(exc.details.get("aws_error_code") not in NOT_FOUND_CODES, f"{kind} exists",
                f"{kind} {resource_id} does not exist.")
        raise


def read_cluster(rds, cluster_id):
    """Status, writer and members ({id: {status, tier}}) of one cluster."""
    raw = describe(rds.describe_db_clusters, "cluster", cluster_id, "DBClusters", DBClusterIdentifier=cluster_id)
    found = call(rds.describe_db_instances,
                 Filters=[{"Name": "db-cluster-id", "Values": [cluster_id]}])["DBInstances"]
    statuses = {i["DBInstanceIdentifier"]: i.get("DBInstanceStatus") for i in found}
    members = {m["DBInstanceIdentifier"]: {"status": statuses.get(m["DBInstanceIdentifier"]),
                                           "tier": m.get("PromotionTier")}
               for m in raw.get("DBClusterMembers", [])}
    writer = next((m["DBInstanceIdentifier"] for m in raw.get("DBClusterMembers", []) if m.get("IsClusterWriter")),
                  None)
    return {"status": raw.get("Status"), "writer": writer, "members": members}


def roles(cluster):
    return {"writer": cluster["writer"], "readers": sorted(m for m in cluster["members"] if m != cluster["writer"])}


def choose_reader(cluster, cluster_id, cloudwatch):
    """The healthiest available reader: lowest promotion tier, then lowest known lag; with why."""
    members = cluster["members"]
    available = [m for m, info in members.items() if m != cluster["writer"] and info["status"] == "available"]
    seen = ", ".join(f"{m} {members[m]['status']}" for m in sorted(members))
    require(available, "available reader", f"cluster {cluster_id} has no available reader to promote ({seen}).")
    lags = {m: replica_lag_ms(cloudwatch, m) for m in available}
    best = min(available, key=lambda m: (cluster["members"][m]["tier"] or 0,
                                         float("inf") if lags[m] is None else lags[m], m))
    lag = "unknown" if lags[best] is None else f"{lags[best]} ms"
    return best, lags[best], (f"chose {best}: promotion tier {cluster['members'][best]['tier']}, lag {lag}, "
                              f"among {len(available)} available reader(s)")


def check_named_target(cluster, cluster_id, target):
    members = ", ".join(sorted(cluster["members"]))
    require(target in cluster["members"], "target in cluster",
            f"{target} is not an instance of cluster {cluster_id} (members: {members}).")
    status = cluster["members"][target]["status"]
    require(status == "available", "target available", f"{target} is {status}, not available.")


def confirm(module, observe, ready, what, result):
    """Wait until ready(observe()); NotConfirmed (the call was made) when that does not come in time."""
    params = module.params
    ok, state, duration = wait_for(observe, ready, params["wait_timeout"], params["wait_sleep"])
    if not ok:
        raise NotConfirmed(f"{what} within {params['wait_timeout']}s (last seen: {state})", **result)
    return duration


def fail_over_cluster(module, rds, cloudwatch):
    params = module.params
    cluster_id, target = params["cluster_id"], params["target_instance_id"]
    cluster = read_cluster(rds, cluster_id)
    before = roles(cluster)
    result = {"target": target, "actions": [], "before": before, "after": before}
    if target is not None and target == cluster["writer"]:
        result["msg"] = f"{target} already is the writer of {cluster_id}; nothing to do."
        return result
    require(cluster["status"] == "available", "cluster available",
            f"cluster {cluster_id} is {cluster['status']}, not available; a failover would not be accepted.")
    if target is None:
        target, lag, why = choose_reader(cluster, cluster_id, cloudwatch)
    else:
        check_named_target(cluster, cluster_id, target)
        lag, why = replica_lag_ms(cloudwatch, target), f"{target} was named as target"
    require(lag is None or lag <= params["max_lag_ms"], "reader in sync",
            f"{target} lags {lag} ms behind the writer (max_lag_ms {params['max_lag_ms']}); promoting it now "
            "would lose the writes it has not replayed.",
            override="wait for the lag to drop, name another target_instance_id, or raise max_lag_ms")
    result["target"] = target
    result["actions"] = [f"FailoverDBCluster {cluster_id} to {target}"]
    result["after"] = {"writer": target, "readers": sorted(m for m in cluster["members"] if m != target)}
    result["msg"] = f"Fail over {cluster_id} from {cluster['writer']} to {target} ({why})."
    if not module.check_mode:
        call(rds.failover_db_cluster, DBClusterIdentifier=cluster_id, TargetDBInstanceIdentifier=target)
        if params["wait"]:
            result["duration"] = confirm(
                module, lambda: read_cluster(rds, cluster_id),
                lambda c: (c["writer"] == target and c["status"] == "available"
                           and c["members"].get(target, {}).get("status") == "available"),
                f"{target} did not become the available writer of {cluster_id}", result)
        result["after"] = roles(read_cluster(rds, cluster_id))
    return result


def read_instance(rds, instance_id):
    return describe(rds.describe_db_instances, "instance", instance_id, "DBInstances",
                    DBInstanceIdentifier=instance_id)


def fail_over_instance(module, rds):
    params = module.params
    instance_id = params["instance_id"]
    raw = read_instance(rds, instance_id)
    require(not raw.get("DBClusterIdentifier"), "not a cluster member",
            f"{instance_id} belongs to cluster {raw.get('DBClusterIdentifier')}; fail the cluster over instead "
            "(option cluster_id).")
    require(raw.get("DBInstanceStatus") == "available", "instance available",
            f"{instance_id} is {raw.get('DBInstanceStatus')}, not available.")
    require(raw.get("MultiAZ"), "instance Multi-AZ",
            f"{instance_id} is not Multi-AZ: it has no standby, and a reboot with failover would only be a reboot.")
    before = {"status": raw["DBInstanceStatus"], "az": raw.get("AvailabilityZone")}
    result = {"target": instance_id, "before": before,
              "actions": [f"RebootDBInstance {instance_id} with ForceFailover"],
              "after": {"status": "available", "az": raw.get("SecondaryAvailabilityZone")},
              "msg": f"Fail {instance_id} over from {before['az']} to its standby "
                     f"in {raw.get('SecondaryAvailabilityZone') or 'the standby zone'}."}
    if not module.check_mode:
        call(rds.reboot_db_instance, DBInstanceIdentifier=instance_id, ForceFailover=True)
        if params["wait"]:
            result["duration"] = confirm(
                module, lambda: {"status": read_instance(rds, instance_id).get("DBInstanceStatus")},
                lambda i: i["status"] == "available", f"{instance_id} was not available again", result)
        after = read_instance(rds, instance_id)
        result["after"] = {"status": after.get("DBInstanceStatus"), "az": after.get("AvailabilityZone")}
    return result


def fail_over(module):
    params = module.params
    rds = client(params, "rds")
    if params["cluster_id"]:
        return fail_over_cluster(module, rds, client(params, "cloudwatch"))
    return fail_over_instance(module, rds)


def main():
    module = RunbookModule(
        argument_spec={
            "cluster_id": {"type": "str"},
            "target_instance_id": {"type": "str"},
            "instance_id": {"type": "str"},
            "max_lag_ms": {"type": "int", "default": 1000},
        },
        shared=(aws_argument_spec, lambda: wait_argument_spec(300)),
        mutually_exclusive=[("cluster_id", "instance_id")],
        required_one_of=[("cluster_id", "instance_id")],
        required_by={"target_instance_id": "cluster_id"},
        bounds={"max_lag_ms": (0, None), "wait_timeout": (0, None)},
        supports_check_mode=True,
    )
    module.require_library("boto3", HAS_BOTO3, BOTO3_IMPORT_ERROR)
    module.run_change(fail_over)


if __name__ == "__main__":
    main()
