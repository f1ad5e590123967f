"""AWS Health as a lab service: a stand-in, because moto (5.x) does not implement the AWS Health API.

The runbook's ``aws health describe-events --filter eventTypeCategories=issue,eventStatusCodes=open`` cannot be
answered by the lab's moto, so the lab runs this small server, which speaks the AWS Health API's JSON 1.1
protocol as boto3's ``health`` client does (``POST /``, ``X-Amz-Target: AWSHealth_20160804.<Operation>``,
``Content-Type: application/x-amz-json-1.1``, timestamps as epoch seconds, errors as ``{"__type", "message"}``):

    python -m lab.aws_health_server --port P --state-file <lab>/aws_health/state.json

- ``DescribeEvents``: the events matching ``filter`` (eventArns, eventTypeCodes, services, regions,
  availabilityZones, eventTypeCategories, eventStatusCodes: any of the values; startTimes, endTimes,
  lastUpdatedTimes: any of the ranges; other fields are ignored), most recently updated first, ``maxResults``
  (10..100, default 10) a page, then ``nextToken``.
- ``DescribeEventDetails``: ``successfulSet`` [{event, eventDescription: {latestDescription}, eventMetadata}]
  and ``failedSet`` for the ARNs it does not know.
- With ``"subscription": false`` in the state every call answers 400 ``SubscriptionRequiredException``, as
  AWS does for an account without a Business, Enterprise On-Ramp or Enterprise support plan.
- Requests are not signed-checked: any credentials are accepted.

The state file (``{"subscription": bool, "events": [event as the API returns it + "description"]}``) is read
on every request; this module's up/down, set_subscription, put_event, remove_event and the fault
``aws-event`` (break_aws_event / heal_aws_event: an open EC2 issue in us-east-1) only rewrite it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

from lab.core import REPO_ROOT, Lab, LabError, free_port, http, read_json, write_json

TARGET_PREFIX = "AWSHealth_20160804."
CONTENT_TYPE = "application/x-amz-json-1.1"
SERVICE = "aws_health"  # lab.json's service
PROCESS = "aws-health"  # the lab's process name
LIST_FILTERS = {"eventArns": "arn", "eventTypeCodes": "eventTypeCode", "services": "service", "regions": "region",
                "availabilityZones": "availabilityZone", "eventTypeCategories": "eventTypeCategory",
                "eventStatusCodes": "statusCode"}
TIME_FILTERS = {"startTimes": "startTime", "endTimes": "endTime", "lastUpdatedTimes": "lastUpdatedTime"}
SUBSCRIPTION_MESSAGE = ("The AWS Support Business, Enterprise On-Ramp, or Enterprise Support plan is required "
                        "to use the AWS Health API.")
FAULT_ARN = ("arn:aws:health:us-east-1::event/EC2/AWS_EC2_OPERATIONAL_ISSUE/"
             "AWS_EC2_OPERATIONAL_ISSUE_LAB_PYNOMALY")


# -- the server --------------------------------------------------------------------------------------------
class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def matches(event: dict, flt: dict) -> bool:
    for field, key in LIST_FILTERS.items():
        if flt.get(field) and event.get(key) not in flt[field]:
            return False
    for field, key in TIME_FILTERS.items():
        if flt.get(field):
            when = event.get(key)
            if when is None or not any((r.get("from") is None or when >= r["from"])
                                       and (r.get("to") is None or when <= r["to"]) for r in flt[field]):
                return False
    return True


def summary(event: dict) -> dict:
    return {key: value for key, value in event.items() if key != "description"}


def describe_events(state: dict, body: dict) -> dict:
    size = body.get("maxResults", 10)
    if not isinstance(size, int) or not 10 <= size <= 100:
        raise ApiError("ValidationException", f"maxResults must be between 10 and 100, not {size}")
    found = sorted((e for e in state["events"] if matches(e, body.get("filter") or {})),
                   key=lambda e: (e.get("lastUpdatedTime") or 0, e["arn"]), reverse=True)
    token = body.get("nextToken")
    try:
        offset = int(token.removeprefix("page-")) if token else 0
    except ValueError:
        raise ApiError("InvalidPaginationToken", f"Invalid pagination token: {token}") from None
    page = found[offset:offset + size]
    answer = {"events": [summary(e) for e in page]}
    if offset + size < len(found):
        answer["nextToken"] = f"page-{offset + size}"
    return answer


def describe_event_details(state: dict, body: dict) -> dict:
    by_arn = {e["arn"]: e for e in state["events"]}
    done, failed = [], []
    for arn in body.get("eventArns") or []:
        if arn in by_arn:
            event = by_arn[arn]
            done.append({"event": summary(event), "eventMetadata": {},
                         "eventDescription": {"latestDescription": event.get("description", "")}})
        else:
            failed.append({"eventArn": arn, "errorName": "NotFound", "errorMessage": f"Event {arn} was not found."})
    return {"successfulSet": done, "failedSet": failed}


OPERATIONS = {"DescribeEvents": describe_events, "DescribeEventDetails": describe_event_details}


class Handler(BaseHTTPRequestHandler):
    state_file: ClassVar[Path]
    server_version = "lab-aws-health-stand-in"

    def do_POST(self):
        try:
            target = self.headers.get("X-Amz-Target", "")
            operation = OPERATIONS.get(target.removeprefix(TARGET_PREFIX)) if target.startswith(TARGET_PREFIX) else None
            if operation is None:
                raise ApiError("UnknownOperationException", f"Unknown operation {target or '(no X-Amz-Target)'}")
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                raise ApiError("SerializationException", "The request body is not JSON") from None
            state = json.loads(self.state_file.read_text())
            if not state.get("subscription", True):
                raise ApiError("SubscriptionRequiredException", SUBSCRIPTION_MESSAGE)
            self._send(200, operation(state, body))
        except ApiError as exc:
            self._send(exc.status, {"__type": exc.code, "message": exc.message}, exc.code)

    def _send(self, status: int, payload: dict, error_type: str | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", f"lab-{time.monotonic_ns()}")
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):  # one line per request in the lab's log, as the other stand-ins
        sys.stderr.write(f"{self.address_string()} {self.headers.get('X-Amz-Target', '-')} {fmt % args}\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-file", type=Path, required=True)
    args = parser.parse_args(argv)
    Handler.state_file = args.state_file
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


# -- the lab service ---------------------------------------------------------------------------------------
def event(arn_id: str, service: str, code: str, category: str, status: str, region: str, start: float,
          description: str, end: float | None = None, updated: float | None = None) -> dict:
    """One event as DescribeEvents returns it (times in epoch seconds), plus its description."""
    found = {"arn": f"arn:aws:health:{region}::event/{service}/{code}/{code}_{arn_id}", "service": service,
             "eventTypeCode": code, "eventTypeCategory": category, "region": region, "startTime": start,
             "lastUpdatedTime": updated or end or start, "statusCode": status, "eventScopeCode": "PUBLIC",
             "description": description}
    if end is not None:
        found["endTime"] = end
    return found


def seeded_state(now: float) -> dict:
    """What the lab's account shows when healthy: a closed EC2 issue of two days ago, an upcoming RDS change."""
    day = 86400
    return {"subscription": True, "events": [
        event("LAB_CLOSED_1", "EC2", "AWS_EC2_OPERATIONAL_ISSUE", "issue", "closed", "us-east-1", now - 2 * day,
              "[RESOLVED] Increased API error rates in the US-EAST-1 Region.", end=now - 2 * day + 5400),
        event("LAB_UPCOMING_1", "RDS", "AWS_RDS_MAINTENANCE_SCHEDULED", "scheduledChange", "upcoming", "us-east-1",
              now + 7 * day, "Maintenance is scheduled for Aurora PostgreSQL clusters in US-EAST-1.",
              updated=now - day),
    ]}


