# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rds_info check: argument_spec() and run(params), used by its module and by incident_triage_info."""

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.sre.runbooks.plugins.module_utils.aws_client import (
    BOTO3_IMPORT_ERROR,
    HAS_BOTO3,
    aws_argument_spec,
    call,
    client,
)
from ansible_collections.sre.runbooks.plugins.module_utils.errors import BackendUnavailable, RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.findings import (
    check_result,
    finding,
    status_from,
    worst_status,
)
from ansible_collections.sre.runbooks.plugins.module_utils.rds import NOT_FOUND_CODES, replica_lag_ms

SERVING = frozenset(("available", "backing-up", "modifying", "storage-optimization",
                     "configuring-enhanced-monitoring", "configuring-iam-database-auth", "configuring-log-exports"))
DOWN_IDS = ("rds.cluster_not_available", "rds.no_writer", "rds.instance_not_available", "rds.not_found")

# Passed to AnsibleModule (and to ArgumentSpecValidator) with argument_spec().
SPEC_OPTIONS = {"required_one_of": [("cluster_ids", "instance_ids")]}


def argument_spec():
    """The options of sre.runbooks.rds_info, with the shared aws group."""
    spec = aws_argument_spec()
    spec.update({
        "cluster_ids": {"type": "list", "elements": "str"},
        "instance_ids": {"type": "list", "elements": "str"},
        "max_lag_ms": {"type": "int", "default": 1000},
    })
    return spec


def pending_actions(rds):
    """Pending maintenance actions by resource ARN, or None when they cannot be read."""
    actions, kwargs = {}, {}
    try:
        while True:
            page = call(rds.describe_pending_maintenance_actions, **kwargs)
            for resource in page.get("PendingMaintenanceActions", []):
                actions[resource["ResourceIdentifier"]] = [
                    {key: str(value) for key, value in detail.items()}
                    for detail in resource.get("PendingMaintenanceActionDetails", [])]
            if not page.get("Marker"):
                return actions
            kwargs["Marker"] = page["Marker"]
    except RunbookError:
        return None


def member_entry(instance, tier, lag_ms):
    return {"id": instance["DBInstanceIdentifier"], "status": instance.get("DBInstanceStatus"),
            "az": instance.get("AvailabilityZone"), "instance_class": instance.get("DBInstanceClass"),
            "promotion_tier": tier, "lag_ms": lag_ms}


def read_cluster(rds, cloudwatch, cluster_id, arns):
    raw = call(rds.describe_db_clusters, DBClusterIdentifier=cluster_id)["DBClusters"][0]
    arns[raw.get("DBClusterArn")] = cluster_id
    found = call(rds.describe_db_instances,
                 Filters=[{"Name": "db-cluster-id", "Values": [cluster_id]}])["DBInstances"]
    by_id = {i["DBInstanceIdentifier"]: i for i in found}
    writer, readers = None, []
    for member in raw.get("DBClusterMembers", []):
        instance = by_id.get(member["DBInstanceIdentifier"], {"DBInstanceIdentifier": member["DBInstanceIdentifier"]})
        arns[instance.get("DBInstanceArn")] = instance["DBInstanceIdentifier"]
        if member.get("IsClusterWriter"):
            writer = member_entry(instance, member.get("PromotionTier"), None)
        else:
            lag = replica_lag_ms(cloudwatch, member["DBInstanceIdentifier"], raw.get("Engine"))
            readers.append(member_entry(instance, member.get("PromotionTier"), lag))
    return {"id": cluster_id, "status": raw.get("Status"), "engine": raw.get("Engine"),
            "engine_version": raw.get("EngineVersion"), "endpoint": raw.get("Endpoint"),
            "reader_endpoint": raw.get("ReaderEndpoint"), "multi_az": raw.get("MultiAZ"),
            "writer": writer, "readers": readers,
            "members": [m["DBInstanceIdentifier"] for m in raw.get("DBClusterMembers", [])]}


def read_instance(rds, instance_id, arns):
    raw = call(rds.describe_db_instances, DBInstanceIdentifier=instance_id)["DBInstances"][0]
    arns[raw.get("DBInstanceArn")] = instance_id
    endpoint = raw.get("Endpoint") or {}
    return {"id": instance_id, "status": raw.get("DBInstanceStatus"), "engine": raw.get("Engine"),
            "multi_az": raw.get("MultiAZ"), "az": raw.get("AvailabilityZone"),
            "secondary_az": raw.get("SecondaryAvailabilityZone"), "endpoint": endpoint.get("Address"),
            "port": endpoint.get("Port"), "_arn": raw.get("DBInstanceArn")}


