import pytest

from ansible_collections.sre.runbooks.plugins.module_utils import netpath

VPC = "10.20.0.0/16"


def perm(protocol="tcp", low=8000, high=None, cidrs=(), groups=()):
    out = {"IpProtocol": protocol, "IpRanges": [{"CidrIp": c} for c in cidrs],
           "UserIdGroupPairs": [{"GroupId": g} for g in groups]}
    if low is not None:
        out.update(FromPort=low, ToPort=low if high is None else high)
    return out


def sg(group_id, ingress=(), egress=None):
    egress = [perm("-1", None, cidrs=["0.0.0.0/0"])] if egress is None else egress
    return {"GroupId": group_id, "GroupName": group_id, "IpPermissions": list(ingress),
            "IpPermissionsEgress": list(egress)}


def entry(number, action="allow", protocol="-1", cidr="0.0.0.0/0", egress=False, ports=None):
    out = {"RuleNumber": number, "RuleAction": action, "Protocol": protocol, "CidrBlock": cidr, "Egress": egress}
    if ports:
        out["PortRange"] = {"From": ports[0], "To": ports[1]}
    return out


def acl(*entries, acl_id="acl-1"):
    return {"NetworkAclId": acl_id, "Entries": list(entries)}


OPEN_ACL = acl(entry(100), entry(100, egress=True))


@pytest.mark.parametrize(("outer", "inner", "expected"), [
    ("0.0.0.0/0", "10.20.1.4/32", True),
    ("0.0.0.0/0", "10.20.0.0/16", True),
    ("10.20.0.0/16", "10.20.1.0/24", True),
    ("10.20.1.0/24", "10.20.0.0/16", False),
    ("10.20.0.0/16", "10.21.0.4", False),
    ("10.20.0.0/16", "10.20.3.7", True),
    ("0.0.0.0/0", "::1/128", False),
    ("::/0", "2001:db8::/64", True),
])
def test_cidr_containment(outer, inner, expected):
    assert netpath.contains(outer, inner) is expected


def test_protocol_names_and_numbers():
    numbers = [netpath.protocol_number(p) for p in ("tcp", "udp", "icmp", "all", "-1", "6")]
    assert numbers == ["6", "17", "1", "-1", "-1", "6"]
    assert netpath.protocol_name("6") == "tcp" and netpath.protocol_name("-1") == "all"


def test_sg_allows_by_cidr_and_port_range():
    group = sg("sg-app", ingress=[perm(low=443, cidrs=["0.0.0.0/0"]), perm(low=8000, high=8080, cidrs=[VPC])])
    rule = netpath.sg_allows([group], "ingress", "tcp", 8000, "10.20.2.0/24")
    assert rule == {"group_id": "sg-app", "group_name": "sg-app", "protocol": "tcp", "ports": "8000-8080",
                    "cidr": VPC}
    assert netpath.sg_allows([group], "ingress", "tcp", 8000, "10.30.0.0/24") is None  # outside the VPC
    assert netpath.sg_allows([group], "ingress", "tcp", 8000, "0.0.0.0/0") is None  # only part of it is allowed
    assert netpath.sg_allows([group], "ingress", "tcp", 9000, "10.20.2.0/24") is None
    assert netpath.sg_allows([group], "ingress", "udp", 8000, "10.20.2.0/24") is None
    assert netpath.sg_allows([group], "ingress", "tcp", 443, "203.0.113.9")["cidr"] == "0.0.0.0/0"


def test_sg_all_protocols_rule_allows_every_port():
    group = sg("sg-db", ingress=[perm("-1", None, cidrs=[VPC])])
    assert netpath.sg_allows([group], "ingress", "tcp", 5432, "10.20.1.4/32")["protocol"] == "all"
    assert netpath.sg_allows([group], "ingress", "udp", 53, "10.20.1.4/32")["ports"] == "all"
    assert netpath.sg_allows([group], "ingress", "icmp", None, "10.20.1.4/32") is not None


def test_sg_to_sg_reference():
    db = sg("sg-db", ingress=[perm(low=5432, groups=["sg-app"])])
    rule = netpath.sg_allows([db], "ingress", "tcp", 5432, "10.20.1.4/32", ["sg-app"])
    assert rule["source_group"] == "sg-app" and "cidr" not in rule
    assert netpath.sg_allows([db], "ingress", "tcp", 5432, "10.20.1.4/32", ["sg-other"]) is None
    # an unknown address is covered by a rule for every address only
    assert netpath.sg_allows([sg("sg-alb")], "egress", "tcp", 5432, None, ["sg-db"])["cidr"] == "0.0.0.0/0"
    assert netpath.sg_allows([sg("sg-x", ingress=[perm(low=5432, cidrs=[VPC])])], "ingress", "tcp", 5432,
                             None, ["sg-app"]) is None
    # any of the destination's groups may allow (their rules add up)
    assert netpath.sg_allows([sg("sg-x"), db], "ingress", "tcp", 5432, None, ["sg-app"])["group_id"] == "sg-db"


