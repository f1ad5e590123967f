# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The aws_health_info check (``aws health describe-events --filter eventStatusCodes=open,...``):
argument_spec() and run(params), used by its module and by incident_triage_info."""

from datetime import datetime, timezone

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.sre.runbooks.plugins.module_utils.aws_client import (
    BOTO3_IMPORT_ERROR,
    HAS_BOTO3,
    aws_argument_spec,
    call,
    client,
)
from ansible_collections.sre.runbooks.plugins.module_utils.common import check_bounds
from ansible_collections.sre.runbooks.plugins.module_utils.errors import BackendUnavailable, RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.findings import check_result, finding

# The AWS Health API has one global endpoint, in us-east-1, whatever region the estate is in.
HEALTH_REGION = "us-east-1"
CATEGORIES = ("issue", "accountNotification", "scheduledChange", "investigation")
DETAILS_BATCH = 10  # DescribeEventDetails takes at most 10 event ARNs

# Passed to AnsibleModule (and to ArgumentSpecValidator) with argument_spec().
SPEC_OPTIONS = {}


def argument_spec():
    """The options of sre.runbooks.aws_health_info, with the shared aws group."""
    spec = aws_argument_spec()
    spec.update({
        "regions": {"type": "list", "elements": "str"},
        "services": {"type": "list", "elements": "str", "default": []},
        "event_type_categories": {"type": "list", "elements": "str", "choices": list(CATEGORIES),
                                  "default": ["issue"]},
        "max_events": {"type": "int", "default": 100},
    })
    return spec


def validate(params):
    """Bad input the argument spec cannot see."""
    check_bounds(params, {"max_events": (1, 1000)})
    if not params["event_type_categories"]:
        raise RunbookError("event_type_categories is empty: name at least one category (issue).",
                           option="event_type_categories")


def regions_of(params):
    """The regions asked for (the aws group's region when none are), with "global"; None for every region."""
    regions = params.get("regions")
    if regions is None:
        regions = [params["region"]] if params.get("region") else []
    return sorted(set(regions) | {"global"}) if regions else None


def event_filter(params):
    flt = {"eventStatusCodes": ["open"], "eventTypeCategories": list(params["event_type_categories"])}
    regions = regions_of(params)
    if regions:
        flt["regions"] = regions
    if params["services"]:
        flt["services"] = sorted({s.upper() for s in params["services"]})
    return flt


def iso(value):
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(float(value), tz=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_entry(raw):
    return {"arn": raw.get("arn"), "service": raw.get("service"), "event_type_code": raw.get("eventTypeCode"),
            "category": raw.get("eventTypeCategory"), "region": raw.get("region"),
            "availability_zone": raw.get("availabilityZone"), "status": raw.get("statusCode"),
            "scope": raw.get("eventScopeCode"), "start_time": iso(raw.get("startTime")),
            "end_time": iso(raw.get("endTime")), "last_updated_time": iso(raw.get("lastUpdatedTime")),
            "description": None}


def read_events(health, flt, max_events):
    """(events, truncated): the events matching flt, most recently updated first, at most max_events."""
    events, kwargs = [], {"filter": flt, "maxResults": 100}
    while True:
        page = call(health.describe_events, **kwargs)
        events.extend(event_entry(e) for e in page.get("events", []))
        if len(events) >= max_events:
            return events[:max_events], bool(page.get("nextToken")) or len(events) > max_events
        if not page.get("nextToken"):
            return events, False
        kwargs["nextToken"] = page["nextToken"]


def add_descriptions(health, events):
    """Each event's latest description (DescribeEventDetails); left null when it cannot be read."""
    by_arn = {e["arn"]: e for e in events}
    arns = list(by_arn)
    for first in range(0, len(arns), DETAILS_BATCH):
        try:
            page = call(health.describe_event_details, eventArns=arns[first:first + DETAILS_BATCH])
        except BackendUnavailable:
            raise
        except RunbookError:
            return
        for detail in page.get("successfulSet", []):
            arn = (detail.get("event") or {}).get("arn")
            if arn in by_arn:
                by_arn[arn]["description"] = (detail.get("eventDescription") or {}).get("latestDescription")


def event_finding(event):
    where = (event["region"] or "an unnamed region") + (
        f" ({event['availability_zone']})" if event["availability_zone"] else "")
    severity = "critical" if event["category"] == "issue" else "warning"
    return finding("aws_health.open_event", severity,
                   f"AWS Health: open {event['service']} {event['category']} in {where} since {event['start_time']}"
                   f" ({event['event_type_code']})",
                   {key: event[key] for key in ("arn", "service", "event_type_code", "category", "region",
                                                "availability_zone", "start_time", "last_updated_time",
                                                "description")})


def result(findings, status=None, events=(), flt=None, truncated=False, subscription_required=False):
    return check_result(findings, status=status, events=list(events), filter=flt, truncated=truncated,
                        subscription_required=subscription_required)


def run(params):
    """Read the open AWS Health events of the services and regions asked for; the result of aws_health_info."""
    validate(params)
    if not HAS_BOTO3:
        raise RunbookError(missing_required_lib("boto3"), exception=BOTO3_IMPORT_ERROR)
    health = client(dict(params, region=HEALTH_REGION), "health")
    flt = event_filter(params)
    try:
        events, truncated = read_events(health, flt, params["max_events"])
        add_descriptions(health, [e for e in events if e["status"] == "open"])
    except BackendUnavailable as exc:
        gone = finding("aws_health.api_unreachable", "critical", f"the AWS Health API does not answer: {exc.msg}",
                       {"endpoint_url": params.get("endpoint_url"), "region": HEALTH_REGION})
        return result([gone], status="unknown", flt=flt)
    except RunbookError as exc:
        if exc.details.get("aws_error_code") != "SubscriptionRequiredException":
            raise
        needed = finding("aws_health.subscription_required", "info",
                         "the AWS Health API needs a Business, Enterprise On-Ramp or Enterprise support plan: "
                         "check the AWS Health Dashboard instead", {"error": exc.msg})
        return result([needed], status="unknown", flt=flt, subscription_required=True)
    findings = [event_finding(e) for e in events if e["status"] == "open"]
    return result(findings, events=events, flt=flt, truncated=truncated)
