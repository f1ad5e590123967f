#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: elb_target_health_info
short_description: Check a load balancer's listeners, target groups and target health
version_added: 1.0.0
description:
  - The runbook's Detection and Load Balancer Issues check (C(aws elbv2 describe-target-health)). Reads an
    Application or Network Load Balancer (state, DNS name), its listeners and the target groups they forward to,
    and every registered target of each group with its health state and reason.
  - Given O(load_balancer_name), reads every target group of that load balancer. Given target groups only, also
    shows the load balancer when they all belong to one.
  - Given O(asg_name), an instance of that Auto Scaling group that is running and C(InService) but not registered
    in the group's target groups is a finding. The target groups checked are those of the Auto Scaling group
    (its C(TargetGroupARNs)) among the ones read; when it names none of them, every target group read.
  - A load balancer or target group that does not exist, or an AWS endpoint that does not answer, is a finding,
    not a failure of the task.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.aws
  - sre.runbooks.attributes
  - sre.runbooks.attributes.INFO_MODULE
options:
  load_balancer_name:
    description: Load balancer whose target groups to check (its name, for example C(pynomaly-alb)).
    type: str
  target_group_arns:
    description: Target groups to check, by ARN.
    type: list
    elements: str
  target_group_names:
    description:
      - Target groups to check, by name.
      - At least one of O(load_balancer_name), O(target_group_arns) and O(target_group_names) is required; they
        can be combined.
    type: list
    elements: str
  asg_name:
    description: Auto Scaling group whose running C(InService) instances should all be registered.
    type: str
"""

EXAMPLES = r"""
- name: Check target group health (Load Balancer Issues)
  sre.runbooks.elb_target_health_info:
    load_balancer_name: pynomaly-alb
    asg_name: pynomaly-asg
  register: lb

- name: Check one target group by ARN, as the runbook does
  sre.runbooks.elb_target_health_info:
    target_group_arns: ["{{ target_group_arn }}"]
"""

RETURN = r"""
status:
  description:
    - C(ok); C(down) (a target group has no healthy target, or the load balancer or a target group does not
      exist); C(degraded) (some targets are not healthy, or an instance is not registered); C(unknown) (the AWS
      endpoint does not answer).
  returned: always
  type: str
  sample: down
findings:
  description:
    - Ids C(elb.no_healthy_targets) (a target group has no healthy target, or no target at all; critical;
      evidence C(states) counts the targets by state),
    - C(elb.targets_unhealthy) (targets of a group are C(unhealthy), C(unused) or C(unavailable); warning;
      evidence lists them with state and reason),
    - C(elb.instance_not_registered) (running C(InService) instances of O(asg_name) are not registered in a
      target group; warning),
    - C(elb.asg_not_found) (O(asg_name) does not exist; warning),
    - C(elb.not_found) (the load balancer or a target group does not exist; critical; evidence C({kind, id})),
    - C(elb.api_unreachable) (the AWS endpoint does not answer; critical; status C(unknown)).
    - A target that is C(initial) (registering) or C(draining) (deregistering) is not a finding by itself. In a
      group whose health checks are off, C(unavailable) targets take traffic and count as healthy.
  returned: always
  type: list
  elements: dict
  sample:
    - id: elb.no_healthy_targets
      severity: critical
      summary: "target group pynomaly-tg has no healthy target (1 registered: 1 unused)"
      evidence: {target_group: pynomaly-tg, total: 1, states: {unused: 1},
                 target_group_arn: "arn:aws:elasticloadbalancing:...:targetgroup/pynomaly-tg/1a"}
    - id: elb.instance_not_registered
      severity: warning
      summary: "2 running InService instance(s) of pynomaly-asg are not registered in pynomaly-tg: i-0a1, i-0b2"
      evidence: {target_group: pynomaly-tg, asg: pynomaly-asg, instances: [i-0a1, i-0b2],
                 target_group_arn: "arn:aws:elasticloadbalancing:...:targetgroup/pynomaly-tg/1a"}
load_balancer:
  description:
    - The load balancer read; null when it does not exist, or when asked by target groups that do not all belong
      to one load balancer.
  returned: always
  type: dict
  sample: {name: pynomaly-alb, state: active, arn: "arn:aws:elasticloadbalancing:...:loadbalancer/app/pynomaly-alb/f5",
           dns_name: pynomaly-alb-1.us-east-1.elb.amazonaws.com, type: application,
           scheme: internet-facing, vpc_id: vpc-0abc}
listeners:
  description: The listeners of the load balancer, by port, with the target groups their default actions forward to.
  returned: always
  type: list
  elements: dict
  sample:
    - {port: 80, protocol: HTTP, target_group_arns: ["arn:aws:elasticloadbalancing:...:targetgroup/pynomaly-tg/1a"]}
target_groups:
  description:
    - Every target group read, with C(healthy) (targets taking traffic) of C(total) (registered targets).
    - Each target is C({id, port, state, reason, description}); C(state) is AWS's (C(initial), C(healthy),
      C(unhealthy), C(unused), C(draining), C(unavailable)).
  returned: always
  type: list
  elements: dict
  sample:
    - {arn: "arn:aws:elasticloadbalancing:...:targetgroup/pynomaly-tg/1a", name: pynomaly-tg, vpc_id: vpc-0abc,
       port: 8000, protocol: HTTP, target_type: instance, health_check_enabled: true,
       load_balancer_arns: ["arn:aws:elasticloadbalancing:...:loadbalancer/app/pynomaly-alb/f5fe"],
       healthy: 0, total: 1,
       targets: [{id: i-0c3, port: 8000, state: unused, reason: Target.InvalidState,
                  description: Target is in the stopped state}]}
"""

from ansible_collections.sre.runbooks.plugins.module_utils.checks import elb_target_health
from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule


def main():
    check = elb_target_health
    module = RunbookModule(argument_spec=check.argument_spec(), **check.SPEC_OPTIONS, supports_check_mode=True)
    module.require_library("boto3", check.HAS_BOTO3, check.BOTO3_IMPORT_ERROR)
    module.run_check(check.run)


if __name__ == "__main__":
    main()