def test_acl_first_match_by_rule_number_wins():
    rules = acl(entry(100), entry(50, "deny", "6", ports=(8000, 8000)))  # listed out of order, as moto does
    allowed, rule, partial = netpath.acl_decision(rules, False, "tcp", (8000, 8000), VPC)
    assert (allowed, rule["number"], rule["action"], rule["ports"], partial) == (False, 50, "deny", "8000", False)
    assert netpath.acl_decision(rules, False, "tcp", (443, 443), VPC)[:2] == (True, netpath.acl_rule_entry(entry(100)))
    # an allow numbered before the deny wins
    rules["Entries"].append(entry(40, "allow", "6", cidr="10.20.2.0/24", ports=(8000, 8000)))
    assert netpath.acl_decision(rules, False, "tcp", (8000, 8000), "10.20.2.0/24")[1]["number"] == 40
    assert netpath.acl_decision(rules, False, "tcp", (8000, 8000), "10.20.1.0/24")[1]["number"] == 50


def test_acl_implicit_deny_and_direction():
    only_in = acl(entry(100))
    allowed, rule = netpath.acl_decision(only_in, True, "tcp", (8000, 8000), VPC)[:2]
    assert not allowed and rule["number"] == 32767 and rule["action"] == "deny" and rule["egress"] is True
    assert netpath.acl_decision(only_in, False, "udp", (53, 53), VPC)[0] is True


def test_acl_ephemeral_ports_must_be_covered_whole():
    narrow = acl(entry(100, protocol="6", egress=True, ports=(32768, 60999)))
    allowed, rule = netpath.acl_decision(narrow, True, "tcp", netpath.EPHEMERAL_PORTS, VPC)[:2]
    assert not allowed and rule["number"] == 32767  # the part below 32768 falls to the implicit deny
    wide = acl(entry(100, protocol="6", egress=True, ports=(1024, 65535)))
    assert netpath.acl_decision(wide, True, "tcp", netpath.EPHEMERAL_PORTS, VPC)[0] is True
    part_deny = acl(entry(90, "deny", "6", egress=True, ports=(2000, 3000)), entry(100, egress=True))
    allowed, rule, partial = netpath.acl_decision(part_deny, True, "tcp", netpath.EPHEMERAL_PORTS, VPC)
    assert (allowed, rule["number"], partial) == (False, 90, True)


def test_acl_partial_cidr_deny_blocks_and_partial_allow_is_passed_over():
    rules = acl(entry(10, "allow", cidr="10.20.1.0/24"), entry(20, "deny", cidr="10.20.2.0/24"), entry(100))
    allowed, rule, partial = netpath.acl_decision(rules, False, "tcp", (8000, 8000), VPC)
    assert (allowed, rule["number"], partial) == (False, 20, True)
    assert netpath.acl_decision(rules, False, "tcp", (8000, 8000), "10.20.1.7/32")[1]["number"] == 10
    assert netpath.acl_decision(rules, False, "tcp", (8000, 8000), "10.30.0.0/16")[1]["number"] == 100


def test_acl_all_protocol_entry_matches_icmp_and_ignores_ports():
    rules = acl(entry(100, "deny", "-1", cidr="0.0.0.0/0"))
    assert netpath.acl_decision(rules, False, "icmp", None, VPC)[1]["number"] == 100
    assert netpath.acl_decision(acl(entry(100, protocol="6")), False, "icmp", None, VPC)[1]["number"] == 32767


def test_free_rule_number_below_a_deny():
    rules = acl(entry(50, "deny"), entry(40), entry(100))
    assert netpath.free_rule_number(rules, False, below=50) == 30
    assert netpath.free_rule_number(rules, True) == 32760
    assert netpath.free_rule_number(acl(entry(1)), False, below=1) is None


def endpoints(dest_groups, dest_acl=None, source_acl=None, same_subnet=False):
    dest_acl, source_acl = dest_acl or OPEN_ACL, source_acl or OPEN_ACL
    alb = netpath.endpoint("alb", "10.20.2.0/24", "subnet-b", source_acl, [sg("sg-alb")])
    app = netpath.endpoint("i-1", "10.20.1.4/32", "subnet-b" if same_subnet else "subnet-a", dest_acl, dest_groups)
    return alb, app


def verdicts(checks):
    return [(c["kind"], c["direction"], c["leg"], c["verdict"]) for c in checks]


