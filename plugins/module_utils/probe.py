# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The http_probe check: argument_spec() and run(params).

The runbook's verification loop (``for i in {1..10}; do curl -w "%{time_total}" ...; done``) as figures
(error rate, p50/p95/max latency) judged against thresholds, and the named smoke and user-journey checks
(ordered requests with expected status, body and JSON values). Requests go through http_client, so a URL that
never answers costs at most its timeout and counts as an error.
"""

import json
import math
import re
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.six.moves.urllib.parse import urljoin, urlsplit

from ansible_collections.sre.runbooks.plugins.module_utils.checks import http_health
from ansible_collections.sre.runbooks.plugins.module_utils.common import check_bounds
from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.findings import check_result, finding
from ansible_collections.sre.runbooks.plugins.module_utils.http_client import fetch, fetch_all, redact_url
from ansible_collections.sre.runbooks.plugins.module_utils.redact import redact_text

# option: (lowest, highest)
BOUNDS = {"requests": (1, 1000), "concurrency": (1, 100), "timeout": (0.001, 300)}
THRESHOLD_BOUNDS = {"max_error_rate": (0, 1), "max_p95_ms": (0, None), "max_ms": (0, None)}
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
BODY_EXCERPT = 300
# The error of a request not sent because an earlier one to the same URL timed out.
NOT_SENT = "not sent (the first request timed out)"

# Passed to AnsibleModule with argument_spec().
SPEC_OPTIONS = {"mutually_exclusive": [("url", "urls")], "required_one_of": [("url", "urls", "journeys")]}


def argument_spec():
    """The options of sre.runbooks.http_probe."""
    step_spec = {
        "name": {"type": "str"},
        "method": {"type": "str", "default": "GET", "choices": METHODS},
        "path": {"type": "str"},
        "url": {"type": "str"},
        "base_url": {"type": "str"},
        "headers": {"type": "dict", "no_log": True},
        "body": {"type": "str"},
        "json": {"type": "raw"},
        "expect_status": {"type": "list", "elements": "int", "default": [200]},
        "expect_body": {"type": "str"},
        "expect_body_regex": {"type": "str"},
        "expect_json": {"type": "dict"},
    }
    journey_spec = {
        "name": {"type": "str", "required": True},
        "base_url": {"type": "str"},
        "headers": {"type": "dict", "no_log": True},
        "steps": {"type": "list", "elements": "dict", "required": True, "options": step_spec,
                  "mutually_exclusive": [("path", "url"), ("body", "json")],
                  "required_one_of": [("path", "url")]},
    }
    threshold_spec = {
        "max_error_rate": {"type": "float", "default": 0.0},
        "max_p95_ms": {"type": "float"},
        "max_ms": {"type": "float"},
    }
    return {
        "url": {"type": "str"},
        "urls": {"type": "list", "elements": "dict", "options": http_health.endpoint_spec()},
        "requests": {"type": "int", "default": 10},
        "concurrency": {"type": "int", "default": 5},
        "timeout": {"type": "float", "default": 5.0},
        "thresholds": {"type": "dict", "default": {}, "options": threshold_spec},
        "journeys": {"type": "list", "elements": "dict", "options": journey_spec},
        "validate_certs": {"type": "bool", "default": True},
    }


# -- validation ---------------------------------------------------------------------------------------------
def _http_url(url, option):
    if not re.match(r"^https?://[^/\s]", url or ""):
        raise RunbookError(f"{option} must be an http:// or https:// URL, got {redact_url(url or '')!r}", option=option)
    return url


def targets(params):
    """The URLs to probe: [{name, url, method, expect_status}]."""
    if params.get("url"):
        return [{"name": shown(_http_url(params["url"], "url")), "url": params["url"], "method": "GET",
                 "expect_status": [200], "body_match": None, "timeout": None, "slow_ms": None}]
    found = []
    for index, item in enumerate(params.get("urls") or []):
        http_health.check_endpoint(item, f"urls[{index}]")
        if item.get("timeout") is not None and not BOUNDS["timeout"][0] <= item["timeout"] <= BOUNDS["timeout"][1]:
            raise RunbookError(f"urls[{index}].timeout must be between {BOUNDS['timeout'][0]} and "
                               f"{BOUNDS['timeout'][1]}, not {item['timeout']}", option="urls")
        found.append(dict(item, name=item.get("name") or shown(item["url"])))
    return found


def step_url(journey, step, j_index, s_index):
    """The absolute URL of one journey step: url, or path joined to the step's or the journey's base_url."""
    where = f"journeys[{j_index}].steps[{s_index}]"
    if step.get("url"):
        return _http_url(step["url"], f"{where}.url")
    if step.get("base_url"):
        base = _http_url(step["base_url"], f"{where}.base_url")
    elif journey.get("base_url"):
        base = _http_url(journey["base_url"], f"journeys[{j_index}].base_url")
    else:
        raise RunbookError(f"{where}.path needs a base_url (on the step or on its journey)", option=f"{where}.path")
    return urljoin(base.rstrip("/") + "/", step["path"].lstrip("/"))


def shown(url):
    """A URL as output shows it: no user:password, no token in the query."""
    return redact_text(redact_url(url))


def validate(params):
    """Bad input the argument spec cannot see (RunbookError naming the option): targets and journey plans."""
    check_bounds(params, BOUNDS)
    check_bounds({f"thresholds.{k}": v for k, v in params["thresholds"].items()},
                 {f"thresholds.{k}": v for k, v in THRESHOLD_BOUNDS.items()})
    names = set()
    plans = []
    for j_index, journey in enumerate(params.get("journeys") or []):
        if journey["name"] in names:
            raise RunbookError(f"journeys[{j_index}].name {journey['name']!r} is used twice", option="journeys")
        names.add(journey["name"])
        if not journey["steps"]:
            raise RunbookError(f"journeys[{j_index}].steps is empty", option="journeys")
        steps = []
        for s_index, step in enumerate(journey["steps"]):
            if step.get("expect_body_regex"):
                try:
                    re.compile(step["expect_body_regex"])
                except re.error as exc:
                    raise RunbookError(f"journeys[{j_index}].steps[{s_index}].expect_body_regex is not a regular "
                                       f"expression: {exc}",
                                       option="journeys") from exc
            steps.append(dict(step, url=step_url(journey, step, j_index, s_index)))
        plans.append(dict(journey, steps=steps))
    return targets(params), plans


# -- figures ------------------------------------------------------------------------------------------------
def percentile(values, pct):
    """The nearest-rank percentile of values; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100.0 * len(ordered)) - 1)]


