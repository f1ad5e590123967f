"""The lab's AWS estate: moto in server mode, seeded with the pynomaly stack.

moto is the stand-in for AWS. It runs as its own process on loopback and is
reached only over HTTP through ``endpoint_url``, as the modules reach AWS.
The estate follows the EC2/RDS system-down runbook: VPC 10.20.0.0/16 with
subnets in us-east-1a/b, a network ACL, security group ``pynomaly-app``;
ALB ``pynomaly-alb`` -> target group ``pynomaly-tg`` (HTTP 8000, /health)
whose targets are the three instances of ASG ``pynomaly-asg`` (2..6, 3);
Aurora PostgreSQL ``pynomaly-cluster`` (writer ``pynomaly-db-1``, reader
``pynomaly-db-2``); zone ``pynomaly.internal.`` with weighted records for
``api.pynomaly.internal.`` (primary 100, secondary 0); the ALB and
application log groups, the latter with recent lines incl. errors.
"""

from __future__ import annotations

import gzip
import sys
import time
from datetime import UTC, datetime, timedelta

import boto3

from .core import Lab, LabError, free_port, http

SERVICE = "pynomaly"
REGION = "us-east-1"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"
VPC_CIDR = "10.20.0.0/16"
SUBNETS = (("10.20.1.0/24", "us-east-1a"), ("10.20.2.0/24", "us-east-1b"))
ZONE_NAME = "pynomaly.internal."
RECORD_NAME = "api.pynomaly.internal."
WEIGHTED_RECORDS = (("primary", 100, "10.20.1.10"), ("secondary", 0, "10.30.1.10"))
APP_LOG_GROUP = "/var/log/pynomaly/application"
ALB_LOG_GROUP = "/aws/applicationloadbalancer/pynomaly-alb"
ACCESS_LOG_BUCKET = "pynomaly-alb-logs"
ACCESS_LOG_PREFIX = "alb"
# The access log entries of the last 15 minutes, as (count, method, path, elb status, target status (None: "-"),
# target_processing_time of each (None: -1, the target did not answer), from the failing target only).
# elb_access_log_info's tests assert what follows from them: 200 requests, 6 of them 5xx, all from the third
# instance on /api/v1/detect, 6 4xx, target_processing_time p50 0.002 / p95 0.18 / p99 5.5 over 196 samples.
ACCESS_LOG_MIX = (
    (150, "GET", "/health", 200, 200, (0.002,), False),
    (30, "POST", "/api/v1/detect", 200, 200, (0.180,), False),
    (6, "GET", "/api/v1/unknown", 404, 404, (0.003,), False),
    (8, "GET", "/api/v1/reports", 200, 200, (2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0), False),
    (4, "POST", "/api/v1/detect", 502, None, (None,), True),
    (2, "POST", "/api/v1/detect", 500, 500, (0.050,), True),
)
ACCESS_LOG_OLD_503 = 50  # one object of two days ago: 50 entries, 503 with no target (outside a 60-minute window)
ALB_LOG_LINES = (  # the ALB log group's stream: (level, elb status, target status, method, path)
    ("INFO", 200, 200, "GET", "/health"),
    ("ERROR", 502, None, "POST", "/api/v1/detect"),
    ("INFO", 200, 200, "POST", "/api/v1/detect"),
    ("ERROR", 502, None, "POST", "/api/v1/detect"),
    ("ERROR", 500, 500, "POST", "/api/v1/detect"),
    ("INFO", 200, 200, "GET", "/api/v1/models"),
    ("ERROR", 502, None, "POST", "/api/v1/detect"),
)
APP_LOG_LINES = (
    "INFO uvicorn: Started server process [4121]",
    "INFO uvicorn: Application startup complete",
    "INFO api: GET /health 200 2ms",
    "INFO api: POST /api/v1/detect 200 184ms",
    "INFO db: pool size=20 in_use=7",
    "INFO api: GET /api/v1/models 200 31ms",
    "ERROR db: could not connect to pynomaly-cluster:5432: connection refused",
    "INFO api: GET /health 200 3ms",
    "ERROR cache: redis 10.20.1.30:6379: connection refused",
    "INFO api: POST /api/v1/detect 200 201ms",
    "ERROR db: could not connect to pynomaly-cluster:5432: connection refused",
    "INFO worker: job 8812 finished in 4.2s",
)


