#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: asg_info
short_description: Check the capacity of Auto Scaling groups
version_added: 1.0.0
description:
  - The runbook's Infrastructure Issues check of the Auto Scaling group
    (C(aws autoscaling describe-auto-scaling-groups --auto-scaling-group-names pynomaly-asg)).
  - Reads each group's desired, minimum and maximum size, its instances (lifecycle state, health, zone) and its
    latest scaling activities (C(DescribeScalingActivities)).
  - An instance is in service when its lifecycle state is C(InService) and its health C(Healthy); an instance
    marked C(Unhealthy) is about to be replaced and is not counted.
  - A group with fewer instances in service than desired, a group at its maximum size (it cannot scale out),
    a recent failed scaling activity, a missing group, or an AWS endpoint that does not answer is a finding,
    not a failure of the task.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.aws
  - sre.runbooks.attributes
  - sre.runbooks.attributes.INFO_MODULE
options:
  asg_names:
    description: Auto Scaling groups to check (names); at least one, none empty.
    type: list
    elements: str
    required: true
  max_activities:
    description: How many of each group's latest scaling activities to read and return (1 to 100).
    type: int
    default: 10
  failed_within_minutes:
    description: A failed or cancelled scaling activity that started within this many minutes is a finding.
    type: int
    default: 60
"""

EXAMPLES = r"""
- name: Check new instance status of the Auto Scaling group (Infrastructure Issues)
  sre.runbooks.asg_info:
    asg_names: [pynomaly-asg]
    region: us-east-1
  register: asg

- name: Show the instances the group has in service
  ansible.builtin.debug:
    msg: "{{ asg.groups[0].in_service }} of {{ asg.groups[0].desired }} desired instances in service"
"""

RETURN = r"""
status:
  description:
    - C(ok); C(down) (a group does not exist, or has none of its desired instances in service);
      C(degraded) (fewer instances in service than desired, at the maximum size, or a failed scaling activity);
      C(unknown) (the AWS endpoint does not answer).
  returned: always
  type: str
  sample: degraded
findings:
  description:
    - Ids C(asg.capacity_below_desired) (fewer instances in service than desired; critical when none is in
      service, else warning; evidence C({asg, desired, in_service, pending, unhealthy})),
    - C(asg.at_max) (the desired capacity is at the maximum size, so the group cannot scale out; warning;
      evidence C({asg, max, desired})),
    - C(asg.scaling_failed) (the latest failed or cancelled scaling activity that started within
      O(failed_within_minutes); warning; evidence C({asg, time, status, description, cause, status_message})),
    - C(asg.not_found) (a group of O(asg_names) does not exist; critical; evidence C({asg})),
    - C(asg.api_unreachable) (the AWS endpoint does not answer; critical; status C(unknown)).
  returned: always
  type: list
  elements: dict
  sample:
    - id: asg.capacity_below_desired
      severity: warning
      summary: pynomaly-asg has 2 of 3 desired instances in service (0 pending, 0 unhealthy)
      evidence: {asg: pynomaly-asg, desired: 3, in_service: 2, pending: 0, unhealthy: 0}
groups:
  description:
    - Every group of O(asg_names) that exists, as read. C(in_service) counts the instances C(InService) and
      C(Healthy), C(pending) those in a C(Pending*) lifecycle state, C(unhealthy) those marked C(Unhealthy).
    - C(instances) are sorted by id; C(activities) are the latest scaling activities, newest first, C(time)
      being when each started and C(status_message) the reason AWS gives for a failed one.
  returned: always
  type: list
  elements: dict
  sample:
    - name: pynomaly-asg
      desired: 3
      min: 2
      max: 6
      in_service: 2
      pending: 0
      unhealthy: 0
      instances:
        - {id: i-0a1b2c3d4e5f60718, lifecycle: InService, health: Healthy, az: us-east-1a}
        - {id: i-0a1b2c3d4e5f60719, lifecycle: Standby, health: Healthy, az: us-east-1a}
        - {id: i-0a1b2c3d4e5f60720, lifecycle: InService, health: Healthy, az: us-east-1b}
      activities:
        - {time: "2024-05-01T03:12:40+00:00", status: Failed, description: "Launching a new EC2 instance.
            Status Reason: The security group 'sg-0123456789abcdef0' does not exist.",
           cause: "At 2024-05-01T03:12:38Z an instance was started in response to a difference between desired
            and actual capacity, increasing the capacity from 2 to 3.",
           status_message: "The security group 'sg-0123456789abcdef0' does not exist. Launching EC2 instance failed."}
"""

from ansible_collections.sre.runbooks.plugins.module_utils.checks import asg
from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule


def main():
    module = RunbookModule(argument_spec=asg.argument_spec(), **asg.SPEC_OPTIONS, supports_check_mode=True)
    module.require_library("boto3", asg.HAS_BOTO3, asg.BOTO3_IMPORT_ERROR)
    module.run_check(asg.run)


if __name__ == "__main__":
    main()