def error_kind(target, result):
    """Why one probe request failed, when its status code does not say it: no answer (timed out, connection
    refused ...) or a body that does not match; None otherwise."""
    if result["error"] is not None:
        return result["error"]
    if (result["status_code"] in target["expect_status"] and target.get("body_match")
            and not re.search(target["body_match"], result["body"])):
        return "body does not match"
    return None


def figures(target, results, thresholds):
    """The probe record of one URL from its request results (see RETURN probe)."""
    answered = [r["latency_ms"] for r in results if r["error"] is None]
    errors = [r for r in results if error_kind(target, r) or r["status_code"] not in target["expect_status"]]
    status_codes, error_kinds = {}, {}
    for result in results:
        if result["error"] is None:
            status_codes[str(result["status_code"])] = status_codes.get(str(result["status_code"]), 0) + 1
        kind = error_kind(target, result)
        if kind:
            error_kinds[kind] = error_kinds.get(kind, 0) + 1
    record = {
        "name": target["name"], "url": shown(target["url"]), "method": target["method"],
        "requests": len(results), "errors": len(errors), "error_rate": round(len(errors) / len(results), 4),
        "answered": len(answered), "status_codes": status_codes, "error_kinds": error_kinds,
        "p50_ms": percentile(answered, 50), "p95_ms": percentile(answered, 95),
        "max_ms": max(answered) if answered else None,
        "thresholds": dict(thresholds),
    }
    record["failed_checks"] = failed_checks(record, thresholds)
    record["passed"] = not record["failed_checks"]
    return record


