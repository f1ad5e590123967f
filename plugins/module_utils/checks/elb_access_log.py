# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The elb_access_log_info check: the load balancer's access logs in S3 and its CloudWatch log group
(``aws logs filter-log-events --filter-pattern ERROR``); argument_spec() and run(params), used by its module
and by incident_triage_info. The parser of ALB access log lines is pure (parse_line, summarize)."""

import gzip
import math
import re
import zlib
from collections import Counter, deque
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.sre.runbooks.plugins.module_utils.aws_client import (
    BOTO3_IMPORT_ERROR,
    HAS_BOTO3,
    aws_argument_spec,
    call,
    client,
    paginate,
)
from ansible_collections.sre.runbooks.plugins.module_utils.common import check_bounds
from ansible_collections.sre.runbooks.plugins.module_utils.errors import BackendUnavailable, RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.findings import check_result, finding, worst_status
from ansible_collections.sre.runbooks.plugins.module_utils.timestamps import parse_time

# option: (lowest, highest)
BOUNDS = {"window_minutes": (1, 10080), "max_bytes": (1, None), "max_error_rate": (0, 1),
          "max_p95_seconds": (0, None), "min_requests": (1, None), "error_lines": (0, 200),
          "max_events": (1, 10000)}
SLOW_PATHS_KEPT = 5

# Passed to AnsibleModule (and to ArgumentSpecValidator) with argument_spec().
SPEC_OPTIONS = {"required_one_of": [("s3_bucket", "log_group_name")]}

# The documented ALB access log entry, in order; a quoted field may hold spaces, later fields may be missing.
FIELDS = ("type", "time", "elb", "client", "target", "request_processing_time", "target_processing_time",
          "response_processing_time", "elb_status_code", "target_status_code", "received_bytes", "sent_bytes",
          "request", "user_agent", "ssl_cipher", "ssl_protocol", "target_group_arn", "trace_id", "domain_name",
          "chosen_cert_arn", "matched_rule_priority", "request_creation_time", "actions_executed",
          "redirect_url", "error_reason", "target_port_list", "target_status_code_list", "classification",
          "classification_reason", "conn_trace_id")
TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')
FILE_TIME = re.compile(r"_(\d{8}T\d{4}Z)_")


def argument_spec():
    """The options of sre.runbooks.elb_access_log_info, with the shared aws group."""
    spec = aws_argument_spec()
    spec.update({
        "s3_bucket": {"type": "str"},
        "s3_prefix": {"type": "str", "default": ""},
        "account_id": {"type": "str"},
        "load_balancer_name": {"type": "str"},
        "log_group_name": {"type": "str"},
        "filter_pattern": {"type": "str", "default": "ERROR"},
        "max_events": {"type": "int", "default": 1000},
        "window_minutes": {"type": "int", "default": 60},
        "max_bytes": {"type": "int", "default": 50 * 1024 * 1024},
        "max_error_rate": {"type": "float", "default": 0.05},
        "max_p95_seconds": {"type": "float", "default": 1.0},
        "min_requests": {"type": "int", "default": 20},
        "error_lines": {"type": "int", "default": 10},
    })
    return spec


def validate(params):
    """Bad input the argument spec cannot see."""
    check_bounds(params, BOUNDS)
    if not (params.get("s3_bucket") or params.get("log_group_name")):
        raise RunbookError("s3_bucket and log_group_name are both empty: name the access log bucket, "
                           "the log group, or both.", option="s3_bucket")


# -- the parser (pure) -------------------------------------------------------------------------------------
def _number(text, kind):
    try:
        return kind(text)
    except (TypeError, ValueError):
        return None


def parse_line(line):
    """One ALB access log entry as {time, target, elb_status, target_status, target_seconds, method, path,
    error_reason, line}; None for a line that is not one. target_seconds is None when the target did not
    answer (the log's -1); a status is None where the log has "-"; error_reason is None in the older format
    that ends before it."""
    tokens = [m.group(1) if m.group(1) is not None else m.group(2) for m in TOKEN.finditer(line.strip())]
    if len(tokens) < 13:
        return None
    fields = dict(zip(FIELDS, tokens))
    when = parse_time(fields["time"])
    elb_status = _number(fields["elb_status_code"], int)
    if when is None or (elb_status is None and fields["elb_status_code"] != "-"):
        return None
    target_seconds = _number(fields["target_processing_time"], float)
    parts = fields["request"].split(" ")
    method, url = (parts[0], parts[1]) if len(parts) >= 2 else ("-", fields["request"])
    path = (urlsplit(url).path or url) if url != "-" else "-"
    return {"time": when, "target": fields["target"], "elb_status": elb_status,
            "target_status": _number(fields["target_status_code"], int),
            "target_seconds": target_seconds if target_seconds is not None and target_seconds >= 0 else None,
            "method": method, "path": path, "error_reason": fields.get("error_reason"), "line": line.strip()}


def percentile(values, pct):
    """The nearest-rank percentile of values (sorted or not); None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100.0 * len(ordered)) - 1)]