def client(info: dict, service: str):
    """A boto3 client for one AWS service of the lab's moto."""
    return boto3.client(
        service,
        endpoint_url=info["endpoint_url"],
        region_name=info["region"],
        aws_access_key_id=info["access_key"],
        aws_secret_access_key=info["secret_key"],
    )


def up(lab: Lab) -> dict:
    """Start moto, seed the estate, return where it is and what it holds."""
    port = free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    lab.spawn("moto", argv)
    info = {
        "endpoint_url": f"http://127.0.0.1:{port}",
        "region": REGION,
        "access_key": ACCESS_KEY,
        "secret_key": SECRET_KEY,
    }
    lab.wait_started("moto", lambda: http(f"{info['endpoint_url']}/moto-api/", timeout=1)[0] == 200, 30,
                     f"moto at {info['endpoint_url']}", interval=0.2)
    try:  # aws.up is also used alone (tests): a half-seeded estate is no estate
        for seed in (_seed_network, _seed_load_balancer, _seed_compute,
                     _seed_database, _seed_dns, _seed_logs, _seed_access_logs):
            info.update(seed(info))
    except Exception:
        lab.stop("moto")
        raise
    return info


def down(lab: Lab) -> None:
    lab.stop("moto")


def status(lab: Lab) -> str:
    if not lab.alive("moto"):
        return "moto down"
    endpoint = lab.service("aws").get("endpoint_url")
    return f"moto up at {endpoint}" if endpoint else f"moto up (pid {lab.pid('moto')})"


def _tags(**tags: str) -> list[dict]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _seed_network(info: dict) -> dict:
    ec2 = client(info, "ec2")
    vpc_id = ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc_id], Tags=_tags(Name=f"{SERVICE}-vpc", Service=SERVICE))
    subnet_ids = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for cidr, zone in SUBNETS
    ]
    sg_id = ec2.create_security_group(
        GroupName=f"{SERVICE}-app", Description="pynomaly application servers", VpcId=vpc_id
    )["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg_id, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": cidr}]}
        for port, cidr in ((8000, VPC_CIDR), (443, "0.0.0.0/0"))
    ])
    acl_id = ec2.create_network_acl(VpcId=vpc_id)["NetworkAcl"]["NetworkAclId"]
    for egress in (False, True):
        ec2.create_network_acl_entry(NetworkAclId=acl_id, RuleNumber=100, Protocol="-1",
                                     RuleAction="allow", Egress=egress, CidrBlock="0.0.0.0/0")
    # New subnets start on the VPC's default ACL; move them to pynomaly's.
    default_acls = ec2.describe_network_acls(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "default", "Values": ["true"]},
    ])["NetworkAcls"]
    for assoc in default_acls[0]["Associations"]:
        if assoc["SubnetId"] in subnet_ids:
            ec2.replace_network_acl_association(
                AssociationId=assoc["NetworkAclAssociationId"], NetworkAclId=acl_id)
    return {"vpc_id": vpc_id, "subnet_ids": subnet_ids,
            "security_group_id": sg_id, "network_acl_id": acl_id}


def _seed_load_balancer(info: dict) -> dict:
    elb = client(info, "elbv2")
    lb = elb.create_load_balancer(
        Name=f"{SERVICE}-alb", Type="application", Scheme="internet-facing",
        Subnets=info["subnet_ids"], SecurityGroups=[info["security_group_id"]],
        Tags=_tags(Service=SERVICE),
    )["LoadBalancers"][0]
    tg = elb.create_target_group(
        Name=f"{SERVICE}-tg", Protocol="HTTP", Port=8000, VpcId=info["vpc_id"],
        TargetType="instance", HealthCheckProtocol="HTTP", HealthCheckPath="/health",
    )["TargetGroups"][0]
    listener = elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
    )["Listeners"][0]
    return {
        "load_balancer_arn": lb["LoadBalancerArn"], "load_balancer_name": lb["LoadBalancerName"],
        "target_group_arn": tg["TargetGroupArn"], "target_group_name": tg["TargetGroupName"],
        "listener_arn": listener["ListenerArn"],
    }


