"""The lab fault ``region-primary-down``: the primary region's endpoint of api.pynomaly.internal. fails.

break puts a CloudWatch alarm on the primary record's Route 53 health check (metric ``AWS/Route53
HealthCheckStatus``, dimension ``HealthCheckId``, Minimum < 1 over one minute, as the console's "create alarm"
on a health check makes it) and sets it to ALARM with ``set_alarm_state``. The weights stay primary 100 /
secondary 0, so the traffic still goes to the failing primary until someone fails over. heal deletes the
alarms the lab made and puts the weights back to the seeded 100 / 0 (safe twice).

Why an alarm: the modules read a health check's health from public AWS APIs only (module_utils/route53.py):
GetHealthCheckStatus, the latest minute of HealthCheckStatus, and the alarms on it. What moto (5.2, server
mode, reached over HTTP through boto3) does, as found by calling it and reading moto/route53/responses.py:

- moto never probes a health check. ``get_health_check_status`` answers one fixed observation, whatever the
  check: region us-east-1, IP 127.0.13.37, "Success: HTTP Status Code: 200. Resolved IP: 127.0.13.37. OK",
  checked now. It ignores ``Inverted`` and ``Disabled`` (``update_health_check`` stores both and
  ``get_health_check`` returns them) and the type (CALCULATED, CLOUDWATCH_METRIC get the same answer; AWS
  refuses the call for them). It drops ``AlarmIdentifier``, so a CLOUDWATCH_METRIC check cannot follow an alarm.
  Nothing the lab can do through the API makes the checkers report a failure.
- moto publishes no ``AWS/Route53`` metric. ``put_metric_data`` can put HealthCheckStatus datapoints, but
  CloudWatch keeps them: a 0 put by break would stay in the same one-minute period as the 1 put by a heal a
  few seconds later, and the Minimum of that minute (what the module reads, as is right against AWS) would read
  unhealthy until a later minute gets a datapoint, which in AWS Route 53 publishes and here nobody does. So
  the lab puts no datapoint; the metric source reads "no datapoint" throughout.
- CloudWatch alarms: ``set_alarm_state`` holds (moto never evaluates an alarm, so ALARM stays until changed,
  where AWS would re-evaluate it at the next period); ``describe_alarms_for_metric`` ignores ``Dimensions`` and
  returns every alarm on the metric (the module filters by dimension itself); ``delete_alarms`` of a missing
  alarm is accepted.
- ``change_resource_record_sets`` answers INSYNC at once (AWS: PENDING for up to a minute), ``get_change``
  always answers INSYNC; ``list_resource_record_sets`` ignores ``StartRecordIdentifier``; weights above 255
  are accepted (AWS refuses them).
"""

from __future__ import annotations

from lab import aws
from lab.core import Lab, LabError

ALARM_PREFIX = "lab-route53-"


def _clients(lab: Lab):
    info = lab.service("aws")
    if not info.get("endpoint_url"):
        raise LabError("the lab's AWS (moto) is not up: run `lab up` first")
    return info, aws.client(info, "route53"), aws.client(info, "cloudwatch")


def _weighted(route53, info: dict) -> dict:
    """{set_identifier: raw record set} of the seeded weighted record."""
    sets = route53.list_resource_record_sets(HostedZoneId=info["hosted_zone_id"], StartRecordName=info["record_name"],
                                             StartRecordType="A")["ResourceRecordSets"]
    return {s["SetIdentifier"]: s for s in sets if s["Name"] == info["record_name"] and s.get("SetIdentifier")}


def break_health_check(lab: Lab, set_identifier: str) -> str:
    """Make the health check of one weighted set of api.pynomaly.internal. read unhealthy; returns its id."""
    info, route53, cloudwatch = _clients(lab)
    record = _weighted(route53, info).get(set_identifier)
    if record is None or not record.get("HealthCheckId"):
        raise LabError(f"{info['record_name']} has no weighted set {set_identifier} with a health check")
    check_id = record["HealthCheckId"]
    name = f"{ALARM_PREFIX}{set_identifier}-health"
    cloudwatch.put_metric_alarm(
        AlarmName=name, AlarmDescription=f"{info['record_name']} ({set_identifier}) fails its health check",
        Namespace="AWS/Route53", MetricName="HealthCheckStatus",
        Dimensions=[{"Name": "HealthCheckId", "Value": check_id}], Statistic="Minimum", Period=60,
        EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="LessThanThreshold")
    address = ", ".join(r["Value"] for r in record.get("ResourceRecords", []))
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM",
                               StateReason=f"Route 53 health checkers report failure for {address}:8000/health")
    return check_id


def heal_health_checks(lab: Lab) -> None:
    """Delete every alarm the lab put on a Route 53 health check."""
    _info, _route53, cloudwatch = _clients(lab)
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix=ALARM_PREFIX)["MetricAlarms"]
    if alarms:
        cloudwatch.delete_alarms(AlarmNames=[a["AlarmName"] for a in alarms])


def break_region_primary_down(lab: Lab) -> None:
    """The primary's health check fails while it still takes all the traffic."""
    break_health_check(lab, aws.WEIGHTED_RECORDS[0][0])


def heal_region_primary_down(lab: Lab) -> None:
    """Health checks healthy again and the weights back to the seeded ones (primary 100, secondary 0)."""
    info, route53, _cloudwatch = _clients(lab)
    heal_health_checks(lab)
    current = _weighted(route53, info)
    changes = [{"Action": "UPSERT", "ResourceRecordSet": dict(current[identifier], Weight=weight)}
               for identifier, weight, _address in aws.WEIGHTED_RECORDS
               if identifier in current and current[identifier].get("Weight") != weight]
    if changes:
        route53.change_resource_record_sets(HostedZoneId=info["hosted_zone_id"], ChangeBatch={"Changes": changes})
