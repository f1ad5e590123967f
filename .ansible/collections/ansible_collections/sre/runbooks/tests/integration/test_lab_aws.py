"""The lab's AWS estate, read back over HTTP from the moto server it starts."""

from __future__ import annotations

import pytest

from lab import aws
from lab.core import Lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    return Lab(tmp_path_factory.mktemp("aws"))


@pytest.fixture(scope="module")
def info(lab):
    estate = aws.up(lab)
    lab.set_service("aws", estate)
    yield estate
    aws.down(lab)
    assert not lab.alive("moto"), "moto is still running after aws.down()"


def test_status_names_the_endpoint(lab, info):
    assert aws.status(lab) == f"moto up at {info['endpoint_url']}"


def test_three_app_instances_run_and_are_registered(info):
    ec2 = aws.client(info, "ec2")
    reservations = ec2.describe_instances(InstanceIds=info["instance_ids"])["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    assert {i["State"]["Name"] for i in instances} == {"running"}
    names = sorted(t["Value"] for i in instances for t in i["Tags"] if t["Key"] == "Name")
    assert names == ["pynomaly-app-1", "pynomaly-app-2", "pynomaly-app-3"]
    elb = aws.client(info, "elbv2")
    health = elb.describe_target_health(TargetGroupArn=info["target_group_arn"])
    targets = {
        d["Target"]["Id"]: d["TargetHealth"]["State"] for d in health["TargetHealthDescriptions"]
    }
    assert targets == {instance_id: "healthy" for instance_id in info["instance_ids"]}


def test_listener_forwards_port_80_to_the_target_group(info):
    elb = aws.client(info, "elbv2")
    listener = elb.describe_listeners(ListenerArns=[info["listener_arn"]])["Listeners"][0]
    assert listener["Port"] == 80
    assert listener["DefaultActions"][0]["TargetGroupArn"] == info["target_group_arn"]
    group = elb.describe_target_groups(Names=["pynomaly-tg"])["TargetGroups"][0]
    assert (group["Port"], group["HealthCheckPath"]) == (8000, "/health")


def test_cluster_has_one_writer_and_the_reader(info):
    rds = aws.client(info, "rds")
    cluster = rds.describe_db_clusters(DBClusterIdentifier="pynomaly-cluster")["DBClusters"][0]
    assert cluster["Engine"] == "aurora-postgresql"
    roles = {m["DBInstanceIdentifier"]: m["IsClusterWriter"] for m in cluster["DBClusterMembers"]}
    assert roles == {"pynomaly-db-1": True, "pynomaly-db-2": False}
    assert (info["rds_writer_id"], info["rds_reader_id"]) == ("pynomaly-db-1", "pynomaly-db-2")


def test_asg_sizes_and_target_group(info):
    autoscaling = aws.client(info, "autoscaling")
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["pynomaly-asg"])
    asg = group["AutoScalingGroups"][0]
    assert (asg["MinSize"], asg["MaxSize"], asg["DesiredCapacity"]) == (2, 6, 3)
    assert asg["TargetGroupARNs"] == [info["target_group_arn"]]
    assert sorted(i["InstanceId"] for i in asg["Instances"]) == info["instance_ids"]


def test_api_record_is_weighted_primary_100_secondary_0(info):
    route53 = aws.client(info, "route53")
    records = route53.list_resource_record_sets(HostedZoneId=info["hosted_zone_id"])
    weighted = {
        r["SetIdentifier"]: (r["Weight"], r["ResourceRecords"][0]["Value"], r.get("HealthCheckId"))
        for r in records["ResourceRecordSets"]
        if r["Name"] == "api.pynomaly.internal." and r["Type"] == "A"
    }
    assert {k: v[:2] for k, v in weighted.items()} == {
        "primary": (100, "10.20.1.10"),
        "secondary": (0, "10.30.1.10"),
    }
    for _, _, check_id in weighted.values():
        assert route53.get_health_check(HealthCheckId=check_id)["HealthCheck"]["Id"] == check_id


def test_application_log_group_holds_the_lines(info):
    logs = aws.client(info, "logs")
    groups = logs.describe_log_groups(logGroupNamePrefix="/")["logGroups"]
    assert {"/var/log/pynomaly/application", "/aws/applicationloadbalancer/pynomaly-alb"} <= {
        g["logGroupName"] for g in groups
    }
    events = logs.filter_log_events(logGroupName=info["log_group_name"])["events"]
    assert len(events) >= 12
    errors = [e["message"] for e in events if e["message"].startswith("ERROR")]
    assert errors and all("connection refused" in message for message in errors)
    assert any(e["message"].startswith("INFO") for e in events)


def test_security_group_allows_8000_from_the_vpc(info):
    ec2 = aws.client(info, "ec2")
    group = ec2.describe_security_groups(GroupIds=[info["security_group_id"]])["SecurityGroups"][0]
    assert group["GroupName"] == "pynomaly-app"
    rules = {(p["FromPort"], r["CidrIp"]) for p in group["IpPermissions"] for r in p["IpRanges"]}
    assert {(8000, "10.20.0.0/16"), (443, "0.0.0.0/0")} <= rules


def test_subnets_use_the_pynomaly_network_acl(info):
    ec2 = aws.client(info, "ec2")
    acl = ec2.describe_network_acls(NetworkAclIds=[info["network_acl_id"]])["NetworkAcls"][0]
    assert {a["SubnetId"] for a in acl["Associations"]} == set(info["subnet_ids"])
    allows = {(e["Egress"], e["RuleAction"]) for e in acl["Entries"] if e["RuleNumber"] == 100}
    assert allows == {(False, "allow"), (True, "allow")}
    subnets = ec2.describe_subnets(SubnetIds=info["subnet_ids"])["Subnets"]
    zones = {subnet["AvailabilityZone"] for subnet in subnets}
    assert zones == {"us-east-1a", "us-east-1b"}