def test_flow_checks_both_directions_in_packet_order():
    alb, app = endpoints([sg("sg-app", ingress=[perm(cidrs=[VPC])])])
    checks = netpath.evaluate_flow(alb, app, "tcp", 8000)
    assert verdicts(checks) == [
        ("security_group", "egress", "request", "allow"), ("network_acl", "egress", "request", "allow"),
        ("network_acl", "ingress", "request", "allow"), ("security_group", "ingress", "request", "allow"),
        ("network_acl", "egress", "response", "allow"), ("network_acl", "ingress", "response", "allow")]
    assert checks[4]["ports"] == "1024-65535" and checks[1]["ports"] == "8000"
    assert checks[2]["network_acl_id"] == "acl-1" and checks[2]["subnet_id"] == "subnet-a"


def test_flow_within_one_subnet_crosses_no_acl():
    alb, app = endpoints([sg("sg-app", ingress=[perm(cidrs=[VPC])])], dest_acl=acl(), same_subnet=True)
    assert [c["kind"] for c in netpath.evaluate_flow(alb, app, "tcp", 8000)] == ["security_group"] * 2


def test_missing_sg_rule_gives_the_authorize_command():
    alb, app = endpoints([sg("sg-app", ingress=[perm(low=443, cidrs=["0.0.0.0/0"])])])
    (denied,) = [c for c in netpath.evaluate_flow(alb, app, "tcp", 8000) if c["verdict"] == "deny"]
    assert (denied["kind"], denied["direction"], denied["rule"]) == ("security_group", "ingress", None)
    assert "no ingress rule of sg-app allows tcp 8000 from 10.20.2.0/24 or sg-alb" in denied["reason"]
    assert denied["fix"] == ("aws ec2 authorize-security-group-ingress --group-id sg-app --ip-permissions "
                             "'IpProtocol=tcp,FromPort=8000,ToPort=8000,UserIdGroupPairs=[{GroupId=sg-alb}]'")
    client = netpath.endpoint("internet", "0.0.0.0/0")
    (denied,) = [c for c in netpath.evaluate_flow(client, app, "tcp", 8000) if c["verdict"] == "deny"]
    assert denied["fix"].endswith("'IpProtocol=tcp,FromPort=8000,ToPort=8000,IpRanges=[{CidrIp=0.0.0.0/0}]'")


def test_denying_acl_entry_gives_delete_and_an_earlier_allow():
    dest_acl = acl(entry(100), entry(100, egress=True), entry(50, "deny", "6", ports=(8000, 8000)), acl_id="acl-9")
    alb, app = endpoints([sg("sg-app", ingress=[perm(cidrs=[VPC])])], dest_acl=dest_acl)
    (denied,) = [c for c in netpath.evaluate_flow(alb, app, "tcp", 8000) if c["verdict"] == "deny"]
    assert (denied["direction"], denied["leg"], denied["rule"]["number"]) == ("ingress", "request", 50)
    assert denied["fix"] == "aws ec2 delete-network-acl-entry --network-acl-id acl-9 --ingress --rule-number 50"
    assert denied["fix_alternative"] == (
        "aws ec2 create-network-acl-entry --network-acl-id acl-9 --ingress --rule-number 40 --protocol tcp "
        "--port-range From=8000,To=8000 --cidr-block 10.20.2.0/24 --rule-action allow")


def test_response_blocked_by_stateless_acl_without_ephemeral_ports():
    dest_acl = acl(entry(100), entry(100, "allow", "6", egress=True, ports=(8000, 8000)))
    alb, app = endpoints([sg("sg-app", ingress=[perm(cidrs=[VPC])])], dest_acl=dest_acl)
    (denied,) = [c for c in netpath.evaluate_flow(alb, app, "tcp", 8000) if c["verdict"] == "deny"]
    assert (denied["direction"], denied["leg"], denied["rule"]["number"]) == ("egress", "response", 32767)
    assert "implicit deny" in denied["reason"]
    assert denied["fix"] == (
        "aws ec2 create-network-acl-entry --network-acl-id acl-1 --egress --rule-number 32760 --protocol tcp "
        "--port-range From=1024,To=65535 --cidr-block 10.20.2.0/24 --rule-action allow")


def test_source_egress_and_unknown_sides_are_skipped_or_judged():
    alb, app = endpoints([sg("sg-app", ingress=[perm(cidrs=[VPC])])])
    alb["groups"] = [sg("sg-alb", egress=[perm(low=443, cidrs=["0.0.0.0/0"])])]
    first = netpath.evaluate_flow(alb, app, "tcp", 8000)[0]
    assert (first["direction"], first["verdict"]) == ("egress", "deny")
    assert first["fix"].startswith("aws ec2 authorize-security-group-egress --group-id sg-alb")
    client = netpath.endpoint("internet", "0.0.0.0/0")
    checks = netpath.evaluate_flow(client, app, "tcp", 8000)
    assert [c["verdict"] for c in checks] == ["skipped", "skipped", "allow", "deny", "allow", "skipped"]