def failed_checks(record, thresholds):
    """The names of the thresholds the figures break (error_rate, p95, max)."""
    failed = []
    if record["error_rate"] > thresholds["max_error_rate"]:
        failed.append("error_rate")
    for key, limit in (("p95_ms", thresholds.get("max_p95_ms")), ("max_ms", thresholds.get("max_ms"))):
        if limit is not None and (record[key] is None or record[key] > limit):
            failed.append(key)
    return failed


def probe_findings(record):
    found = []
    if "error_rate" in record["failed_checks"]:
        kinds = dict(record["status_codes"], **record["error_kinds"])
        found.append(finding(
            "probe.error_rate", "critical",
            f"{record['name']}: {record['errors']} of {record['requests']} requests failed "
            f"({record['error_rate']:.0%}, max {record['thresholds']['max_error_rate']:.0%}): "
            + ", ".join(f"{k} x{v}" for k, v in sorted(kinds.items())),
            {k: record[k] for k in ("name", "url", "requests", "errors", "error_rate", "status_codes",
                                    "error_kinds", "thresholds")}))
    slow = [k for k in ("p95_ms", "max_ms") if k in record["failed_checks"]]
    if slow and record["answered"]:
        limits = record["thresholds"]
        limit_of = {"p95_ms": ("p95", "max_p95_ms"), "max_ms": ("max", "max_ms")}
        text = ", ".join(f"{limit_of[k][0]} {record[k]:.0f} ms (max {limits[limit_of[k][1]]:.0f} ms)" for k in slow)
        found.append(finding("probe.latency", "warning", f"{record['name']} is slow: {text}",
                             {k: record[k] for k in ("name", "url", "requests", "answered", "p50_ms", "p95_ms",
                                                     "max_ms", "thresholds")}))
    return found


# -- journeys -----------------------------------------------------------------------------------------------
def json_path(document, path):
    """(found, value) of a dotted key path in a JSON document (list items by index: items.0.name)."""
    value = document
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and re.match(r"^-?\d+$", part) and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return False, None
    return True, value


def step_request(journey, step, params):
    headers = dict(journey.get("headers") or {})
    headers.update(step.get("headers") or {})
    data = None
    if step.get("json") is not None:
        data = json.dumps(step["json"]).encode("utf-8")
        headers.setdefault("Content-Type", "application/json")
    elif step.get("body") is not None:
        data = step["body"].encode("utf-8")
    return {"url": step["url"], "method": step["method"], "headers": headers, "data": data,
            "timeout": params["timeout"], "validate_certs": params["validate_certs"]}


def judge_step(step, result):
    """Why the step failed (a sentence), or None when it passed."""
    if result["error"]:
        return f"no answer: {result['error']}"
    if result["status_code"] not in step["expect_status"]:
        return f"answered {result['status_code']} (expected {'/'.join(str(s) for s in step['expect_status'])})"
    body = result["body"]
    if step.get("expect_body") is not None and step["expect_body"] not in body:
        return f"the body does not contain {step['expect_body']!r}"
    if step.get("expect_body_regex") and not re.search(step["expect_body_regex"], body):
        return f"the body does not match {step['expect_body_regex']!r}"
    if step.get("expect_json"):
        try:
            document = json.loads(body)
        except ValueError:
            return "the body is not JSON"
        for path, wanted in step["expect_json"].items():
            found, value = json_path(document, path)
            if not found:
                return f"the JSON has no {path}"
            if value != wanted:
                return f"{path} is {json.dumps(value)} (expected {json.dumps(wanted)})"
    return None


