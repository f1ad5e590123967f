# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure evaluation of security groups and network ACLs for one flow (no AWS call here).

Rules are read as AWS returns them (``describe_security_groups``, ``describe_network_acls``).

- A security group only allows; it is stateful: once a request is allowed in (ingress of the
  destination) or out (egress of the source), its response passes whatever the rules say.
- A network ACL is stateless: its entries are read by rule number, the first entry whose
  protocol, ports and CIDR match decides (allow or deny), and what no entry matches is denied
  (AWS shows that as rule ``*``, number 32767). The request and its response are judged
  separately; the response goes to the client's ephemeral port (EPHEMERAL_PORTS).
- A flow's remote side is a CIDR (one address is a /32). A security group rule covers it when
  the rule's CIDR contains all of it, or when the rule names one of the flow's security groups.
  A network ACL entry whose CIDR or ports cover only part of the flow denies that part
  (``partial``) when it denies and is passed over when it allows.
"""

import ipaddress

EPHEMERAL_PORTS = (1024, 65535)
IMPLICIT_DENY = 32767
PROTOCOLS = {"tcp": "6", "udp": "17", "icmp": "1", "all": "-1", "-1": "-1"}
NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "-1": "all"}


def protocol_number(protocol):
    """'6' for tcp (or '6'), '17' udp, '1' icmp, '-1' all; other IP protocol numbers pass through."""
    text = str(protocol).lower()
    return PROTOCOLS.get(text, text)


def protocol_name(protocol):
    number = protocol_number(protocol)
    return NAMES.get(number, number)


def network(cidr):
    """An ip_network for a CIDR or a bare address (a /32 or /128); ValueError when it is neither."""
    return ipaddress.ip_network(str(cidr).strip(), strict=False)


def contains(outer, inner):
    """True when every address of inner is in outer (0.0.0.0/0 holds every IPv4 address)."""
    outer, inner = network(outer), network(inner)
    return outer.version == inner.version and inner.subnet_of(outer)


def overlaps(first, second):
    first, second = network(first), network(second)
    return first.version == second.version and first.overlaps(second)


def port_text(ports):
    if ports is None:
        return "all"
    low, high = ports
    return str(low) if low == high else f"{low}-{high}"


def _ports_cover(rule_ports, ports):
    """'all', 'part' or 'none': how much of ports (low, high) the rule's (low, high) covers."""
    if rule_ports is None or ports is None:
        return "all" if rule_ports is None else "part"
    (rule_low, rule_high), (low, high) = rule_ports, ports
    if rule_low <= low and high <= rule_high:
        return "all"
    return "part" if rule_low <= high and low <= rule_high else "none"


# ---- security groups ----

def _sg_rule_ports(permission):
    low, high = permission.get("FromPort"), permission.get("ToPort")
    if protocol_number(permission.get("IpProtocol", "-1")) in ("-1", "1") or low is None or low == -1:
        return None
    return (low, high)


def _sg_protocol_matches(permission, protocol):
    rule = protocol_number(permission.get("IpProtocol", "-1"))
    return rule == "-1" or rule == protocol_number(protocol)


def sg_rule_entry(group, permission, cidr=None, group_ref=None):
    """How a finding shows one security group rule."""
    entry = {"group_id": group.get("GroupId"), "group_name": group.get("GroupName"),
             "protocol": protocol_name(permission.get("IpProtocol", "-1")),
             "ports": port_text(_sg_rule_ports(permission))}
    if cidr:
        entry["cidr"] = cidr
    if group_ref:
        entry["source_group"] = group_ref
    return entry


def sg_allows(groups, direction, protocol, port, remote_cidr=None, remote_groups=()):
    """The rule of any of groups that allows the flow, or None.

    direction: 'ingress' (remote = the source) or 'egress' (remote = the destination).
    remote_cidr: the remote side's CIDR (None: unknown, only group references and 0.0.0.0/0 or ::/0 match);
    remote_groups: the remote side's security group ids. port None = every port (protocol all, icmp).
    """
    key = "IpPermissions" if direction == "ingress" else "IpPermissionsEgress"
    ports = None if port is None else (port, port)
    for group in groups:
        for permission in group.get(key, []):
            if not _sg_protocol_matches(permission, protocol):
                continue
            if protocol_number(protocol) not in ("-1", "1") \
                    and _ports_cover(_sg_rule_ports(permission), ports) != "all":
                continue
            for pair in permission.get("UserIdGroupPairs", []):
                if pair.get("GroupId") in remote_groups:
                    return sg_rule_entry(group, permission, group_ref=pair["GroupId"])
            for item in permission.get("IpRanges", []) + permission.get("Ipv6Ranges", []):
                cidr = item.get("CidrIp") or item.get("CidrIpv6")
                if not cidr:
                    continue
                # An unknown remote address is covered only by a rule for every address.
                if contains(cidr, remote_cidr) if remote_cidr else network(cidr).prefixlen == 0:
                    return sg_rule_entry(group, permission, cidr=cidr)
    return None


# ---- network ACLs ----

