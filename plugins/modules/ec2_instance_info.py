#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: ec2_instance_info
short_description: Check the application servers' EC2 instances and their status checks
version_added: 1.0.0
description:
  - The runbook's Infrastructure Issues check C(aws ec2 describe-instance-status). Reads the selected instances
    (state, type, zone, addresses, security groups, tags, Auto Scaling group with its lifecycle and health) and
    their system and instance status checks and scheduled events (C(DescribeInstanceStatus) with
    C(IncludeAllInstances), so stopped instances are shown too).
  - Instances are selected by O(instance_ids), O(tags) and O(asg_name); with several, an instance must match
    all of them. Terminated instances are left out.
  - A stopped instance, a failing status check, an Auto Scaling group that does not exist, or an AWS endpoint that
    does not answer is a finding, not a failure of the task. An instance id that does not exist fails the task.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.aws
  - sre.runbooks.attributes
  - sre.runbooks.attributes.INFO_MODULE
options:
  instance_ids:
    description: Instances to check (EC2 instance ids, C(i-...)).
    type: list
    elements: str
  tags:
    description: Check the instances carrying every one of these tags (tag key to value).
    type: dict
  asg_name:
    description:
      - Check the instances of this Auto Scaling group.
      - At least one of O(instance_ids), O(tags) and O(asg_name) is required, and not empty.
    type: str
"""

EXAMPLES = r"""
- name: Check EC2 instance status (Infrastructure Issues)
  sre.runbooks.ec2_instance_info:
    asg_name: pynomaly-asg
    region: us-east-1
  register: ec2

- name: Check the instances tagged as the service's
  sre.runbooks.ec2_instance_info:
    tags:
      Service: pynomaly

- name: Check one instance
  sre.runbooks.ec2_instance_info:
    instance_ids: [i-1234567890abcdef0]
"""

RETURN = r"""
status:
  description:
    - C(ok); C(down) (no instance is selected, or none of them is running with its status checks passing);
      C(degraded) (some instance is stopped, fails a status check or has a scheduled event);
      C(unknown) (the AWS endpoint does not answer).
  returned: always
  type: str
  sample: degraded
findings:
  description:
    - Ids C(ec2.no_instances) (the selection matches no pending, running or stopped instance, or its Auto Scaling
      group does not exist; critical; evidence the selection and C(reason)),
    - C(ec2.instance_stopped) (an instance is C(stopping), C(stopped) or C(shutting-down); critical; evidence
      C(instance), C(name), C(state), C(asg)),
    - C(ec2.status_check_failed) (a running instance's system or instance status check is C(impaired); critical;
      evidence C(instance), C(system), C(instance_status)),
    - C(ec2.scheduled_event) (an instance has a scheduled event that is not completed or cancelled, such as
      C(system-reboot) or C(instance-retirement); warning; evidence C(instance), C(name), C(code),
      C(description), C(not_before)),
    - C(ec2.api_unreachable) (the AWS endpoint does not answer; critical; status C(unknown)).
  returned: always
  type: list
  elements: dict
  sample:
    - id: ec2.instance_stopped
      severity: critical
      summary: instance i-0a1b2c3d4e5f60718 (pynomaly-app-1) is stopped
      evidence: {instance: i-0a1b2c3d4e5f60718, name: pynomaly-app-1, state: stopped, asg: pynomaly-asg}
instances:
  description:
    - Every selected instance, sorted by id. C(asg) is the Auto Scaling group it belongs to; C(asg_lifecycle) and
      C(asg_health) are the group's view of it when selected with O(asg_name), else null.
    - C(status_checks) holds the C(system) and C(instance) check statuses (C(ok), C(impaired), C(initializing),
      C(insufficient-data), or C(not-applicable) when not running); C(events) the scheduled events.
  returned: always
  type: list
  elements: dict
  sample:
    - {id: i-0a1b2c3d4e5f60718, name: pynomaly-app-1, state: running, state_reason: null, type: t3.small,
       az: us-east-1a, vpc_id: vpc-0abc, subnet_id: subnet-0abc, private_ip: 10.20.1.10,
       security_groups: [sg-0abc], launch_time: "2024-05-01 12:00:00+00:00",
       tags: {Name: pynomaly-app-1, Service: pynomaly, "aws:autoscaling:groupName": pynomaly-asg},
       asg: pynomaly-asg, asg_lifecycle: InService, asg_health: Healthy,
       status_checks: {system: ok, instance: ok}, events: []}
"""

from ansible_collections.sre.runbooks.plugins.module_utils.checks import ec2_instance
from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule


def main():
    module = RunbookModule(argument_spec=ec2_instance.argument_spec(), **ec2_instance.SPEC_OPTIONS,
                           supports_check_mode=True)
    module.require_library("boto3", ec2_instance.HAS_BOTO3, ec2_instance.BOTO3_IMPORT_ERROR)
    module.run_check(ec2_instance.run)


if __name__ == "__main__":
    main()
