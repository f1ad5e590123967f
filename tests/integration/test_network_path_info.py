"""network_path_info against the lab's moto: the seeded paths, the two network faults, DNS and TCP connects."""

from __future__ import annotations

import socket

import pytest
from conftest import aws_connection, run_module

from lab import aws, network_faults


def network_path_info(lab, **args) -> dict:
    return run_module("network_path_info", {**aws_connection(lab), **args}, lab.root)


def lab_paths(info: dict) -> list[dict]:
    """The runbook's load balancer -> instances hop, as the lab inventory names it."""
    return [
        {"name": "alb-to-app", "source_load_balancer": info["load_balancer_name"],
         "destination_asg_name": info["asg_name"], "port": 8000},
        {"name": "vpc-to-app", "source_cidr": aws.VPC_CIDR, "destination_security_groups": [info["security_group_id"]],
         "destination_subnet_ids": info["subnet_ids"], "port": 8000},
    ]


def ids(result) -> list[str]:
    return sorted(f["id"] for f in result["findings"])


def ingress(lab) -> list[tuple]:
    info = lab.service("aws")
    group = aws.client(info, "ec2").describe_security_groups(GroupIds=[info["security_group_id"]])["SecurityGroups"][0]
    return sorted((p["IpProtocol"], p.get("FromPort"), r["CidrIp"]) for p in group["IpPermissions"]
                  for r in p["IpRanges"])


def acl_entries(lab) -> list[tuple]:
    info = lab.service("aws")
    acl = aws.client(info, "ec2").describe_network_acls(NetworkAclIds=[info["network_acl_id"]])["NetworkAcls"][0]
    return sorted((e["RuleNumber"], e["Egress"], e["RuleAction"], e["Protocol"], e["CidrBlock"],
                   (e.get("PortRange") or {}).get("From")) for e in acl["Entries"])


SEEDED_INGRESS = [("tcp", 443, "0.0.0.0/0"), ("tcp", 8000, "10.20.0.0/16")]
SEEDED_ACL = [(100, False, "allow", "-1", "0.0.0.0/0", None), (100, True, "allow", "-1", "0.0.0.0/0", None)]


@pytest.fixture
def seeded(lab):
    """The estate's security group and network ACL as seeded, before and after the test."""
    assert ingress(lab) == SEEDED_INGRESS and acl_entries(lab) == SEEDED_ACL
    yield lab.service("aws")
    network_faults.heal_sg_blocks_app_port(lab)
    network_faults.heal_nacl_deny(lab)
    assert ingress(lab) == SEEDED_INGRESS and acl_entries(lab) == SEEDED_ACL


@pytest.fixture
def open_port():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    yield server.getsockname()[1]
    server.close()


def closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def test_seeded_estate_lets_the_load_balancer_reach_the_instances(lab, seeded, open_port):
    result = network_path_info(lab, paths=lab_paths(seeded), dns=["localhost"], connect=[f"127.0.0.1:{open_port}"])
    assert result["failed"] is False and result["changed"] is False
    assert result["status"] == "ok", result["findings"]
    alb, vpc = result["paths"]
    assert (alb["name"], alb["allowed"], vpc["allowed"]) == ("alb-to-app", True, True)
    assert len(alb["sources"]) == 2 and len(alb["destinations"]) == len(seeded["instance_ids"])
    (sg_in,) = [h for h in alb["hops"] if h["kind"] == "security_group" and h["direction"] == "ingress"]
    assert sg_in["rule"] == {"group_id": seeded["security_group_id"], "group_name": "pynomaly-app", "protocol": "tcp",
                             "ports": "8000", "cidr": "10.20.0.0/16"}
    # moto starts every instance in the first subnet: the ALB's other subnet crosses the ACL both ways
    acl_hops = {(h["direction"], h["leg"]): h for h in alb["hops"] if h["kind"] == "network_acl"}
    assert set(acl_hops) == {("egress", "request"), ("ingress", "request"), ("egress", "response"),
                             ("ingress", "response")}
    assert {h["rule"]["number"] for h in acl_hops.values()} == {100}
    assert acl_hops[("egress", "response")]["ports"] == "1024-65535"
    (dns,) = result["dns"]
    assert "127.0.0.1" in dns["addresses"] and dns["error"] is None
    (conn,) = result["connect"]
    assert conn["connected"] is True and conn["latency_ms"] is not None and conn["latency_ms"] < 3000


