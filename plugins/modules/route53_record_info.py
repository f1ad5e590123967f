#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: route53_record_info
short_description: Check a Route 53 record's weighted sets and the health of each
version_added: 1.0.0
description:
  - The check before the runbook's Failover to Secondary Region (Route 53 weighted routing). Reads every record set
    of one name and type (weight, failover role, values, TTL, health check) and the health of each set's
    health check.
  - "A health check's health comes from three AWS sources: the observations of Route 53's health checkers
    (C(GetHealthCheckStatus); healthy when more than 18% report success, flipped when the check is inverted;
    not asked for CALCULATED and CLOUDWATCH_METRIC checks), the latest minute of the CloudWatch metric
    C(AWS/Route53 HealthCheckStatus), and the CloudWatch alarms on that metric. The check is unhealthy when any
    source says so; C(health_source) says which did."
  - Route 53 publishes its metrics in us-east-1 only; they are read there whatever O(region) is.
  - Route 53 itself considers the weight-0 records of a group when every record of weight above 0 is unhealthy,
    and answers with all of them when all are unhealthy; the findings name both cases.
  - A missing zone or record, or an AWS endpoint that does not answer, is a finding, not a failure of the task.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.aws
  - sre.runbooks.attributes
  - sre.runbooks.attributes.INFO_MODULE
options:
  hosted_zone_id:
    description: Id of the hosted zone (C(Z0123...) or C(/hostedzone/Z0123...)). Exclusive with O(zone_name).
    type: str
  zone_name:
    description:
      - Name of the hosted zone, for example C(example.com). One of O(hosted_zone_id) and O(zone_name) is required.
      - When a public and a private zone share the name, the task fails and asks for O(hosted_zone_id).
    type: str
  record_name:
    description: The record's full name, for example C(api.example.com); it must be in the zone.
    type: str
    required: true
  record_type:
    description: The record's type.
    type: str
    default: A
    choices: [A, AAAA, CAA, CNAME, DS, HTTPS, MX, NAPTR, NS, PTR, SOA, SPF, SRV, SSHFP, SVCB, TLSA, TXT]
"""

EXAMPLES = r"""
- name: Check the API's weighted records and their health checks
  sre.runbooks.route53_record_info:
    zone_name: pynomaly.internal
    record_name: api.pynomaly.internal
  register: dns

- name: Check a record of a zone named by id
  sre.runbooks.route53_record_info:
    hosted_zone_id: Z0123456789ABCDEFGHIJ
    record_name: api.example.com
    record_type: AAAA
"""

RETURN = r"""
status:
  description:
    - C(ok); C(down) (the zone or record does not exist, every weighted record is unhealthy, or every record
      that takes traffic is unhealthy); C(degraded) (another record's health check fails); C(unknown) (the AWS
      endpoint does not answer).
  returned: always
  type: str
  sample: down
findings:
  description:
    - Ids C(route53.health_check_failing) (a record's health check is unhealthy; critical when the record takes
      traffic, i.e. weight above 0, a PRIMARY failover record or a simple record; warning otherwise; evidence
      C({record, set_identifier, weight, health_check_id, source})),
    - C(route53.no_healthy_weighted_record) (every weighted record is unhealthy; critical),
    - C(route53.record_not_found) (the zone has no such record of this type; critical),
    - C(route53.zone_not_found) (the hosted zone does not exist; critical),
    - C(route53.api_unreachable) (the AWS endpoint does not answer; critical; status C(unknown)).
  returned: always
  type: list
  elements: dict
  sample:
    - id: route53.health_check_failing
      severity: critical
      summary: "api.pynomaly.internal. (primary)'s health check 2594a5b1 is failing and the record takes traffic"
      evidence: {record: api.pynomaly.internal., set_identifier: primary, weight: 100,
                 health_check_id: 2594a5b1-66a7-463f-b17d-16e4f92ce866, source: cloudwatch_alarm}
zone:
  description: The zone read, C({id, name}); null when it does not exist or the endpoint does not answer.
  returned: always
  type: dict
  sample: {id: Z0123456789ABCDEFGHIJ, name: pynomaly.internal.}
records:
  description:
    - Every record set of the name and type. C(weight) is null for a set that is not weighted, C(failover) is
      C(PRIMARY), C(SECONDARY) or null; C(values) are the addresses, or C(ALIAS <name>) for an alias.
    - C(health) is C(healthy), C(unhealthy) or C(unknown) (no health check, a disabled one, or no source answered).
    - C(health_source) names the source(s) that decided, joined by C(+) (C(checkers), C(cloudwatch_metric),
      C(cloudwatch_alarm)); null when unknown. C(health_reasons) says what each source saw.
  returned: always
  type: list
  elements: dict
  sample:
    - {set_identifier: primary, weight: 100, failover: null, values: [10.20.1.10], ttl: 60,
       health_check_id: 2594a5b1-66a7-463f-b17d-16e4f92ce866, health: unhealthy, health_source: cloudwatch_alarm,
       health_reasons: ["cloudwatch_alarm: alarm api-primary-health is ALARM (endpoint down)",
                        "cloudwatch_metric: no HealthCheckStatus datapoint in the last 5 minutes",
                        "checkers: 1 of 1 checkers report success"]}
"""

from ansible_collections.sre.runbooks.plugins.module_utils.checks import route53_record
from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule


def main():
    module = RunbookModule(argument_spec=route53_record.argument_spec(), **route53_record.SPEC_OPTIONS,
                           supports_check_mode=True)
    module.require_library("boto3", route53_record.HAS_BOTO3, route53_record.BOTO3_IMPORT_ERROR)
    module.run_check(route53_record.run)


if __name__ == "__main__":
    main()