def _seed_compute(info: dict) -> dict:
    """The application servers are the Auto Scaling group's instances.

    The group registers its instances in the target group, so scaling out
    adds targets. Where moto differs from AWS: it starts every instance in
    the group's first subnet (us-east-1a); it never probes /health, so a
    registered target is "healthy" unless its instance is stopped ("unused")
    and never turns "unhealthy" by itself; scale-in leaves the removed
    instances registered.
    """
    ec2 = client(info, "ec2")
    images = ec2.describe_images(Owners=["amazon"])["Images"]
    image_id = min((image["ImageId"] for image in images), default=None)
    if image_id is None:
        raise LabError("moto lists no Amazon AMI; is MOTO_EC2_LOAD_DEFAULT_AMIS set to false?")
    template_id = ec2.create_launch_template(
        LaunchTemplateName=f"{SERVICE}-app",
        LaunchTemplateData={"ImageId": image_id, "InstanceType": "t3.small",
                            "SecurityGroupIds": [info["security_group_id"]]},
    )["LaunchTemplate"]["LaunchTemplateId"]
    autoscaling = client(info, "autoscaling")
    asg_name = f"{SERVICE}-asg"
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=asg_name, MinSize=2, MaxSize=6, DesiredCapacity=3,
        LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Latest"},
        VPCZoneIdentifier=",".join(info["subnet_ids"]), TargetGroupARNs=[info["target_group_arn"]],
        HealthCheckType="ELB", HealthCheckGracePeriod=120,
        Tags=[{"Key": "Service", "Value": SERVICE, "PropagateAtLaunch": True}],
    )
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[asg_name])
    instance_ids = sorted(i["InstanceId"] for i in group["AutoScalingGroups"][0]["Instances"])
    for number, instance_id in enumerate(instance_ids, start=1):
        ec2.create_tags(Resources=[instance_id], Tags=_tags(Name=f"{SERVICE}-app-{number}"))
    ec2.get_waiter("instance_running").wait(
        InstanceIds=instance_ids, WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    return {"instance_ids": instance_ids, "asg_name": asg_name, "launch_template_id": template_id}


def _seed_database(info: dict) -> dict:
    rds = client(info, "rds")
    cluster_id = f"{SERVICE}-cluster"
    rds.create_db_subnet_group(DBSubnetGroupName=f"{SERVICE}-db", SubnetIds=info["subnet_ids"],
                               DBSubnetGroupDescription="pynomaly database")
    rds.create_db_cluster(
        DBClusterIdentifier=cluster_id, Engine="aurora-postgresql", EngineVersion="15.4",
        MasterUsername=SERVICE, MasterUserPassword="lab-only-password",
        DatabaseName=f"{SERVICE}_prod", DBSubnetGroupName=f"{SERVICE}-db",
        VpcSecurityGroupIds=[info["security_group_id"]],
    )
    # The first instance created in a cluster becomes its writer, as in AWS.
    # moto's failover_db_cluster swaps the roles at once: no "failing-over"
    # status, no outage window, and no replica lag metric to guard on.
    for number, zone in ((1, "us-east-1a"), (2, "us-east-1b")):
        rds.create_db_instance(
            DBInstanceIdentifier=f"{SERVICE}-db-{number}", DBClusterIdentifier=cluster_id,
            Engine="aurora-postgresql", DBInstanceClass="db.r6g.large", AvailabilityZone=zone,
        )
    cluster = rds.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]
    members = cluster["DBClusterMembers"]
    writers = [m["DBInstanceIdentifier"] for m in members if m["IsClusterWriter"]]
    readers = [m["DBInstanceIdentifier"] for m in members if not m["IsClusterWriter"]]
    if len(writers) != 1 or len(readers) != 1:
        raise LabError(f"{cluster_id} should have one writer and one reader: {members}")
    return {"rds_cluster_id": cluster_id, "rds_writer_id": writers[0], "rds_reader_id": readers[0]}


