"""AWS-tier drills on the lab's moto: a load balancer without healthy targets, Auto Scaling capacity lost,
a security group and a network ACL that block the application port, and the primary region failing its
health check; each found by p0-system-down.yml (or its scenario playbook), diagnosed, fixed within its
guards (or, for the network, the exact rule printed and nothing changed) and verified."""

import json

import pytest
from conftest import report_of, run_playbook, target_states

from lab import aws, dns_faults


def instance_states(lab) -> dict:
    info = lab.service("aws")
    ec2 = aws.client(info, "ec2")
    reservations = ec2.describe_instances(InstanceIds=info["instance_ids"])["Reservations"]
    return {i["InstanceId"]: i["State"]["Name"] for r in reservations for i in r["Instances"]}


def group(lab) -> dict:
    info = lab.service("aws")
    raw = aws.client(info, "autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[info["asg_name"]])["AutoScalingGroups"][0]
    return {"desired": raw["DesiredCapacity"], "max": raw["MaxSize"],
            "in_service": sum(i["LifecycleState"] == "InService" for i in raw["Instances"])}


def weights(lab) -> dict:
    info = lab.service("aws")
    sets = aws.client(info, "route53").list_resource_record_sets(
        HostedZoneId=info["hosted_zone_id"], StartRecordName=info["record_name"], StartRecordType="A")
    return {r["SetIdentifier"]: r["Weight"] for r in sets["ResourceRecordSets"]
            if r["Name"] == info["record_name"] and "SetIdentifier" in r}


def security_rules(lab) -> str:
    """The app security group's ingress and the network ACL's entries, as a comparable text."""
    info = lab.service("aws")
    ec2 = aws.client(info, "ec2")
    group_rules = ec2.describe_security_groups(GroupIds=[info["security_group_id"]])["SecurityGroups"][0]
    acl = ec2.describe_network_acls(NetworkAclIds=[info["network_acl_id"]])["NetworkAcls"][0]
    return json.dumps([group_rules["IpPermissions"], sorted(acl["Entries"], key=lambda e: (e["Egress"],
                                                                                           e["RuleNumber"]))],
                      sort_keys=True, default=str)


@pytest.mark.drill
def test_targets_unhealthy_plan_then_auto(lab, incident_dir, fault):
    fault("targets-unhealthy")
    broken_targets, broken_instances = target_states(lab), instance_states(lab)
    assert "healthy" not in broken_targets.values()

    planned = run_playbook("playbooks/p0-system-down.yml", lab.root, incident_dir,
                           {"incident_id": "DRILL-LB-PLAN"}, check=True)
    assert planned.returncode == 0, planned.stdout[-3000:]
    assert (target_states(lab), instance_states(lab)) == (broken_targets, broken_instances)
    plan, _ = report_of(incident_dir, "DRILL-LB-PLAN")
    assert "no healthy target" in plan and "PLAN ONLY" in plan

    fixed = run_playbook("playbooks/p0-system-down.yml", lab.root, incident_dir,
                         {"incident_id": "DRILL-LB", "remediation_mode": "auto"})
    assert fixed.returncode == 0, fixed.stdout[-3000:]
    assert set(instance_states(lab).values()) == {"running"}
    assert set(target_states(lab)) >= set(lab.service("aws")["instance_ids"])
    assert set(target_states(lab).values()) == {"healthy"}
    report, _ = report_of(incident_dir, "DRILL-LB")
    assert "`elb.no_healthy_targets`" in report and "**RECOVERED" in report
    assert "Did: `" in report
    assert lab.service("aws")["secret_key"] not in report


@pytest.mark.drill
def test_load_balancer_playbook_alone(lab, incident_dir, fault):
    fault("targets-unhealthy")
    fixed = run_playbook("playbooks/load-balancer.yml", lab.root, incident_dir,
                         {"incident_id": "DRILL-LB-ALONE", "remediation_mode": "auto"})
    assert fixed.returncode == 0, fixed.stdout[-3000:]
    assert set(target_states(lab).values()) == {"healthy"}
    report, _ = report_of(incident_dir, "DRILL-LB-ALONE")
    assert "**RECOVERED" in report


@pytest.mark.drill
def test_capacity_lost_scales_out_within_max(lab, incident_dir, fault):
    fault("asg-capacity-lost")
    before = group(lab)
    assert before["in_service"] < before["desired"]

    fixed = run_playbook("playbooks/capacity.yml", lab.root, incident_dir,
                         {"incident_id": "DRILL-ASG", "remediation_mode": "auto"})
    assert fixed.returncode == 0, fixed.stdout[-3000:]
    after = group(lab)
    assert after["in_service"] >= after["desired"] and after["max"] == before["max"]
    report, _ = report_of(incident_dir, "DRILL-ASG")
    assert "`asg.capacity_below_desired`" in report and "**RECOVERED" in report


@pytest.mark.drill
def test_blocked_port_prints_the_rule_and_changes_nothing(lab, incident_dir, fault):
    fault("sg-blocks-app-port")
    rules = security_rules(lab)
    result = run_playbook("playbooks/network.yml", lab.root, incident_dir,
                          {"incident_id": "DRILL-SG", "remediation_mode": "auto"})
    assert security_rules(lab) == rules  # a person changes security groups, never the run
    assert "A person applies this change" in result.stdout and "authorize-security-group-ingress" in result.stdout
    report, _ = report_of(incident_dir, "DRILL-SG")
    assert "`network.path_blocked`" in report and "NOT RECOVERED" in report
    assert result.returncode != 0


@pytest.mark.drill
def test_nacl_deny_is_diagnosed_by_the_p0_run(lab, incident_dir, fault):
    fault("nacl-deny")
    rules = security_rules(lab)
    result = run_playbook("playbooks/p0-system-down.yml", lab.root, incident_dir,
                          {"incident_id": "DRILL-NACL", "remediation_mode": "auto"})
    assert security_rules(lab) == rules
    report, _ = report_of(incident_dir, "DRILL-NACL")
    assert "A security group or network ACL blocks the path" in report and "NOT RECOVERED" in report
    assert "delete-network-acl-entry" in result.stdout
    assert result.returncode != 0


@pytest.mark.drill
def test_region_primary_down_needs_approval_then_fails_over_and_back(lab, incident_dir, fault):
    seeded = weights(lab)
    assert seeded == {"primary": 100, "secondary": 0}
    fault("region-primary-down")

    auto = run_playbook("playbooks/p0-system-down.yml", lab.root, incident_dir,
                        {"incident_id": "DRILL-REGION-AUTO", "remediation_mode": "auto"})
    assert auto.returncode != 0  # a region failover is high risk: auto mode alone does not do it
    assert weights(lab) == seeded
    report, _ = report_of(incident_dir, "DRILL-REGION-AUTO")
    assert "needs_approval" in report and "NOT RECOVERED" in report

    approved = run_playbook("playbooks/region-failover.yml", lab.root, incident_dir,
                            {"incident_id": "DRILL-REGION", "remediation_mode": "approve",
                             "approved_steps": ["route53.failover"]})
    assert approved.returncode == 0, approved.stdout[-3000:]
    assert weights(lab) == {"primary": 0, "secondary": 100}
    assert "route53_action=failback" in approved.stdout
    report, _ = report_of(incident_dir, "DRILL-REGION")
    assert "**RECOVERED" in report

    dns_faults.heal_health_checks(lab)  # the primary region is healthy again (the weights stay): fail back
    back = run_playbook("playbooks/region-failover.yml", lab.root, incident_dir,
                        {"incident_id": "DRILL-REGION-BACK", "remediation_mode": "auto",
                         "route53_action": "failback"})
    assert back.returncode == 0, back.stdout[-3000:]
    assert weights(lab) == seeded
