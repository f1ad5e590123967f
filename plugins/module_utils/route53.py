# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reads of Route 53 that the DNS modules share: the zone, the record sets of one name and type, health.

The health of a record's health check is read from up to three sources, each through a public AWS API:

- ``checkers``: GetHealthCheckStatus, the observations of Route 53's health checkers. As Route 53 does,
  the endpoint is healthy when more than 18% of the checkers report success; ``Inverted`` flips that.
  Route 53 refuses this call for CALCULATED, CLOUDWATCH_METRIC and RECOVERY_CONTROL checks: not asked then.
- ``cloudwatch_metric``: the latest one-minute Minimum of CloudWatch ``AWS/Route53 HealthCheckStatus``
  (dimension HealthCheckId; 1 healthy, 0 unhealthy) in the last five minutes. Route 53 publishes it for
  every health check, in us-east-1 only, so it is read there whatever the module's region.
- ``cloudwatch_alarm``: the CloudWatch alarms on that metric and health check; one in ALARM says unhealthy,
  one in OK says healthy.

A check is unhealthy when any source says so, healthy when none does and at least one says healthy, and
unknown otherwise (no health check, a disabled one, or no source answered).
"""

from datetime import datetime, timedelta, timezone

from ansible_collections.sre.runbooks.plugins.module_utils.aws_client import call, client
from ansible_collections.sre.runbooks.plugins.module_utils.errors import BackendUnavailable, RunbookError

ZONE_NOT_FOUND_CODES = ("NoSuchHostedZone", "InvalidInput")
HEALTH_CHECK_NOT_FOUND_CODES = ("NoSuchHealthCheck",)
NO_CHECKERS_TYPES = ("CALCULATED", "CLOUDWATCH_METRIC", "RECOVERY_CONTROL")
HEALTHY_CHECKER_SHARE = 0.18
METRIC_REGION = "us-east-1"
RECORD_TYPES = ("A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SOA", "SPF", "SRV",
                "SSHFP", "SVCB", "TLSA", "TXT")


def fqdn(name):
    """A DNS name as Route 53 lists it: lower case, one trailing dot."""
    return name.strip().rstrip(".").lower() + "."


def zone_argument_spec():
    """The options that name a record: hosted_zone_id or zone_name, record_name, record_type."""
    return {
        "hosted_zone_id": {"type": "str"},
        "zone_name": {"type": "str"},
        "record_name": {"type": "str", "required": True},
        "record_type": {"type": "str", "default": "A", "choices": list(RECORD_TYPES)},
    }


def metric_client(params):
    """CloudWatch where Route 53 publishes its health check metrics (us-east-1)."""
    return client(dict(params, region=METRIC_REGION), "cloudwatch")


def find_zone(route53, hosted_zone_id=None, zone_name=None):
    """(id, name) of the zone; None when it does not exist. RunbookError when zone_name is ambiguous."""
    if hosted_zone_id:
        zone_id = hosted_zone_id.split("/")[-1]
        try:
            zone = call(route53.get_hosted_zone, Id=zone_id)["HostedZone"]
        except RunbookError as exc:
            if exc.details.get("aws_error_code") in ZONE_NOT_FOUND_CODES:
                return None
            raise
        return zone_id, fqdn(zone["Name"])
    wanted = fqdn(zone_name)
    found = call(route53.list_hosted_zones_by_name, DNSName=wanted, MaxItems="100")["HostedZones"]
    matches = [z for z in found if fqdn(z["Name"]) == wanted]
    if len(matches) > 1:
        kinds = ["private" if z.get("Config", {}).get("PrivateZone") else "public" for z in matches]
        ids = ", ".join(f"{z['Id'].split('/')[-1]} ({kind})" for z, kind in zip(matches, kinds))
        raise RunbookError(f"{len(matches)} hosted zones are named {wanted}: {ids}. Name one with hosted_zone_id.",
                           option="zone_name")
    return (matches[0]["Id"].split("/")[-1], wanted) if matches else None


def record_name_in_zone(record_name, zone_name):
    """The record's full name; RunbookError naming record_name when it is outside the zone."""
    name = fqdn(record_name)
    if name != zone_name and not name.endswith("." + zone_name):
        raise RunbookError(f"record_name {name} is not in zone {zone_name}.", option="record_name")
    return name


def record_sets(route53, zone_id, name, record_type):
    """Every record set of one name and type, over every page (weighted sets share name and type)."""
    kwargs = {"HostedZoneId": zone_id, "StartRecordName": name, "StartRecordType": record_type}
    found, seen = [], set()
    while True:
        page = call(route53.list_resource_record_sets, **kwargs)
        for raw in page.get("ResourceRecordSets", []):
            if fqdn(raw["Name"]) != name or raw["Type"] != record_type:
                return found
            key = raw.get("SetIdentifier")
            if key not in seen:  # a page may start again at the same name and type
                seen.add(key)
                found.append(raw)
        if not page.get("IsTruncated"):
            return found
        kwargs = {"HostedZoneId": zone_id, "StartRecordName": page["NextRecordName"],
                  "StartRecordType": page["NextRecordType"]}
        if page.get("NextRecordIdentifier"):
            kwargs["StartRecordIdentifier"] = page["NextRecordIdentifier"]