def _seed_dns(info: dict) -> dict:
    route53 = client(info, "route53")
    zone_id = route53.create_hosted_zone(
        Name=ZONE_NAME, CallerReference=f"{SERVICE}-zone",
        HostedZoneConfig={"Comment": "pynomaly internal endpoints", "PrivateZone": True},
        VPC={"VPCRegion": REGION, "VPCId": info["vpc_id"]},
    )["HostedZone"]["Id"].split("/")[-1]
    changes = []
    for identifier, weight, address in WEIGHTED_RECORDS:
        # moto never probes health checks: get_health_check_status always
        # reports success, whatever the address answers.
        check_id = route53.create_health_check(
            CallerReference=f"{SERVICE}-api-{identifier}",
            HealthCheckConfig={"IPAddress": address, "Port": 8000, "Type": "HTTP",
                               "ResourcePath": "/health", "RequestInterval": 10,
                               "FailureThreshold": 3},
        )["HealthCheck"]["Id"]
        changes.append({"Action": "CREATE", "ResourceRecordSet": {
            "Name": RECORD_NAME, "Type": "A", "SetIdentifier": identifier, "Weight": weight,
            "TTL": 60, "ResourceRecords": [{"Value": address}], "HealthCheckId": check_id,
        }})
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    return {"hosted_zone_id": zone_id, "zone_name": ZONE_NAME, "record_name": RECORD_NAME}


def _seed_logs(info: dict) -> dict:
    logs = client(info, "logs")
    for group in (ALB_LOG_GROUP, APP_LOG_GROUP):
        logs.create_log_group(logGroupName=group, tags={"Service": SERVICE})
    stream = f"{SERVICE}-app-1"
    logs.create_log_stream(logGroupName=APP_LOG_GROUP, logStreamName=stream)
    start_ms = int(time.time() * 1000) - 5000 * len(APP_LOG_LINES)
    events = [{"timestamp": start_ms + 5000 * n, "message": line}
              for n, line in enumerate(APP_LOG_LINES)]
    logs.put_log_events(logGroupName=APP_LOG_GROUP, logStreamName=stream, logEvents=events)
    return {"log_group_name": APP_LOG_GROUP, "alb_log_group_name": ALB_LOG_GROUP,
            "log_stream_name": stream}


def _alb_log_line(when: datetime, lb: dict, number: int, target: str, seconds: float | None, elb_status: int,
                  target_status: int | None, method: str, path: str) -> str:
    """One entry in the documented ALB access log format (quoted fields as the ALB quotes them)."""
    no_target = target == "-"
    times = ("-1", "-1", "-1") if no_target else ("0.001", "-1" if seconds is None else f"{seconds:.3f}",
                                                 "-1" if seconds is None else "0.000")
    status = "-" if target_status is None else str(target_status)
    created = when - timedelta(seconds=seconds or 0)
    return (f"http {when:%Y-%m-%dT%H:%M:%S.%fZ} {lb['id']} 203.0.113.{10 + number % 50}:{40000 + number} {target} "
            f"{' '.join(times)} {elb_status} {status} {180 + number % 40} {420 + number % 90} "
            f'"{method} http://{lb["dns"]}:80{path} HTTP/1.1" "python-requests/2.32.3" - - {lb["tg_arn"]} '
            f'"Root=1-{int(when.timestamp()):08x}-{number:024x}" "-" "-" 0 {created:%Y-%m-%dT%H:%M:%S.%fZ} '
            f'"forward" "-" "-" "{target}" "{status}" "-" "-" TID_{number:032x}')