def summarize(entries, error_lines=10):
    """Counts, 5xx by target and by path, target latency percentiles and the last 5xx lines of parsed entries."""
    entries = sorted(entries, key=lambda e: e["time"])
    errors = [e for e in entries if e["elb_status"] is not None and e["elb_status"] >= 500]
    latencies, by_path = [], {}
    for entry in entries:
        if entry["target_seconds"] is not None:
            latencies.append(entry["target_seconds"])
            by_path.setdefault(entry["path"], []).append(entry["target_seconds"])
    slow = sorted(({"path": path, "requests": len(values), "p95_seconds": percentile(values, 95)}
                   for path, values in by_path.items()), key=lambda s: (-s["p95_seconds"], s["path"]))
    requests = len(entries)
    return {
        "requests": requests,
        "errors_5xx": len(errors),
        "errors_4xx": sum(1 for e in entries if e["elb_status"] is not None and 400 <= e["elb_status"] < 500),
        "error_rate": round(len(errors) / requests, 4) if requests else None,
        "errors_5xx_by_target": dict(Counter(e["target"] for e in errors).most_common()),
        "errors_5xx_by_path": dict(Counter(e["path"] for e in errors).most_common()),
        "latency": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
                    "p99": percentile(latencies, 99), "samples": len(latencies)},
        "slow_paths": slow[:SLOW_PATHS_KEPT],
        "error_lines": [e["line"] for e in errors[-error_lines:]] if error_lines else [],
    }


# -- S3 ----------------------------------------------------------------------------------------------------
def file_time(key):
    """The end of the five minutes an ALB log object covers, from its name; None when it has none."""
    found = FILE_TIME.search(key.rsplit("/", 1)[-1])
    if not found:
        return None
    return datetime.strptime(found.group(1), "%Y%m%dT%H%MZ").replace(tzinfo=timezone.utc)


def accounts_under(s3, bucket, base, account_id):
    if account_id:
        return [account_id]
    pages = paginate(s3.list_objects_v2, "CommonPrefixes", "ContinuationToken", "NextContinuationToken",
                     Bucket=bucket, Prefix=base, Delimiter="/")
    return [p["Prefix"][len(base):].strip("/") for p in pages]


def list_objects(s3, params, region, start, now):
    """The log objects of the window, newest first: [{key, size, time}]."""
    prefix = (params.get("s3_prefix") or "").strip("/")
    base = f"{prefix}/AWSLogs/" if prefix else "AWSLogs/"
    name = params.get("load_balancer_name")
    found = []
    for account in accounts_under(s3, params["s3_bucket"], base, params.get("account_id")):
        day = start.date()
        while day <= now.date():
            day_prefix = f"{base}{account}/elasticloadbalancing/{region}/{day:%Y/%m/%d}/"
            for obj in paginate(s3.list_objects_v2, "Contents", "ContinuationToken", "NextContinuationToken",
                                Bucket=params["s3_bucket"], Prefix=day_prefix):
                when = file_time(obj["Key"]) or obj["LastModified"]
                if when >= start and (not name or f"_app.{name}." in obj["Key"]):
                    found.append({"key": obj["Key"], "size": obj["Size"], "time": when})
            day += timedelta(days=1)
    return sorted(found, key=lambda o: (o["time"], o["key"]), reverse=True)