def read_or_missing(missing, kind, resource_id, read, *args):
    """read(*args); None (and an rds.not_found finding) when it does not exist."""
    try:
        return read(*args)
    except RunbookError as exc:
        if exc.details.get("aws_error_code") not in NOT_FOUND_CODES:
            raise
    missing.append(finding("rds.not_found", "critical", f"{kind} {resource_id} does not exist",
                           {"kind": kind, "id": resource_id}))
    return None


def cluster_findings(cluster, max_lag_ms):
    name = cluster["id"]
    found = []
    if cluster["status"] not in SERVING:
        found.append(finding("rds.cluster_not_available", "critical", f"cluster {name} is {cluster['status']}",
                             {"cluster": name, "status": cluster["status"]}))
    if cluster["writer"] is None:
        found.append(finding("rds.no_writer", "critical", f"cluster {name} has no writer instance",
                             {"cluster": name, "members": cluster["members"]}))
    members = ([cluster["writer"]] if cluster["writer"] else []) + cluster["readers"]
    for member in members:
        is_writer = member is cluster["writer"]
        if member["status"] not in SERVING:
            role = "writer" if is_writer else "reader"
            found.append(finding("rds.member_failing", "critical",
                                 f"{name}'s {role} {member['id']} is {member['status']}",
                                 {"cluster": name, "instance": member["id"], "status": member["status"],
                                  "writer": is_writer}))
        elif member["lag_ms"] is not None and member["lag_ms"] > max_lag_ms:
            found.append(finding("rds.reader_lagging", "warning",
                                 f"{name}'s reader {member['id']} lags {member['lag_ms']} ms (max {max_lag_ms})",
                                 {"cluster": name, "instance": member["id"], "lag_ms": member["lag_ms"]}))
    return found


def instance_findings(instance):
    if instance["status"] in SERVING:
        return []
    return [finding("rds.instance_not_available", "critical", f"instance {instance['id']} is {instance['status']}",
                    {"instance": instance["id"], "status": instance["status"], "multi_az": instance["multi_az"]})]


def maintenance_findings(pending, arns):
    found = []
    for arn, actions in sorted((pending or {}).items()):
        if arn in arns and actions:
            names = ", ".join(a.get("Action", "?") for a in actions)
            found.append(finding("rds.pending_maintenance", "info", f"{arns[arn]} has pending maintenance: {names}",
                                 {"resource": arns[arn], "actions": actions}))
    return found


def overall_status(findings):
    status = status_from(findings, DOWN_IDS)
    if any(f["id"] == "rds.member_failing" and f["evidence"]["writer"] for f in findings):
        status = worst_status(status, "down")
    return status


def read_all(params, rds, cloudwatch, arns, findings):
    """Every cluster and instance asked for that exists; a missing id adds an rds.not_found finding."""
    clusters = [read_or_missing(findings, "cluster", c, read_cluster, rds, cloudwatch, c, arns)
                for c in params["cluster_ids"] or []]
    instances = [read_or_missing(findings, "instance", i, read_instance, rds, i, arns)
                 for i in params["instance_ids"] or []]
    return [c for c in clusters if c], [i for i in instances if i]


def unreachable_result(params, error):
    unreachable = finding("rds.api_unreachable", "critical", f"the RDS API does not answer: {error.msg}",
                          {"endpoint_url": params.get("endpoint_url"), "region": params.get("region")})
    return check_result([unreachable], status="unknown", clusters=[], instances=[])


def validate(params):
    """Bad input the argument spec cannot see."""
    if not (params["cluster_ids"] or params["instance_ids"]):
        raise RunbookError("cluster_ids and instance_ids are both empty: name at least one cluster or instance.")


def run(params):
    """Read every cluster and instance asked for; the result sre.runbooks.rds_info returns."""
    validate(params)
    if not HAS_BOTO3:
        raise RunbookError(missing_required_lib("boto3"), exception=BOTO3_IMPORT_ERROR)
    rds, cloudwatch = client(params, "rds"), client(params, "cloudwatch")
    arns, findings = {}, []
    try:
        clusters, instances = read_all(params, rds, cloudwatch, arns, findings)
    except BackendUnavailable as exc:
        return unreachable_result(params, exc)
    pending = pending_actions(rds)
    for instance in instances:
        arn = instance.pop("_arn")
        instance["pending_maintenance"] = None if pending is None else pending.get(arn, [])
    for cluster in clusters:
        findings.extend(cluster_findings(cluster, params["max_lag_ms"]))
    for instance in instances:
        findings.extend(instance_findings(instance))
    findings.extend(maintenance_findings(pending, arns))
    return check_result(findings, status=overall_status(findings), clusters=clusters, instances=instances)
