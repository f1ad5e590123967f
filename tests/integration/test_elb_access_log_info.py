"""elb_access_log_info against the lab's moto: the ALB access logs lab/aws.py seeds in S3 and the ALB log group.

The seed (lab/aws.py ACCESS_LOG_MIX): three objects of the last 15 minutes with 200 entries, 6 of them 5xx from
the third instance on /api/v1/detect, 6 4xx, target_processing_time p50 0.002 / p95 0.18 / p99 5.5 over 196
samples, /api/v1/reports the slow path; one object of two days ago with 50 entries 503 without a target; and
seven lines in the ALB log group, four of them ERROR.
"""

from __future__ import annotations

import pytest
from conftest import aws_connection, run_module

from lab import aws

WINDOW = 720  # minutes: the seeded objects are in it however long the suite has run, the old one is not


def logs_info(lab, **args) -> dict:
    return run_module("elb_access_log_info", {**aws_connection(lab), **args}, lab.root)


def ids(result) -> list[str]:
    return sorted(f["id"] for f in result["findings"])


@pytest.fixture
def estate(lab):
    """The seeded bucket's objects (key -> size), the same after the test."""
    info = lab.service("aws")
    s3 = aws.client(info, "s3")

    def objects():
        return {o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket=info["access_log_bucket"])["Contents"]}

    before = objects()
    assert sorted(before) == sorted(info["access_log_keys"])
    yield info, before
    assert objects() == before


def test_seeded_window_counts_5xx_latency_and_error_lines(lab, estate):
    info, _ = estate
    result = logs_info(lab, s3_bucket=info["access_log_bucket"], s3_prefix=info["access_log_prefix"],
                       load_balancer_name=info["load_balancer_name"], log_group_name=info["alb_log_group_name"],
                       window_minutes=WINDOW)
    assert result["failed"] is False and result["changed"] is False
    assert result["status"] == "ok" and result["findings"] == []
    failing = info["access_log_failing_target"]
    assert (result["requests"], result["errors_5xx"], result["errors_4xx"], result["error_rate"]) == (200, 6, 6, 0.03)
    assert result["errors_5xx_by_target"] == {failing: 6}
    assert result["errors_5xx_by_path"] == {"/api/v1/detect": 6}
    assert result["latency"] == {"p50": 0.002, "p95": 0.18, "p99": 5.5, "samples": 196}
    assert result["slow_paths"][0] == {"path": "/api/v1/reports", "requests": 8, "p95_seconds": 6.0}
    assert len(result["error_lines"]) == 6 and all(f" {failing} " in line for line in result["error_lines"])
    s3 = result["s3"]
    assert (s3["objects_in_window"], s3["objects_read"], s3["truncated"], s3["unparsed_lines"]) == (3, 3, False, 0)
    # the log group: exactly the ERROR lines the backend holds
    events = aws.client(info, "logs").get_log_events(logGroupName=info["alb_log_group_name"],
                                                     logStreamName=info["alb_log_stream_name"])["events"]
    errors = [e["message"] for e in events if e["message"].startswith("ERROR")]
    assert len(errors) == 4 and len(events) == 7
    cloudwatch = result["cloudwatch"]
    assert (cloudwatch["events_matched"], cloudwatch["truncated"], cloudwatch["filter_pattern"]) == (4, False, "ERROR")
    assert [line["message"] for line in cloudwatch["lines"]] == errors


def test_thresholds_raise_error_rate_and_latency_findings(lab, estate):
    info, _ = estate
    result = logs_info(lab, s3_bucket=info["access_log_bucket"], s3_prefix="/alb/", window_minutes=WINDOW,
                       max_error_rate=0.02, max_p95_seconds=0.1)
    assert result["failed"] is False and result["status"] == "degraded"
    assert ids(result) == ["elb_logs.error_rate_high", "elb_logs.latency_high"]
    rate, latency = sorted(result["findings"], key=lambda f: f["id"])
    assert rate["severity"] == "critical" and rate["evidence"]["by_target"] == {info["access_log_failing_target"]: 6}
    assert (rate["evidence"]["error_rate"], rate["evidence"]["requests"]) == (0.03, 200)
    assert rate["summary"] == (f"3.0% of 200 requests answered 5xx (max 2.0%); most from target "
                               f"{info['access_log_failing_target']}")
    assert latency["severity"] == "warning" and latency["evidence"]["p95_seconds"] == 0.18
    assert latency["evidence"]["slow_paths"][0]["path"] == "/api/v1/reports"
    assert result["cloudwatch"] is None