def decompress(body, key, partial):
    """The text of one object's bytes (gzip unless the key says otherwise); a cut read loses its last line."""
    if key.endswith(".gz"):
        data = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body) if partial else gzip.decompress(body)
    else:
        data = body
    text = data.decode("utf-8", errors="replace")
    return text.rsplit("\n", 1)[0] if partial else text


def read_objects(s3, bucket, objects, max_bytes):
    """(lines, read summary): objects read newest first until max_bytes; the last one read may be cut."""
    budget, lines = max_bytes, []
    summary = {"objects_in_window": len(objects), "objects_read": 0, "objects_cut": 0, "objects_not_read": 0,
               "objects_unreadable": [], "bytes_read": 0, "truncated": False}
    for obj in objects:
        if budget <= 0:
            summary["objects_not_read"] += 1
            continue
        partial = obj["size"] > budget
        kwargs = {"Range": f"bytes=0-{budget - 1}"} if partial else {}
        body = call(s3.get_object, Bucket=bucket, Key=obj["key"], **kwargs)["Body"].read()
        budget -= len(body)
        summary["bytes_read"] += len(body)
        try:
            lines.extend(decompress(body, obj["key"], partial).splitlines())
        except (OSError, EOFError, zlib.error) as exc:
            summary["objects_unreadable"].append({"key": obj["key"], "error": str(exc)})
            continue
        summary["objects_read"] += 1
        summary["objects_cut"] += int(partial)
    summary["truncated"] = bool(summary["objects_cut"] or summary["objects_not_read"])
    return lines, summary


def read_s3(s3, params, region, start, now):
    """(entries of the window, read summary); RunbookError when the bucket cannot be listed or read."""
    objects = list_objects(s3, params, region, start, now)
    lines, summary = read_objects(s3, params["s3_bucket"], objects, params["max_bytes"])
    parsed = [parse_line(line) for line in lines if line.strip()]
    summary["unparsed_lines"] = sum(1 for p in parsed if p is None)
    return [p for p in parsed if p is not None and p["time"] >= start], summary


# -- CloudWatch Logs ---------------------------------------------------------------------------------------
def read_cloudwatch(logs, params, start):
    """The log group's events matching filter_pattern in the window (at most max_events, the last kept)."""
    kwargs = {"logGroupName": params["log_group_name"], "startTime": int(start.timestamp() * 1000),
              "limit": min(params["max_events"], 10000)}
    if params.get("filter_pattern"):
        kwargs["filterPattern"] = params["filter_pattern"]
    matched, last, truncated = 0, deque(maxlen=params["error_lines"]), False
    while True:
        page = call(logs.filter_log_events, **kwargs)
        for event in page.get("events", []):
            if matched >= params["max_events"]:
                truncated = True
                break
            matched += 1
            when = datetime.fromtimestamp(event["timestamp"] / 1000.0, tz=timezone.utc)
            last.append({"time": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "stream": event.get("logStreamName"),
                         "message": event.get("message", "").rstrip("\n")})
        if truncated or not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    return {"log_group": params["log_group_name"], "filter_pattern": params.get("filter_pattern"),
            "events_matched": matched, "truncated": truncated, "lines": list(last)}