def _acl_rule_ports(entry):
    if protocol_number(entry.get("Protocol", "-1")) in ("-1", "1"):
        return None
    port_range = entry.get("PortRange") or {}
    if port_range.get("From") is None:
        return None
    return (port_range["From"], port_range["To"])


def acl_rule_entry(entry):
    """How a finding shows one network ACL entry (the implicit deny is number 32767, rule '*')."""
    return {"number": entry.get("RuleNumber"), "action": entry.get("RuleAction"),
            "protocol": protocol_name(entry.get("Protocol", "-1")),
            "cidr": entry.get("CidrBlock") or entry.get("Ipv6CidrBlock"),
            "ports": port_text(_acl_rule_ports(entry)), "egress": bool(entry.get("Egress"))}


def acl_decision(acl, egress, protocol, ports, remote_cidr):
    """(allowed, rule, partial): what the network ACL does with the flow in one direction.

    egress: the outbound entries (else inbound); ports: (low, high) of the packet's destination port,
    None for every port; remote_cidr: the other side (the source for inbound, the destination for
    outbound). rule is the deciding entry (acl_rule_entry); partial: it decides only part of the flow.
    """
    entries = sorted((e for e in acl.get("Entries", []) if bool(e.get("Egress")) == egress
                      and e.get("RuleNumber", IMPLICIT_DENY) < IMPLICIT_DENY),
                     key=lambda e: e["RuleNumber"])
    number = protocol_number(protocol)
    for entry in entries:
        rule_protocol = protocol_number(entry.get("Protocol", "-1"))
        if rule_protocol not in ("-1", number):
            continue
        cidr = entry.get("CidrBlock") or entry.get("Ipv6CidrBlock")
        if not cidr or not overlaps(cidr, remote_cidr):
            continue
        port_cover = "all" if number in ("-1", "1") else _ports_cover(_acl_rule_ports(entry), ports)
        if port_cover == "none":
            continue
        whole = port_cover == "all" and contains(cidr, remote_cidr)
        allow = entry.get("RuleAction") == "allow"
        if whole or not allow:
            return allow, acl_rule_entry(entry), not whole
    implicit = {"RuleNumber": IMPLICIT_DENY, "RuleAction": "deny", "Protocol": "-1", "Egress": egress,
                "CidrBlock": "0.0.0.0/0" if network(remote_cidr).version == 4 else "::/0"}
    return False, acl_rule_entry(implicit), False


def free_rule_number(acl, egress, below=IMPLICIT_DENY):
    """A rule number free in that direction, below `below` (the highest multiple of 10 first), or None."""
    used = {e.get("RuleNumber") for e in acl.get("Entries", []) if bool(e.get("Egress")) == egress}
    candidates = [n for n in range(below - 1, 0, -1) if n not in used]
    tens = [n for n in candidates if n % 10 == 0]
    return (tens or candidates or [None])[0]


# ---- the fix a person applies ----

def _cli_ports(protocol, ports):
    number = protocol_number(protocol)
    if number == "-1":
        return "--protocol -1"
    if number == "1":
        return "--protocol icmp --icmp-type-code Type=-1,Code=-1"
    low, high = ports or (0, 65535)
    return f"--protocol {protocol_name(protocol)} --port-range From={low},To={high}"


def acl_allow_fix(acl_id, egress, number, protocol, ports, cidr):
    direction = "--egress" if egress else "--ingress"
    return (f"aws ec2 create-network-acl-entry --network-acl-id {acl_id} {direction} --rule-number {number} "
            f"{_cli_ports(protocol, ports)} --cidr-block {cidr} --rule-action allow")


def acl_delete_fix(acl_id, egress, number):
    direction = "--egress" if egress else "--ingress"
    return f"aws ec2 delete-network-acl-entry --network-acl-id {acl_id} {direction} --rule-number {number}"


def sg_allow_fix(group_id, direction, protocol, port, cidr=None, remote_group=None):
    """The aws ec2 authorize-security-group-ingress/-egress line that adds the missing rule."""
    number = protocol_number(protocol)
    permission = f"IpProtocol={protocol_name(protocol) if number != '-1' else '-1'}"
    if number not in ("-1", "1") and port is not None:
        permission += f",FromPort={port},ToPort={port}"
    elif number == "1":
        permission += ",FromPort=-1,ToPort=-1"
    if remote_group:
        permission += f",UserIdGroupPairs=[{{GroupId={remote_group}}}]"
    else:
        key = "Ipv6Ranges=[{CidrIpv6=" if network(cidr).version == 6 else "IpRanges=[{CidrIp="
        permission += f",{key}{cidr}}}]"
    return f"aws ec2 authorize-security-group-{direction} --group-id {group_id} --ip-permissions '{permission}'"


# ---- one flow between two endpoints ----

def endpoint(label, cidr=None, subnet_id=None, acl=None, groups=()):
    """One side of a flow: label (for a person), cidr (its addresses, or None when unknown),
    subnet_id and acl (its subnet's network ACL as described, or None), groups (security groups as described)."""
    return {"label": label, "cidr": cidr, "subnet_id": subnet_id, "acl": acl, "groups": list(groups)}


