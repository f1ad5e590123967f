#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: network_path_info
short_description: Check that the network lets a request through, and that names resolve and ports answer
version_added: 1.0.0
description:
  - The runbook's Scenario 4 (Network Connectivity) and its Infrastructure Issues checks
    (C(aws ec2 describe-security-groups), C(aws ec2 describe-network-acls), C(nslookup), C(dig), C(curl)).
  - For each path of O(paths) (client -> load balancer -> instances -> database or cache port), reads the
    security groups and network ACLs on the way and judges each flow from a source to a destination as a
    packet meets them. The request passes the source's security groups (egress), the source subnet's ACL (outbound),
    the destination subnet's ACL (inbound), the destination's security groups (ingress); the response passes the
    destination subnet's ACL (outbound) and the source subnet's ACL (inbound), to the ephemeral ports
    1024-65535. Security groups are stateful (a response passes), ACLs are not; ACL entries are read by rule
    number, the first match decides, and what none matches is denied (rule C(*)). Source and destination in
    one subnet cross no ACL.
  - A blocked check is a C(network.path_blocked) finding naming the hop, the direction, the denying or
    missing rule and the C(aws ec2) command that would fix it. The module never changes a rule.
  - O(dns) names are resolved and O(connect) targets are connected to (TCP) from the control node, all at
    once, each bounded by O(timeout). An AWS endpoint that does not answer is a finding; the DNS and
    connect parts still report.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.aws
  - sre.runbooks.attributes
  - sre.runbooks.attributes.INFO_MODULE