# -- findings ----------------------------------------------------------------------------------------------
def log_findings(stats, params):
    found = []
    requests = stats["requests"]
    if requests < params["min_requests"]:
        return found
    if stats["error_rate"] > params["max_error_rate"]:
        top = next(iter(stats["errors_5xx_by_target"]), None)
        found.append(finding(
            "elb_logs.error_rate_high", "critical",
            f"{stats['error_rate']:.1%} of {requests} requests answered 5xx (max {params['max_error_rate']:.1%})"
            + (f"; most from target {top}" if top else ""),
            {"error_rate": stats["error_rate"], "max_error_rate": params["max_error_rate"], "requests": requests,
             "errors_5xx": stats["errors_5xx"], "by_target": stats["errors_5xx_by_target"],
             "by_path": stats["errors_5xx_by_path"]}))
    p95 = stats["latency"]["p95"]
    if p95 is not None and p95 > params["max_p95_seconds"]:
        slowest = stats["slow_paths"][0]["path"] if stats["slow_paths"] else None
        found.append(finding(
            "elb_logs.latency_high", "warning",
            f"targets answer in {p95:.3f} s at p95 (max {params['max_p95_seconds']} s)"
            + (f"; slowest path {slowest}" if slowest else ""),
            {"p95_seconds": p95, "max_p95_seconds": params["max_p95_seconds"], "requests": requests,
             "slow_paths": stats["slow_paths"]}))
    return found


def unreadable(source, where, error):
    what = f"s3://{where}" if source == "s3" else f"log group {where}"
    return finding("elb_logs.unreadable", "warning", f"cannot read {what}: {error.msg}",
                   {"source": source, "location": where, "error": error.msg,
                    "error_code": error.details.get("aws_error_code")})


def no_entries(where, params, summary):
    evidence = {"location": where, "window_minutes": params["window_minutes"],
                "objects_in_window": summary["objects_in_window"]}
    return finding("elb_logs.no_entries", "info",
                   f"no access log entry in s3://{where} for the last {params['window_minutes']} minutes: "
                   "is access logging on (access_logs.s3.enabled), and are the bucket and prefix the load "
                   "balancer's?", evidence)


def unreachable_result(params, error):
    gone = finding("elb_logs.api_unreachable", "critical", f"the AWS API does not answer: {error.msg}",
                   {"endpoint_url": params.get("endpoint_url"), "region": params.get("region")})
    return check_result([gone], status="unknown", **empty_stats(params), s3=None, cloudwatch=None)


def empty_stats(params):
    stats = summarize([], params["error_lines"])
    stats["window_minutes"] = params["window_minutes"]
    return stats


def run(params):
    """Read the window's access logs and error lines; the result sre.runbooks.elb_access_log_info returns."""
    validate(params)
    if not HAS_BOTO3:
        raise RunbookError(missing_required_lib("boto3"), exception=BOTO3_IMPORT_ERROR)
    now = datetime.now(timezone.utc)
    start = now - timedelta(minutes=params["window_minutes"])
    stats, s3_summary, cloudwatch, findings = empty_stats(params), None, None, []
    try:
        if params.get("s3_bucket"):
            s3 = client(params, "s3")
            where = "/".join(p for p in (params["s3_bucket"], (params.get("s3_prefix") or "").strip("/")) if p)
            s3_summary = {"bucket": params["s3_bucket"], "prefix": params.get("s3_prefix") or ""}
            try:
                entries, summary = read_s3(s3, params, params.get("region") or s3.meta.region_name, start, now)
                s3_summary.update(summary)
                stats.update(summarize(entries, params["error_lines"]))
                findings.extend(log_findings(stats, params))
                if not entries:
                    findings.append(no_entries(where, params, summary))
            except BackendUnavailable:
                raise
            except RunbookError as exc:
                findings.append(unreadable("s3", where, exc))
        if params.get("log_group_name"):
            try:
                cloudwatch = read_cloudwatch(client(params, "logs"), params, start)
            except BackendUnavailable:
                raise
            except RunbookError as exc:
                findings.append(unreadable("cloudwatch", params["log_group_name"], exc))
    except BackendUnavailable as exc:
        return unreachable_result(params, exc)
    status = "degraded" if any(f["severity"] in ("warning", "critical") and f["id"] != "elb_logs.unreadable"
                               for f in findings) else "ok"
    if any(f["id"] in ("elb_logs.unreadable", "elb_logs.no_entries") for f in findings):
        status = worst_status(status, "unknown")
    return check_result(findings, status=status, window_start=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        **stats, s3=s3_summary, cloudwatch=cloudwatch)