def _seed_access_logs(info: dict) -> dict:
    """ALB access logs in S3 as the ALB writes them, and ALB-style error lines in the ALB log group.

    One gzip object per five minutes at
    s3://pynomaly-alb-logs/alb/AWSLogs/<account>/elasticloadbalancing/<region>/<yyyy>/<mm>/<dd>/
    <account>_elasticloadbalancing_<region>_app.pynomaly-alb.<id>_<end time>_<node ip>_<random>.log.gz:
    the ACCESS_LOG_MIX entries spread over the three objects of the last 15 minutes (of the seed), the 5xx
    from the third instance; and one object of two days ago with ACCESS_LOG_OLD_503 entries 503 without a
    target. moto never writes access logs itself (nor checks the bucket policy an ALB needs), and
    access_logs.s3.* set on the load balancer is only stored.
    """
    s3 = client(info, "s3")
    account = client(info, "sts").get_caller_identity()["Account"]
    s3.create_bucket(Bucket=ACCESS_LOG_BUCKET)
    elb = client(info, "elbv2")
    raw = elb.describe_load_balancers(LoadBalancerArns=[info["load_balancer_arn"]])["LoadBalancers"][0]
    elb.modify_load_balancer_attributes(LoadBalancerArn=info["load_balancer_arn"], Attributes=[
        {"Key": "access_logs.s3.enabled", "Value": "true"},
        {"Key": "access_logs.s3.bucket", "Value": ACCESS_LOG_BUCKET},
        {"Key": "access_logs.s3.prefix", "Value": ACCESS_LOG_PREFIX}])
    lb_id = raw["LoadBalancerArn"].split(":loadbalancer/", 1)[1]
    lb = {"id": lb_id, "dns": raw["DNSName"], "tg_arn": info["target_group_arn"]}
    reservations = client(info, "ec2").describe_instances(InstanceIds=info["instance_ids"])["Reservations"]
    address = {i["InstanceId"]: i["PrivateIpAddress"] for r in reservations for i in r["Instances"]}
    targets = [f"{address[i]}:8000" for i in info["instance_ids"]]
    entries = [(method, path, elb_status, target_status, seconds[n % len(seconds)], failing)
               for count, method, path, elb_status, target_status, seconds, failing in ACCESS_LOG_MIX
               for n in range(count)]
    newest_end = datetime.now(UTC).replace(second=0, microsecond=0)
    newest_end -= timedelta(minutes=newest_end.minute % 5)
    files = {newest_end - timedelta(minutes=5 * (2 - k)): [e for n, e in enumerate(entries) if n % 3 == k]
             for k in range(3)}
    files[newest_end - timedelta(days=2)] = [("POST", "/api/v1/detect", 503, None, None, None)] * ACCESS_LOG_OLD_503
    keys, number = [], 0
    for k, (end, batch) in enumerate(sorted(files.items())):
        lines = []
        for j, (method, path, elb_status, target_status, seconds, failing) in enumerate(batch):
            number += 1
            target = "-" if failing is None else targets[-1] if failing else targets[number % len(targets)]
            when = end - timedelta(seconds=300) + timedelta(seconds=300 * (j + 1) / (len(batch) + 1))
            lines.append(_alb_log_line(when, lb, number, target, seconds, elb_status, target_status, method, path))
        key = (f"{ACCESS_LOG_PREFIX}/AWSLogs/{account}/elasticloadbalancing/{REGION}/{end:%Y/%m/%d}/"
               f"{account}_elasticloadbalancing_{REGION}_app.{raw['LoadBalancerName']}.{lb_id.rsplit('/', 1)[1]}_"
               f"{end:%Y%m%dT%H%MZ}_10.20.1.{200 + k}_{('2et2e1mx', '5m9wq0fx', '1qbq3x8k', '7h2kq4zd')[k]}.log.gz")
        body = gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)
        s3.put_object(Bucket=ACCESS_LOG_BUCKET, Key=key, Body=body)
        keys.append(key)
    logs = client(info, "logs")
    stream = raw["LoadBalancerName"]
    logs.create_log_stream(logGroupName=ALB_LOG_GROUP, logStreamName=stream)
    start_ms = int(time.time() * 1000) - 20000 * len(ALB_LOG_LINES)
    events = []
    for n, (level, elb_status, target_status, method, path) in enumerate(ALB_LOG_LINES):
        target = targets[-1] if level == "ERROR" else targets[n % len(targets)]
        reason = ' error_reason="the target closed the connection"' if target_status is None else ""
        message = (f"{level} {lb_id} elb_status_code={elb_status} target={target} "
                   f"target_status_code={'-' if target_status is None else target_status} "
                   f'"{method} http://{lb["dns"]}:80{path} HTTP/1.1"{reason}')
        events.append({"timestamp": start_ms + 20000 * n, "message": message})
    logs.put_log_events(logGroupName=ALB_LOG_GROUP, logStreamName=stream, logEvents=events)
    return {"access_log_bucket": ACCESS_LOG_BUCKET, "access_log_prefix": ACCESS_LOG_PREFIX,
            "access_log_account": account, "access_log_keys": keys, "access_log_failing_target": targets[-1],
            "alb_log_stream_name": stream}