def checkers_verdict(route53, health_check_id, config):
    """(verdict, reason) from the health checkers, or (None, reason)."""
    if config.get("Type") in NO_CHECKERS_TYPES:
        return None, f"{config.get('Type')} health check: Route 53 has no checker observations for it"
    observations = call(route53.get_health_check_status, HealthCheckId=health_check_id)["HealthCheckObservations"]
    if not observations:
        return None, "no checker has reported yet"
    reports = [(o.get("StatusReport") or {}).get("Status") or "" for o in observations]
    success = sum(1 for r in reports if r.startswith("Success"))
    healthy = success / len(reports) > HEALTHY_CHECKER_SHARE
    reason = f"{success} of {len(reports)} checkers report success"
    failing = next((r for r in reports if not r.startswith("Success")), None)
    if failing:
        reason += f" (e.g. {failing})"
    if config.get("Inverted"):
        healthy, reason = not healthy, reason + "; the health check is inverted"
    return ("healthy" if healthy else "unhealthy"), reason


def metric_verdict(cloudwatch, health_check_id):
    """(verdict, reason) from the latest HealthCheckStatus minute, or (None, reason)."""
    end = datetime.now(timezone.utc)
    points = call(cloudwatch.get_metric_statistics, Namespace="AWS/Route53", MetricName="HealthCheckStatus",
                  Dimensions=[{"Name": "HealthCheckId", "Value": health_check_id}],
                  StartTime=end - timedelta(minutes=5), EndTime=end, Period=60, Statistics=["Minimum"])["Datapoints"]
    if not points:
        return None, "no HealthCheckStatus datapoint in the last 5 minutes"
    latest = max(points, key=lambda p: p["Timestamp"])
    verdict = "healthy" if latest["Minimum"] >= 1 else "unhealthy"
    return verdict, f"HealthCheckStatus minimum {latest['Minimum']:g} at {latest['Timestamp']}"


def alarm_verdict(cloudwatch, health_check_id):
    """(verdict, reason) from the alarms on this check's HealthCheckStatus, or (None, reason)."""
    dimensions = [{"Name": "HealthCheckId", "Value": health_check_id}]
    alarms = call(cloudwatch.describe_alarms_for_metric, Namespace="AWS/Route53", MetricName="HealthCheckStatus",
                  Dimensions=dimensions)["MetricAlarms"]
    alarms = [a for a in alarms if a.get("Dimensions") == dimensions]  # not every endpoint filters by dimension
    firing = [a for a in alarms if a.get("StateValue") == "ALARM"]
    if firing:
        return "unhealthy", "; ".join(f"alarm {a['AlarmName']} is ALARM ({a.get('StateReason', '')})" for a in firing)
    calm = [a["AlarmName"] for a in alarms if a.get("StateValue") == "OK"]
    if calm:
        return "healthy", f"alarm {', '.join(calm)} OK"
    return None, "no alarm on HealthCheckStatus" if not alarms else "alarms have insufficient data"


def combine(verdicts):
    """{health, source, reasons} from [(source, verdict, reason)]: unhealthy when any source says so."""
    reasons = [f"{source}: {reason}" for source, _verdict, reason in verdicts]
    for health in ("unhealthy", "healthy"):
        sources = [source for source, verdict, _reason in verdicts if verdict == health]
        if sources:
            return {"health": health, "source": "+".join(sources), "reasons": reasons}
    return {"health": "unknown", "source": None, "reasons": reasons}


def ask(source, read, *args):
    """(source, verdict, reason) of one source; a source that cannot answer gives no verdict."""
    try:
        verdict, reason = read(*args)
    except BackendUnavailable:
        raise
    except RunbookError as exc:
        verdict, reason = None, f"not readable ({exc.msg})"
    return source, verdict, reason


def health_check_health(route53, cloudwatch, health_check_id):
    """{health: healthy|unhealthy|unknown, source, reasons} of one health check."""
    if not health_check_id:
        return {"health": "unknown", "source": None, "reasons": ["the record has no health check"]}
    try:
        config = call(route53.get_health_check, HealthCheckId=health_check_id)["HealthCheck"]["HealthCheckConfig"]
    except RunbookError as exc:
        if exc.details.get("aws_error_code") not in HEALTH_CHECK_NOT_FOUND_CODES:
            raise
        return {"health": "unknown", "source": None, "reasons": [f"health check {health_check_id} does not exist"]}
    verdicts = [ask("cloudwatch_alarm", alarm_verdict, cloudwatch, health_check_id),
                ask("cloudwatch_metric", metric_verdict, cloudwatch, health_check_id)]
    if config.get("Disabled"):
        verdicts.append(("checkers", None, "the health check is disabled: Route 53 treats the record as healthy"))
    else:
        verdicts.append(ask("checkers", checkers_verdict, route53, health_check_id, config))
    return combine(verdicts)


def record_entry(raw, health):
    """What the modules show of one record set."""
    values = [r["Value"] for r in raw.get("ResourceRecords", [])]
    alias = raw.get("AliasTarget")
    if alias:
        values = [f"ALIAS {alias.get('DNSName')}"]
    return {"set_identifier": raw.get("SetIdentifier"), "weight": raw.get("Weight"), "failover": raw.get("Failover"),
            "values": values, "ttl": raw.get("TTL"), "health_check_id": raw.get("HealthCheckId"),
            "health": health["health"], "health_source": health["source"], "health_reasons": health["reasons"]}


def takes_traffic(record):
    """A weighted record with weight > 0, a PRIMARY failover record, or a record of no routing policy."""
    if record["weight"] is not None:
        return record["weight"] > 0
    return record["failover"] in (None, "PRIMARY")


def read_records(route53, cloudwatch, zone_id, name, record_type):
    """[(raw, entry)] of every record set of the name and type, with the health of each."""
    return [(raw, record_entry(raw, health_check_health(route53, cloudwatch, raw.get("HealthCheckId"))))
            for raw in record_sets(route53, zone_id, name, record_type)]
