"""The lab faults of the runbook's Scenario 4 (Network Connectivity), on the moto estate of lab/aws.py.

- ``sg-blocks-app-port``: the ingress rule tcp 8000 from the VPC (10.20.0.0/16) is removed from security
  group ``pynomaly-app``: the load balancer can no longer reach the instances.
- ``nacl-deny``: entry 50 of the pynomaly network ACL denies tcp 8000 inbound from 0.0.0.0/0, before
  entry 100 that allows everything.

heal puts the security group's ingress rules and the network ACL's entries back exactly as seeded
(SEEDED_INGRESS and SEEDED_ACL_ENTRIES mirror lab/aws.py's _seed_network): rules and entries a fault
or a person added are removed, the missing ones added. Either heal is safe to call twice.

What moto (5.2, server mode) does here, as found by calling it:

- Security group and network ACL rules are stored and described, never enforced: moto carries no
  traffic, so a fault shows only through the EC2 API (network_path_info reads it; no packet is dropped).
- ``describe_network_acls`` lists only the entries created, without AWS's implicit deny entries (rule
  number 32767, ``*``), and not sorted by rule number.
- ``delete_network_acl_entry`` of an entry that does not exist answers HTTP 500 (AWS:
  InvalidNetworkAclEntry.NotFound): heal deletes only what it has read.
- ``revoke_security_group_ingress`` of a missing rule is InvalidPermission.NotFound and a duplicate
  ``authorize`` is InvalidPermission.Duplicate, as in AWS.
"""

from __future__ import annotations

from lab import aws
from lab.core import Lab, LabError

APP_PORT = 8000
DENY_RULE_NUMBER = 50
SEEDED_INGRESS = (("tcp", 8000, aws.VPC_CIDR), ("tcp", 443, "0.0.0.0/0"))
SEEDED_ACL_ENTRIES = ((100, False), (100, True))  # (rule number, egress): -1, allow, 0.0.0.0/0


def _ec2(lab: Lab):
    info = lab.service("aws")
    if not info.get("endpoint_url"):
        raise LabError("the lab's AWS (moto) is not up: run `lab up` first")
    return info, aws.client(info, "ec2")


def _permission(protocol: str, port: int, cidr: str) -> dict:
    return {"IpProtocol": protocol, "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": cidr}]}


def _ingress(ec2, group_id: str) -> set[tuple]:
    """The group's ingress rules as (protocol, from, to, source) tuples, one per CIDR or group."""
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    rules = set()
    for perm in group.get("IpPermissions", []):
        base = (perm["IpProtocol"], perm.get("FromPort"), perm.get("ToPort"))
        rules.update(base + (("cidr", r["CidrIp"]),) for r in perm.get("IpRanges", []))
        rules.update(base + (("cidr6", r["CidrIpv6"]),) for r in perm.get("Ipv6Ranges", []))
        rules.update(base + (("group", p["GroupId"]),) for p in perm.get("UserIdGroupPairs", []))
    return rules


def _as_permission(rule: tuple) -> dict:
    protocol, low, high, (kind, value) = rule
    perm = {"IpProtocol": protocol}
    if low is not None:
        perm.update(FromPort=low, ToPort=high)
    key, item = {"cidr": ("IpRanges", "CidrIp"), "cidr6": ("Ipv6Ranges", "CidrIpv6"),
                 "group": ("UserIdGroupPairs", "GroupId")}[kind]
    perm[key] = [{item: value}]
    return perm


def _acl(ec2, acl_id: str) -> dict:
    return ec2.describe_network_acls(NetworkAclIds=[acl_id])["NetworkAcls"][0]


def break_sg_blocks_app_port(lab: Lab) -> None:
    """Remove the ingress rule tcp 8000 from the VPC from security group pynomaly-app."""
    info, ec2 = _ec2(lab)
    group_id = info["security_group_id"]
    if ("tcp", APP_PORT, APP_PORT, ("cidr", aws.VPC_CIDR)) in _ingress(ec2, group_id):
        ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[_permission("tcp", APP_PORT, aws.VPC_CIDR)])


def heal_sg_blocks_app_port(lab: Lab) -> None:
    """Put pynomaly-app's ingress rules back exactly as seeded."""
    info, ec2 = _ec2(lab)
    group_id = info["security_group_id"]
    seeded = {(protocol, port, port, ("cidr", cidr)) for protocol, port, cidr in SEEDED_INGRESS}
    current = _ingress(ec2, group_id)
    extra, missing = current - seeded, seeded - current
    if extra:
        ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[_as_permission(r) for r in sorted(extra)])
    if missing:
        ec2.authorize_security_group_ingress(GroupId=group_id,
                                             IpPermissions=[_as_permission(r) for r in sorted(missing)])


def break_nacl_deny(lab: Lab) -> None:
    """Add entry 50 to the pynomaly network ACL: deny tcp 8000 inbound from 0.0.0.0/0."""
    info, ec2 = _ec2(lab)
    acl_id = info["network_acl_id"]
    entries = {(e["RuleNumber"], e["Egress"]) for e in _acl(ec2, acl_id)["Entries"]}
    entry = {"NetworkAclId": acl_id, "RuleNumber": DENY_RULE_NUMBER, "Protocol": "6", "RuleAction": "deny",
             "Egress": False, "CidrBlock": "0.0.0.0/0", "PortRange": {"From": APP_PORT, "To": APP_PORT}}
    if (DENY_RULE_NUMBER, False) in entries:
        ec2.replace_network_acl_entry(**entry)
    else:
        ec2.create_network_acl_entry(**entry)


def heal_nacl_deny(lab: Lab) -> None:
    """Put the pynomaly network ACL's entries back exactly as seeded (100: allow all, both directions)."""
    info, ec2 = _ec2(lab)
    acl_id = info["network_acl_id"]
    seeded = {"Protocol": "-1", "RuleAction": "allow", "CidrBlock": "0.0.0.0/0"}
    for entry in _acl(ec2, acl_id)["Entries"]:
        key = (entry["RuleNumber"], entry["Egress"])
        if entry["RuleNumber"] >= 32767:  # AWS's implicit deny: not an entry anyone can change
            continue
        if key not in SEEDED_ACL_ENTRIES:
            ec2.delete_network_acl_entry(NetworkAclId=acl_id, RuleNumber=key[0], Egress=key[1])
        elif any(entry.get(k) != v for k, v in seeded.items()) or entry.get("PortRange"):
            ec2.replace_network_acl_entry(NetworkAclId=acl_id, RuleNumber=key[0], Egress=key[1], **seeded)
    present = {(e["RuleNumber"], e["Egress"]) for e in _acl(ec2, acl_id)["Entries"]}
    for number, egress in SEEDED_ACL_ENTRIES:
        if (number, egress) not in present:
            ec2.create_network_acl_entry(NetworkAclId=acl_id, RuleNumber=number, Protocol="-1",
                                         RuleAction="allow", Egress=egress, CidrBlock="0.0.0.0/0")