options:
  paths:
    description:
      - The paths to judge. Each side (V(source_*), V(destination_*)) is named one way, by subnets (with
        an optional CIDR inside them), by a load balancer (its subnets and security groups) or by instances
        (running ones; their address, subnet and security groups), or by only a CIDR and/or security groups
        (a side outside the VPC, or one whose subnet is not known; its ACL checks are skipped).
      - At least one of O(paths), O(dns) and O(connect) is required.
    type: list
    elements: dict
    suboptions:
      name:
        description: The path's name, unique, shown in findings.
        type: str
        required: true
      port:
        description: The destination port. Required for V(tcp) and V(udp).
        type: int
      protocol:
        description: The IP protocol (V(all) is every protocol and port).
        type: str
        default: tcp
        choices: [tcp, udp, icmp, all]
      source_cidr:
        description: The source's addresses (a CIDR or an address), e.g. V(0.0.0.0/0) for the internet.
        type: str
      source_security_groups:
        description: The source's security group ids (for a load balancer or instances, they replace their own).
        type: list
        elements: str
      source_subnet_ids:
        description: The source's subnets; their CIDR is the source's addresses unless O(paths[].source_cidr).
        type: list
        elements: str
      source_load_balancer:
        description: A load balancer (ELBv2 name) as the source, in each of its subnets.
        type: str
      source_instance_ids:
        description: Instances as the source (selected as everywhere in the collection, with tags and group).
        type: list
        elements: str
      source_tags:
        description: Instances with all these tags as the source.
        type: dict
      source_asg_name:
        description: The instances of this Auto Scaling group as the source.
        type: str
      destination_cidr:
        description: The destination's addresses, e.g. a database endpoint's address.
        type: str
      destination_security_groups:
        description: The destination's security group ids (for instances, they replace their own).
        type: list
        elements: str
      destination_subnet_ids:
        description: The destination's subnets, e.g. those of the database's subnet group.
        type: list
        elements: str
      destination_load_balancer:
        description: A load balancer (ELBv2 name) as the destination (the client -> load balancer hop).
        type: str
      destination_instance_ids:
        description: Instances as the destination.
        type: list
        elements: str
      destination_tags:
        description: Instances with all these tags as the destination.
        type: dict
      destination_asg_name:
        description: The instances of this Auto Scaling group as the destination.
        type: str
  dns:
    description: Host names to resolve from the control node (the runbook's C(nslookup)/C(dig)).
    type: list
    elements: str
  connect:
    description: C(host:port) targets (C([v6-address]:port) for IPv6) to open a TCP connection to from the control node.
    type: list
    elements: str
  timeout:
    description: Seconds one name resolution or one TCP connect may take (0.1 to 60).
    type: float
    default: 3.0
  concurrency:
    description: Name resolutions and connects run at once (1 to 256).
    type: int
    default: 32
"""

EXAMPLES = r"""
- name: Check that the load balancer reaches the application port and the application its database
  sre.runbooks.network_path_info:
    region: us-east-1
    paths:
      - name: internet-to-alb
        source_cidr: 0.0.0.0/0
        destination_load_balancer: pynomaly-alb
        port: 443
      - name: alb-to-app
        source_load_balancer: pynomaly-alb
        destination_asg_name: pynomaly-asg
        port: 8000
      - name: app-to-database
        source_asg_name: pynomaly-asg
        destination_security_groups: [sg-0123456789abcdef0]
        destination_subnet_ids: [subnet-0aaa, subnet-0bbb]
        port: 5432
    dns: [prod-db.amazonaws.com, api.pynomaly.com]
    connect: ["prod-db.amazonaws.com:5432", "prod-redis.amazonaws.com:6379"]
  register: network
"""

RETURN = r"""
status:
  description:
    - C(ok); C(down) (a path is blocked, or a resource of a path does not exist); C(degraded) (a path is partly
      blocked, a name does not resolve or a target does not accept a connection); C(unknown) (the AWS
      endpoint does not answer).
  returned: always
  type: str
  sample: down
findings:
  description:
    - Ids C(network.path_blocked) (a security group or network ACL drops a flow of a path; critical; evidence
      C(path), C(hop) (the first flow, C(source -> destination)), C(flows), C(kind) (security_group or
      network_acl), C(direction) (ingress or egress), C(leg) (request or response), C(security_groups) or
      C(network_acl_id) and C(subnet_id), C(ports), C(rule) (the denying ACL entry {number, action, protocol,
      cidr, ports, egress}, number 32767 for the implicit deny; null for a security group, whose missing rule
      C(reason) describes), C(partial) (the entry denies only part of the flow), C(reason), C(fix) (the
      C(aws ec2) command that lets the flow through) and, for a denying entry, C(fix_alternatives) (allow
      entries numbered before it, one a source or destination address)),
    - C(network.path_partly_blocked) (an ACL entry denies part of a flow, some of its addresses or of the
      ephemeral ports a response goes to, e.g. an inbound deny of port 8000 also drops a response to a client
      whose ephemeral port is 8000; warning; evidence as for C(network.path_blocked)),
    - C(network.not_found) (a load balancer, group, subnet or instance of a path does not exist; critical),
    - C(network.dns_failed) (a name of O(dns) does not resolve in time; critical; evidence as in RV(dns)),
    - C(network.connect_failed) (a target of O(connect) refuses or does not answer in time; critical;
      evidence as in RV(connect)),
    - C(network.api_unreachable) (the AWS endpoint does not answer; critical; status C(unknown)).
  returned: always
  type: list
  elements: dict
  sample:
    - id: network.path_blocked
      severity: critical
      summary: >-
        path alb-to-app (tcp 8000) is blocked at pynomaly-alb (subnet-0b) -> i-0a (pynomaly-app-1) (ingress,
        request): entry 50 of acl-0c denies tcp 8000 from 0.0.0.0/0. Fix: aws ec2 delete-network-acl-entry
        --network-acl-id acl-0c --ingress --rule-number 50
      evidence: {path: alb-to-app, kind: network_acl, direction: ingress, leg: request, network_acl_id: acl-0c,
                 subnet_id: subnet-0a, rule: {number: 50, action: deny, protocol: tcp, cidr: 0.0.0.0/0,
                 ports: "8000", egress: false},
                 fix: aws ec2 delete-network-acl-entry --network-acl-id acl-0c --ingress --rule-number 50}
paths:
  description:
    - One entry a path. C(allowed) is false when a check blocks the path, C(partly_blocked) true when one
      blocks part of it; C(allowed) is null when a side has no endpoint (no running instance) or a resource
      is missing (C(reason) says which). C(hops) are the checks, alike ones merged, each with C(verdict)
      allow, deny or skipped, the C(rule) that decided (a security group rule {group_id, group_name, protocol,
      ports, cidr or source_group}, or an ACL entry), and C(flows), the source -> destination pairs it judged.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: alb-to-app, protocol: tcp, port: 8000, allowed: true, partly_blocked: false,
       sources: [pynomaly-alb (subnet-0a), pynomaly-alb (subnet-0b)], destinations: [i-0a (pynomaly-app-1)],
       hops: [{kind: security_group, direction: ingress, leg: request, verdict: allow,
               security_groups: [sg-0d], rule: {group_id: sg-0d, group_name: pynomaly-app, protocol: tcp,
               ports: "8000", cidr: 10.20.0.0/16}, flows: [pynomaly-alb (subnet-0a) -> i-0a (pynomaly-app-1)]}]}
dns:
  description: One entry a name of O(dns), with its addresses (IPv4 first) and how long the resolution took.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: localhost, addresses: ["127.0.0.1", "::1"], latency_ms: 0.4, error: null}
connect:
  description: One entry a target of O(connect), with the connect time when it connected.
  returned: always
  type: list
  elements: dict
  sample:
    - {target: "127.0.0.1:5432", host: 127.0.0.1, port: 5432, connected: true, latency_ms: 0.3, error: null}
"""

from ansible_collections.sre.runbooks.plugins.module_utils.checks import network_path
from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule


def main():
    module = RunbookModule(argument_spec=network_path.argument_spec(), **network_path.SPEC_OPTIONS,
                           supports_check_mode=True)
    module.run_check(network_path.run)


if __name__ == "__main__":
    main()