def test_security_group_fault_names_the_missing_rule_and_its_fix(lab, seeded):
    network_faults.break_sg_blocks_app_port(lab)
    network_faults.break_sg_blocks_app_port(lab)  # a second break changes nothing
    assert ingress(lab) == [("tcp", 443, "0.0.0.0/0")]
    result = network_path_info(lab, paths=lab_paths(seeded))
    assert result["failed"] is False and result["status"] == "down"
    assert ids(result) == ["network.path_blocked", "network.path_blocked"]
    by_path = {f["evidence"]["path"]: f for f in result["findings"]}
    vpc = by_path["vpc-to-app"]["evidence"]
    assert (vpc["kind"], vpc["direction"], vpc["leg"], vpc["rule"]) == ("security_group", "ingress", "request", None)
    assert vpc["fix"] == (f"aws ec2 authorize-security-group-ingress --group-id {seeded['security_group_id']} "
                          "--ip-permissions "
                          "'IpProtocol=tcp,FromPort=8000,ToPort=8000,IpRanges=[{CidrIp=10.20.0.0/16}]'")
    alb = by_path["alb-to-app"]
    assert alb["severity"] == "critical" and "Fix: aws ec2 authorize-security-group-ingress" in alb["summary"]
    assert f"UserIdGroupPairs=[{{GroupId={seeded['security_group_id']}}}]" in alb["evidence"]["fix"]
    assert len(alb["evidence"]["flows"]) == 2 * len(seeded["instance_ids"])
    assert ingress(lab) == [("tcp", 443, "0.0.0.0/0")]  # the module changed nothing
    network_faults.heal_sg_blocks_app_port(lab)
    network_faults.heal_sg_blocks_app_port(lab)
    assert ingress(lab) == SEEDED_INGRESS


def test_network_acl_fault_names_the_denying_entry_and_its_fix(lab, seeded):
    network_faults.break_nacl_deny(lab)
    assert (50, False, "deny", "6", "0.0.0.0/0", 8000) in acl_entries(lab)
    result = network_path_info(lab, paths=lab_paths(seeded))
    assert result["status"] == "down"
    assert ids(result) == ["network.path_blocked", "network.path_blocked", "network.path_partly_blocked"]
    # stateless: the deny of inbound 8000 also drops a response to the ALB whose ephemeral port is 8000
    (partly,) = [f for f in result["findings"] if f["id"] == "network.path_partly_blocked"]
    assert partly["severity"] == "warning" and partly["evidence"]["leg"] == "response"
    assert partly["evidence"]["subnet_id"] == seeded["subnet_ids"][1] and partly["evidence"]["partial"] is True
    for found in (f for f in result["findings"] if f["id"] == "network.path_blocked"):
        evidence = found["evidence"]
        assert (evidence["kind"], evidence["direction"], evidence["leg"]) == ("network_acl", "ingress", "request")
        assert evidence["rule"] == {"number": 50, "action": "deny", "protocol": "tcp", "cidr": "0.0.0.0/0",
                                    "ports": "8000", "egress": False}
        assert evidence["network_acl_id"] == seeded["network_acl_id"]
        assert evidence["fix"] == (f"aws ec2 delete-network-acl-entry --network-acl-id {seeded['network_acl_id']} "
                                   "--ingress --rule-number 50")
        assert "--rule-number 40 --protocol tcp --port-range From=8000,To=8000" in evidence["fix_alternatives"][0]
    # the ALB's first subnet is the instances' own: only flows from its second subnet cross the ACL
    alb = next(f for f in result["findings"] if f["evidence"]["path"] == "alb-to-app")
    assert {flow.split(" -> ")[0] for flow in alb["evidence"]["flows"]} == {
        f"{seeded['load_balancer_name']} ({seeded['subnet_ids'][1]})"}
    network_faults.heal_nacl_deny(lab)
    network_faults.heal_nacl_deny(lab)
    assert acl_entries(lab) == SEEDED_ACL
    healed = network_path_info(lab, paths=lab_paths(seeded))
    assert healed["status"] == "ok" and healed["findings"] == []
    assert [p["allowed"] for p in healed["paths"]] == [True, True]