def run_journey(journey, params):
    """Run the steps in order, stopping at the first that fails: the journey record (see RETURN journeys)."""
    steps, failed = [], None
    for index, step in enumerate(journey["steps"]):
        result = fetch(step_request(journey, step, params))
        reason = judge_step(step, result)
        record = {"name": step.get("name") or f"step {index + 1}", "method": step["method"],
                  "path": step.get("path") or urlsplit(step["url"]).path or "/", "url": shown(step["url"]),
                  "status": result["status_code"], "expected": step["expect_status"], "passed": reason is None,
                  "ms": result["latency_ms"], "error": reason}
        steps.append(record)
        if reason:
            failed = dict(record, index=index, body=redact_text(result["body"][:BODY_EXCERPT]))
            break
    return {"name": journey["name"], "passed": failed is None, "steps": steps,
            "steps_total": len(journey["steps"]), "failed_step": failed}


def journey_finding(record):
    step = record["failed_step"]
    return finding("journey.failed", "critical",
                   f"journey {record['name']} failed at {step['name']} ({step['method']} {step['path']}): "
                   f"{step['error']}",
                   {"journey": record["name"], "step": step, "steps_run": len(record["steps"]),
                    "steps_total": record["steps_total"]})


# -- the check ----------------------------------------------------------------------------------------------
def overall_status(probes, journeys):
    checks = [p["passed"] for p in probes] + [j["passed"] for j in journeys]
    if all(checks):
        return "ok"
    dead = [p["errors"] == p["requests"] for p in probes] + [not j["passed"] for j in journeys]
    return "down" if all(dead) else "degraded"


def probe_requests(urls, params):
    """The request results of each URL, in the URLs' order.

    The first request of every URL goes first, all at once; a URL whose first request timed out gets no more
    (each would wait its whole timeout too: a hanging endpoint costs one timeout, not N), and its other requests
    count as errors, NOT_SENT. A refused connection or an error status is an answer of a kind: it is asked
    again, since a service that is restarting answers some of N requests.
    """
    def request(target):
        return {"url": target["url"], "method": target["method"], "timeout": target.get("timeout") or params["timeout"],
                "validate_certs": params["validate_certs"], "body_limit": 65536 if target.get("body_match") else 0}

    more = params["requests"] - 1
    first = fetch_all([request(t) for t in urls], params["concurrency"])
    answering = [index for index, result in enumerate(first) if result["error"] != "timed out"]
    rest = iter(fetch_all([request(urls[index]) for index in answering for _request in range(more)],
                          params["concurrency"]))
    not_sent = {"status_code": None, "headers": {}, "body": "", "error": NOT_SENT, "latency_ms": None}
    return [[first[index]] + ([next(rest) for _request in range(more)] if index in answering else [not_sent] * more)
            for index in range(len(urls))]


def run(params):
    """Probe every URL and run every journey; the result sre.runbooks.http_probe returns."""
    urls, journeys = validate(params)
    results = probe_requests(urls, params)
    probes, findings = [], []
    for index, target in enumerate(urls):
        # A health endpoint's own slow_ms is the p95 its probe must stay under.
        thresholds = dict(params["thresholds"], **({"max_p95_ms": float(target["slow_ms"])}
                                                   if target.get("slow_ms") else {}))
        record = figures(target, results[index], thresholds)
        probes.append(record)
        findings.extend(probe_findings(record))
    journey_records = []
    if journeys:
        with ThreadPoolExecutor(max_workers=max(1, min(params["concurrency"], len(journeys)))) as pool:
            journey_records = list(pool.map(lambda j: run_journey(j, params), journeys))
    findings.extend(journey_finding(j) for j in journey_records if not j["passed"])
    extra = {"probe": probes[0]} if len(probes) == 1 else {}
    summary = {"probes": len(probes), "probes_passed": sum(1 for p in probes if p["passed"]),
               "journeys": len(journey_records), "journeys_passed": sum(1 for j in journey_records if j["passed"])}
    return check_result(findings, status=overall_status(probes, journey_records), probes=probes,
                        journeys=journey_records, summary=summary, passed=not findings, **extra)