def state_path(lab: Lab) -> Path:
    return lab.path(SERVICE) / "state.json"


def read_state(lab: Lab) -> dict:
    state = read_json(state_path(lab))
    if state is None:
        raise LabError("the AWS Health stand-in has no state: run `lab up` first")
    return state


def up(lab: Lab) -> dict:
    """Start the stand-in with the seeded events (or return the running one); return lab.json's "aws_health"."""
    if lab.alive(PROCESS) and lab.service(SERVICE):
        return lab.service(SERVICE)
    write_json(state_path(lab), seeded_state(time.time()))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    lab.spawn(PROCESS, [sys.executable, "-m", "lab.aws_health_server", "--port", str(port),
                        "--state-file", str(state_path(lab))], env={"PYTHONPATH": str(REPO_ROOT)})
    probe = {"X-Amz-Target": f"{TARGET_PREFIX}DescribeEvents", "Content-Type": CONTENT_TYPE}
    lab.wait_started(PROCESS, lambda: http(url, "POST", headers=probe, body={})[0] == 200, 15,
                     f"the AWS Health stand-in at {url}")
    return {"endpoint_url": url, "port": port, "region": "us-east-1", "state_file": str(state_path(lab))}


def down(lab: Lab) -> None:
    lab.stop(PROCESS)


def status(lab: Lab) -> str:
    info = lab.service(SERVICE)
    if not info or not lab.alive(PROCESS):
        return "aws_health: stopped"
    state = read_state(lab)
    open_events = [e for e in state["events"] if e["statusCode"] == "open"]
    plan = "subscribed" if state.get("subscription", True) else "NO SUBSCRIPTION (SubscriptionRequiredException)"
    return (f"aws_health: stand-in at {info['endpoint_url']} (pid {lab.pid(PROCESS)}), {plan}, "
            f"{len(open_events)} open event(s)")


def set_subscription(lab: Lab, enabled: bool) -> None:
    """Answer every call with SubscriptionRequiredException (False) or normally (True)."""
    state = read_state(lab)
    state["subscription"] = enabled
    write_json(state_path(lab), state)


def put_event(lab: Lab, new: dict) -> None:
    """Add an event (or replace the one with its ARN)."""
    state = read_state(lab)
    state["events"] = [e for e in state["events"] if e["arn"] != new["arn"]] + [new]
    write_json(state_path(lab), state)


def remove_event(lab: Lab, arn: str) -> None:
    state = read_state(lab)
    state["events"] = [e for e in state["events"] if e["arn"] != arn]
    write_json(state_path(lab), state)


def break_aws_event(lab: Lab) -> None:
    """An open EC2 issue in us-east-1, as AWS posts one in an operational event."""
    started = time.time() - 1200
    put_event(lab, event("LAB_PYNOMALY", "EC2", "AWS_EC2_OPERATIONAL_ISSUE", "issue", "open", "us-east-1",
                         started, "We are investigating increased API error rates and instance connectivity "
                         "issues in the US-EAST-1 Region.", updated=started + 600))


def heal_aws_event(lab: Lab) -> None:
    """Remove the fault's event (the seeded events stay)."""
    remove_event(lab, FAULT_ARN)


if __name__ == "__main__":
    main()