def test_dns_connect_and_missing_resources_are_findings(lab, seeded):
    port = closed_port()
    result = network_path_info(lab, paths=[{"name": "ghost", "source_load_balancer": "no-such-alb",
                                            "destination_security_groups": [seeded["security_group_id"]],
                                            "port": 8000}],
                               dns=["localhost", "pynomaly.invalid"], connect=[f"127.0.0.1:{port}"], timeout=2)
    assert result["failed"] is False and result["status"] == "down"
    assert ids(result) == ["network.connect_failed", "network.dns_failed", "network.not_found"]
    found = {f["id"]: f for f in result["findings"]}
    assert found["network.dns_failed"]["evidence"]["name"] == "pynomaly.invalid"
    assert found["network.connect_failed"]["evidence"]["port"] == port
    assert "refused" in found["network.connect_failed"]["evidence"]["error"].lower()
    assert found["network.not_found"]["evidence"]["path"] == "ghost"
    assert [d["name"] for d in result["dns"]] == ["localhost", "pynomaly.invalid"]
    assert result["dns"][0]["addresses"] and result["dns"][1]["addresses"] == []
    assert result["paths"][0]["allowed"] is None


def test_unreachable_api_is_a_finding_and_dns_still_reports(lab, seeded):
    args = {**aws_connection(lab), "endpoint_url": "http://127.0.0.1:1", "max_attempts": 1}
    result = run_module("network_path_info", {**args, "paths": lab_paths(seeded), "dns": ["localhost"]}, lab.root)
    assert result["failed"] is False and result["status"] == "unknown"
    assert ids(result) == ["network.api_unreachable"]
    assert result["findings"][0]["evidence"]["endpoint_url"] == "http://127.0.0.1:1"
    assert result["dns"][0]["error"] is None and result["paths"] == []


@pytest.mark.parametrize(("path", "message"), [
    ({"name": "p", "source_cidr": "10.0.0.0/8", "destination_security_groups": ["sg-1"]},
     "paths[0].port is required for protocol tcp"),
    ({"name": "p", "source_cidr": "10.0.0.0/33", "destination_security_groups": ["sg-1"], "port": 80},
     "paths[0].source_cidr is not a CIDR or an IP address"),
    ({"name": "p", "source_cidr": "10.0.0.0/8", "port": 80}, "paths[0] has no destination"),
    ({"name": "p", "source_load_balancer": "alb", "source_asg_name": "asg", "destination_cidr": "10.0.0.1",
      "port": 80}, "paths[0] names its source more than one way"),
])
def test_bad_path_definitions_name_the_option(lab, seeded, path, message):
    result = network_path_info(lab, paths=[path])
    assert result["failed"] is True and message in result["msg"], result["msg"]
    assert "Traceback" not in result["_stdout"]
    assert ingress(lab) == SEEDED_INGRESS


def test_bad_connect_target_names_the_option(lab):
    result = run_module("network_path_info", {"connect": ["127.0.0.1"], "dns": ["localhost"]}, lab.root)
    assert result["failed"] is True and "connect[0] must be host:port" in result["msg"]
    assert "Traceback" not in result["_stdout"]
