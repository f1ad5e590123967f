#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: aws_health_info
short_description: Check AWS Health for open events of the services and regions the estate uses
version_added: 1.0.0
description:
  - The runbook's Quick Health Assessment step C(aws health describe-events --filter
    eventTypeCategories=issue,eventStatusCodes=open), through the AWS Health API (C(DescribeEvents), then
    C(DescribeEventDetails) for each open event's latest description).
  - The AWS Health API has one global endpoint in us-east-1; the call goes there whatever O(region) says
    (O(endpoint_url) still replaces it). O(regions) chooses the events' regions.
  - The AWS Health API needs a Business, Enterprise On-Ramp or Enterprise support plan. Without one the
    answer is the finding C(aws_health.subscription_required) (info) with status C(unknown), not a failure.
  - An AWS endpoint that does not answer is the finding C(aws_health.api_unreachable) with status C(unknown).
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.aws
  - sre.runbooks.attributes
  - sre.runbooks.attributes.INFO_MODULE
options:
  regions:
    description:
      - Events of these regions (C(us-east-1)); events of global services (region C(global)) are always included.
      - Default - O(region) when it is set, else every region.
    type: list
    elements: str
  services:
    description:
      - Events of these services, as AWS Health names them (C(EC2), C(RDS), C(ELASTICLOADBALANCING)).
      - Default - every service.
    type: list
    elements: str
    default: []
  event_type_categories:
    description: Events of these categories.
    type: list
    elements: str
    choices: [issue, accountNotification, scheduledChange, investigation]
    default: [issue]
  max_events:
    description: Read at most this many events (1 to 1000), the most recently updated first.
    type: int
    default: 100
"""

EXAMPLES = r"""
- name: Check AWS service health (Quick Health Assessment)
  sre.runbooks.aws_health_info:
    regions: [us-east-1]
    services: [EC2, ELASTICLOADBALANCING, RDS, AUTOSCALING, ROUTE53]
  register: aws_health

- name: Open issues and scheduled changes of every service in the estate's region
  sre.runbooks.aws_health_info:
    region: us-east-1
    event_type_categories: [issue, scheduledChange]
"""

RETURN = r"""
status:
  description:
    - C(ok); C(degraded) (an open event of a listed service and region); C(unknown) (the API does not answer,
      or the account has no support plan that includes it).
  returned: always
  type: str
  sample: degraded
findings:
  description:
    - Ids C(aws_health.open_event) (an open event of a listed service and region; critical for an C(issue),
      warning for another category; evidence arn, service, event_type_code, category, region,
      availability_zone, start_time, last_updated_time, description),
    - C(aws_health.subscription_required) (the account's support plan does not include the AWS Health API;
      info; status C(unknown); evidence error),
    - C(aws_health.api_unreachable) (the AWS Health endpoint does not answer; critical; status C(unknown)).
  returned: always
  type: list
  elements: dict
  sample:
    - id: aws_health.open_event
      severity: critical
      summary: "AWS Health: open EC2 issue in us-east-1 since 2026-11-27T13:02:00Z (AWS_EC2_OPERATIONAL_ISSUE)"
      evidence: {arn: "arn:aws:health:us-east-1::event/EC2/AWS_EC2_OPERATIONAL_ISSUE/AWS_EC2_OPERATIONAL_ISSUE_1",
                 service: EC2, event_type_code: AWS_EC2_OPERATIONAL_ISSUE, category: issue, region: us-east-1,
                 availability_zone: null, start_time: "2026-11-27T13:02:00Z",
                 last_updated_time: "2026-11-27T13:20:00Z",
                 description: "We are investigating increased API error rates in the US-EAST-1 Region."}
events:
  description: The open events read, most recently updated first (C(description) null when it could not be read).
  returned: always
  type: list
  elements: dict
  sample:
    - {arn: "arn:aws:health:us-east-1::event/EC2/AWS_EC2_OPERATIONAL_ISSUE/AWS_EC2_OPERATIONAL_ISSUE_1",
       service: EC2, event_type_code: AWS_EC2_OPERATIONAL_ISSUE, category: issue, region: us-east-1,
       availability_zone: null, status: open, scope: PUBLIC, start_time: "2026-11-27T13:02:00Z", end_time: null,
       last_updated_time: "2026-11-27T13:20:00Z", description: "We are investigating increased API error rates."}
filter:
  description: The C(DescribeEvents) filter sent.
  returned: always
  type: dict
  sample: {eventStatusCodes: [open], eventTypeCategories: [issue], regions: [global, us-east-1], services: [EC2]}
truncated:
  description: More events matched than O(max_events).
  returned: always
  type: bool
  sample: false
subscription_required:
  description: The account's support plan does not include the AWS Health API.
  returned: always
  type: bool
  sample: false
"""

from ansible_collections.sre.runbooks.plugins.module_utils.checks import aws_health
from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule


def main():
    module = RunbookModule(argument_spec=aws_health.argument_spec(), **aws_health.SPEC_OPTIONS,
                           supports_check_mode=True)
    module.require_library("boto3", aws_health.HAS_BOTO3, aws_health.BOTO3_IMPORT_ERROR)
    module.run_check(aws_health.run)


if __name__ == "__main__":
    main()
