# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The route53_record_info check: argument_spec() and run(params), used by its module and by incident_triage_info."""

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.sre.runbooks.plugins.module_utils.aws_client import (
    BOTO3_IMPORT_ERROR,
    HAS_BOTO3,
    aws_argument_spec,
    client,
)
from ansible_collections.sre.runbooks.plugins.module_utils.errors import BackendUnavailable, RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.findings import check_result, finding, status_from
from ansible_collections.sre.runbooks.plugins.module_utils.route53 import (
    find_zone,
    metric_client,
    read_records,
    record_name_in_zone,
    takes_traffic,
    zone_argument_spec,
)

DOWN_IDS = ("route53.zone_not_found", "route53.record_not_found", "route53.no_healthy_weighted_record")

# Passed to AnsibleModule (and to ArgumentSpecValidator) with argument_spec().
SPEC_OPTIONS = {"required_one_of": [("hosted_zone_id", "zone_name")],
                "mutually_exclusive": [("hosted_zone_id", "zone_name")]}


def argument_spec():
    """The options of sre.runbooks.route53_record_info, with the shared aws group."""
    spec = aws_argument_spec()
    spec.update(zone_argument_spec())
    return spec


def validate(params):
    """Bad input the argument spec cannot see."""
    if not (params["record_name"] or "").strip(". "):
        raise RunbookError("record_name is empty: name the record to check, e.g. api.example.com.",
                           option="record_name")
    if not ((params["hosted_zone_id"] or "").strip() or (params["zone_name"] or "").strip(". ")):
        raise RunbookError("hosted_zone_id and zone_name are both empty: name the zone.", option="hosted_zone_id")


def health_findings(name, records):
    found = []
    for record in records:
        if record["health"] != "unhealthy":
            continue
        serving = takes_traffic(record)
        who = f"{name} ({record['set_identifier']})" if record["set_identifier"] else name
        found.append(finding(
            "route53.health_check_failing", "critical" if serving else "warning",
            f"{who}'s health check {record['health_check_id']} is failing"
            + (" and the record takes traffic" if serving else ""),
            {"record": name, "set_identifier": record["set_identifier"], "weight": record["weight"],
             "health_check_id": record["health_check_id"], "source": record["health_source"]}))
    weighted = [r for r in records if r["weight"] is not None]
    if weighted and all(r["health"] == "unhealthy" for r in weighted):
        found.append(finding(
            "route53.no_healthy_weighted_record", "critical",
            f"every weighted record of {name} is unhealthy: Route 53 answers with all of them",
            {"record": name, "set_identifiers": [r["set_identifier"] for r in weighted]}))
    return found


def run(params):
    """Read the record's sets and their health; the result sre.runbooks.route53_record_info returns."""
    validate(params)
    if not HAS_BOTO3:
        raise RunbookError(missing_required_lib("boto3"), exception=BOTO3_IMPORT_ERROR)
    route53, cloudwatch = client(params, "route53"), metric_client(params)
    wanted_zone = params["hosted_zone_id"] or params["zone_name"]
    try:
        zone = find_zone(route53, params["hosted_zone_id"], params["zone_name"])
        if zone is None:
            missing = finding("route53.zone_not_found", "critical", f"hosted zone {wanted_zone} does not exist",
                              {"zone": wanted_zone, "record": params["record_name"]})
            return check_result([missing], DOWN_IDS, zone=None, records=[])
        zone_id, zone_name = zone
        name = record_name_in_zone(params["record_name"], zone_name)
        records = [entry for _raw, entry in read_records(route53, cloudwatch, zone_id, name, params["record_type"])]
    except BackendUnavailable as exc:
        unreachable = finding("route53.api_unreachable", "critical", f"the Route 53 API does not answer: {exc.msg}",
                              {"endpoint_url": params.get("endpoint_url"), "region": params.get("region")})
        return check_result([unreachable], status="unknown", zone=None, records=[])
    zone_info = {"id": zone_id, "name": zone_name}
    if not records:
        missing = finding("route53.record_not_found", "critical",
                          f"zone {zone_name} has no {params['record_type']} record {name}",
                          {"zone": zone_name, "hosted_zone_id": zone_id, "record": name,
                           "type": params["record_type"]})
        return check_result([missing], DOWN_IDS, zone=zone_info, records=[])
    findings = health_findings(name, records)
    serving = [r for r in records if takes_traffic(r)]
    status = status_from(findings, DOWN_IDS)
    if serving and all(r["health"] == "unhealthy" for r in serving):
        status = "down"
    return check_result(findings, status=status, zone=zone_info, records=records)