def test_a_wider_window_reaches_the_old_outage(lab, estate):
    info, _ = estate
    result = logs_info(lab, s3_bucket=info["access_log_bucket"], s3_prefix="alb", window_minutes=3 * 1440)
    assert result["status"] == "degraded" and ids(result) == ["elb_logs.error_rate_high"]
    assert (result["requests"], result["errors_5xx"], result["s3"]["objects_read"]) == (250, 56, 4)
    assert result["errors_5xx_by_target"] == {"-": 50, info["access_log_failing_target"]: 6}


def test_max_bytes_bounds_the_read_and_says_so(lab, estate):
    info, sizes = estate
    newest = max(info["access_log_keys"])  # the same day and load balancer: the name's time sorts them
    result = logs_info(lab, s3_bucket=info["access_log_bucket"], s3_prefix="alb", window_minutes=WINDOW,
                       max_bytes=sizes[newest])
    s3 = result["s3"]
    assert (s3["objects_read"], s3["objects_cut"], s3["objects_not_read"], s3["truncated"]) == (1, 0, 2, True)
    assert s3["bytes_read"] == sizes[newest] and result["requests"] == 66  # entries 2, 5, 8, ... of the mix
    result = logs_info(lab, s3_bucket=info["access_log_bucket"], s3_prefix="alb", window_minutes=WINDOW,
                       max_bytes=sizes[newest] + 400)
    s3 = result["s3"]
    assert (s3["objects_read"], s3["objects_cut"], s3["objects_not_read"], s3["truncated"]) == (2, 1, 1, True)
    assert s3["bytes_read"] == sizes[newest] + 400 and 66 <= result["requests"] < 133
    assert s3["unparsed_lines"] == 0  # the cut object's last, partial line is left out


def test_missing_bucket_log_group_or_entries_are_findings_not_failures(lab, estate):
    result = logs_info(lab, s3_bucket="no-such-alb-logs", log_group_name="/aws/applicationloadbalancer/nope")
    assert result["failed"] is False and result["status"] == "unknown"
    assert ids(result) == ["elb_logs.unreadable", "elb_logs.unreadable"]
    evidence = {f["evidence"]["source"]: f["evidence"] for f in result["findings"]}
    assert evidence["s3"]["error_code"] == "NoSuchBucket" and evidence["s3"]["location"] == "no-such-alb-logs"
    assert evidence["cloudwatch"]["error_code"] == "ResourceNotFoundException"
    assert result["requests"] == 0 and result["cloudwatch"] is None
    result = logs_info(lab, s3_bucket="pynomaly-alb-logs", s3_prefix="elsewhere")
    assert result["failed"] is False and result["status"] == "unknown" and ids(result) == ["elb_logs.no_entries"]
    assert result["findings"][0]["evidence"] == {"location": "pynomaly-alb-logs/elsewhere", "window_minutes": 60,
                                                 "objects_in_window": 0}


def test_unreachable_endpoint_is_a_finding_not_a_failure(lab):
    result = logs_info(lab, endpoint_url="http://127.0.0.1:1", max_attempts=1, s3_bucket="pynomaly-alb-logs")
    assert result["failed"] is False and result["status"] == "unknown"
    assert ids(result) == ["elb_logs.api_unreachable"]
    assert result["findings"][0]["evidence"]["endpoint_url"] == "http://127.0.0.1:1"


@pytest.mark.parametrize(("args", "option"), [
    ({"s3_bucket": "pynomaly-alb-logs", "window_minutes": 0}, "window_minutes"),
    ({"log_group_name": "/aws/applicationloadbalancer/pynomaly-alb", "max_error_rate": 2}, "max_error_rate"),
    ({"s3_bucket": ""}, "s3_bucket"),
])
def test_bad_arguments_name_the_option(lab, args, option):
    result = logs_info(lab, **args)
    assert result["failed"] is True and option in result["msg"]
    assert "Traceback" not in result["_stdout"]