def _group_ids(side):
    return [g.get("GroupId") for g in side["groups"]]


def _sg_hop(hop, side, remote, direction, protocol, port):
    """A security group check: the rule that allows, or the missing rule and its fix."""
    result = {"hop": hop, "kind": "security_group", "direction": direction, "leg": "request",
              "security_groups": _group_ids(side)}
    if not side["groups"]:
        return dict(result, verdict="skipped", reason=f"no security group known for {side['label']}")
    if remote["cidr"] is None and not remote["groups"]:
        return dict(result, verdict="skipped", reason=f"the addresses of {remote['label']} are unknown")
    rule = sg_allows(side["groups"], direction, protocol, port, remote["cidr"], _group_ids(remote))
    if rule:
        return dict(result, verdict="allow", rule=rule)
    # The fix names the remote side's security group when it has one (one rule for every member), else its CIDR.
    remote_group = _group_ids(remote)[0] if remote["groups"] else None
    fix = sg_allow_fix(side["groups"][0]["GroupId"], direction, protocol, port, remote["cidr"], remote_group)
    way = "from" if direction == "ingress" else "to"
    remote_text = " or ".join(x for x in (remote["cidr"], remote_group) if x)
    reason = (f"no {direction} rule of {', '.join(_group_ids(side))} allows {protocol_name(protocol)} "
              f"{port_text(None if port is None else (port, port))} {way} {remote_text}")
    return dict(result, verdict="deny", rule=None, reason=reason, fix=fix)


def _acl_hop(hop, side, remote, egress, leg, protocol, ports):
    """A network ACL check of side's subnet, one direction of one leg (request or response)."""
    acl = side["acl"]
    result = {"hop": hop, "kind": "network_acl", "direction": "egress" if egress else "ingress", "leg": leg,
              "subnet_id": side["subnet_id"], "network_acl_id": (acl or {}).get("NetworkAclId"),
              "ports": port_text(ports)}
    if acl is None:
        reason = f"the subnet of {side['label']} is unknown" if side["subnet_id"] is None else \
            f"no network ACL is associated with {side['subnet_id']}"
        return dict(result, verdict="skipped", reason=reason)
    if remote["cidr"] is None:
        return dict(result, verdict="skipped", reason=f"the addresses of {remote['label']} are unknown")
    allowed, rule, partial = acl_decision(acl, egress, protocol, ports, remote["cidr"])
    result.update(rule=rule, partial=partial)
    if allowed:
        return dict(result, verdict="allow")
    acl_id = acl.get("NetworkAclId")
    allow_number = free_rule_number(acl, egress, below=rule["number"])
    add = allow_number and acl_allow_fix(acl_id, egress, allow_number, protocol, ports, remote["cidr"])
    if rule["number"] == IMPLICIT_DENY:
        reason = f"no entry of {acl_id} matches, so its implicit deny (rule *) applies"
        return dict(result, verdict="deny", reason=reason, fix=add)
    reason = (f"entry {rule['number']} of {acl_id} denies {rule['protocol']} {rule['ports']} "
              f"{'to' if egress else 'from'} {rule['cidr']}" + (" (part of the flow)" if partial else ""))
    # Deleting the deny restores what the entries behind it allow; adding an allow before it keeps the deny
    # for the rest of its traffic.
    return dict(result, verdict="deny", reason=reason, fix=acl_delete_fix(acl_id, egress, rule["number"]),
                fix_alternative=add or None)


def evaluate_flow(source, destination, protocol, port, ephemeral=EPHEMERAL_PORTS):
    """Every check of the flow source -> destination:port, in the order a packet meets them.

    The request leaves through the source's security groups (egress) and its subnet's ACL (outbound),
    enters through the destination subnet's ACL (inbound) and the destination's security groups
    (ingress); the response leaves the destination subnet (outbound, to the ephemeral port) and enters
    the source subnet (inbound). Both sides in one subnet: no ACL is crossed. Each check is a dict with
    verdict allow | deny | skipped (see _sg_hop, _acl_hop).
    """
    number = protocol_number(protocol)
    service_ports = None if number in ("-1", "1") or port is None else (port, port)
    reply_ports = None if number in ("-1", "1") else ephemeral
    hop = f"{source['label']} -> {destination['label']}"
    checks = [_sg_hop(hop, source, destination, "egress", protocol, port)]
    same_subnet = source["subnet_id"] is not None and source["subnet_id"] == destination["subnet_id"]
    if not same_subnet:
        checks += [_acl_hop(hop, source, destination, True, "request", protocol, service_ports),
                   _acl_hop(hop, destination, source, False, "request", protocol, service_ports)]
    checks.append(_sg_hop(hop, destination, source, "ingress", protocol, port))
    if not same_subnet:
        checks += [_acl_hop(hop, destination, source, True, "response", protocol, reply_ports),
                   _acl_hop(hop, source, destination, False, "response", protocol, reply_ports)]
    return checks
