#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: prometheus_query_info
short_description: Judge Prometheus queries against thresholds (the runbooks' monitoring checks)
version_added: 1.0.0
description:
  - The runbooks' monitoring steps as checks, from Prometheus's HTTP API. Verify metrics are being collected
    (C(curl .../api/v1/query?query=up)), the error rate and the latency of the verification steps, and the
    P0-2 Monitoring Queries (C(up{job="qdrant"} == 0), connection errors).
  - Each query is an instant query, or a range query over the last minutes (judged on the worst, last, highest,
    lowest or average value of the range). With O(queries[].op) and O(queries[].threshold) it is judged; a
    query whose value satisfies C(value op threshold) has crossed its threshold and is a finding.
    A query that returns several series crosses when any of them does.
  - O(checks) adds ready-made queries by name. They use the demo application's metric names (C(up), the
    C(pynomaly_http_requests_total) counter, the C(pynomaly_http_request_duration_seconds) histogram,
    C(pynomaly_dependency_up), C(qdrant_connection_errors_total)); write O(queries) for other names.
  - Also returns every scrape target with its health, so a person sees which one is not collected.
  - Prometheus not answering is a finding (status C(unknown)), not a failure of the task. A query that
    Prometheus refuses (not valid PromQL) fails the task, naming the query.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.monitoring
  - sre.runbooks.attributes
  - sre.runbooks.attributes.INFO_MODULE
options:
  checks:
    description:
      - Ready-made queries to run, by name.
      - C(targets_up) is C(up < 1) (verify metrics are being collected; critical).
      - C(qdrant_up) is C(up{job="qdrant"} < 1) (critical).
      - C(error_rate_5xx) is the share of requests answered 5xx over O(rate_window), above 0.05 (critical).
      - C(latency_p95) is the 95th percentile of request durations over O(rate_window) in seconds, above 1 (warning).
      - C(qdrant_connection_errors) is the per-second rate of C(qdrant_connection_errors_total) over O(rate_window),
        above 0 (warning).
      - C(dependencies_up) is C(pynomaly_dependency_up < 1) (critical).
    type: list
    elements: str
    default: []
    choices: [targets_up, qdrant_up, error_rate_5xx, latency_p95, qdrant_connection_errors, dependencies_up]
  check_thresholds:
    description: Thresholds replacing those of O(checks), by check name, for example C(error_rate_5xx=0.01).
    type: dict
    default: {}
  rate_window:
    description: Window of the rates in O(checks), a Prometheus duration (C(5m) as in the runbooks; C(30s) in a lab).
    type: str
    default: 5m
  queries:
    description: Queries of your own, judged after O(checks).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name of the query; the finding id is C(prometheus.<name>). Unique among all queries.
        type: str
        required: true
      expr:
        description: The PromQL expression.
        type: str
        required: true
      op:
        description: How the value is compared with O(queries[].threshold); it crosses when C(value op threshold).
        type: str
        choices: ['>', '<', '>=', '<=', '==', '!=']
      threshold:
        description: The threshold; needs O(queries[].op). Without both, the query is only reported.
        type: float
      severity:
        description: Severity of the finding when the query crosses.
        type: str
        default: warning
        choices: [info, warning, critical]
      summary:
        description: What a crossing means, in words, for the finding's summary (the value and threshold follow).
        type: str
      range:
        description: Make it a range query over the last O(queries[].range.minutes).
        type: dict
        suboptions:
          minutes:
            description: Length of the range, in minutes, up to now.
            type: int
            required: true
          step:
            description: Resolution of the range, a Prometheus duration or seconds.
            type: str
            default: 15s
          reduce:
            description:
              - Which value of each series is judged. C(worst) is the highest for C(>) and C(>=), the lowest for
                C(<) and C(<=), the last otherwise.
            type: str
            default: worst
            choices: [worst, last, max, min, avg]
notes:
  - Runs on the controller or any host; uses only the Python standard library.
  - A query whose answer is empty, or only NaN, has no data (finding C(prometheus.no_data)). For C(error_rate_5xx) and
    C(latency_p95), NaN means no request in the window - nothing to judge, not a problem (C(prometheus.no_traffic),
    info).
"""

EXAMPLES = r"""
- name: Verify metrics are being collected, errors and latency are back to normal (Verification Steps)
  sre.runbooks.prometheus_query_info:
    url: http://prometheus:9090
    checks: [targets_up, error_rate_5xx, latency_p95]
    check_thresholds: {latency_p95: 0.5}
  register: monitoring

- name: Qdrant availability and connection errors over the last 10 minutes (P0-2 Monitoring Queries)
  sre.runbooks.prometheus_query_info:
    url: http://prometheus:9090
    queries:
      - name: qdrant_down
        expr: up{job="qdrant"}
        op: '<'
        threshold: 1
        severity: critical
        summary: Qdrant is down
      - name: qdrant_connection_errors
        expr: rate(qdrant_connection_errors_total[5m])
        op: '>'
        threshold: 0
        range: {minutes: 10, step: 30s}
"""

RETURN = r"""
status:
  description: C(down) when a critical query crosses, C(degraded) when a warning one does, C(unknown) when
    Prometheus does not answer or a query has no data, C(ok) otherwise.
  returned: always
  type: str
  sample: degraded
findings:
  description:
    - Id C(prometheus.<name>) per query that crossed its threshold (its severity; evidence C(query), C(expr),
      C(value), C(op), C(threshold), C(series) that crossed).
    - C(prometheus.no_data) per query that returned nothing (warning; metrics are not being collected).
    - C(prometheus.no_traffic) when C(error_rate_5xx) or C(latency_p95) has no request in the window to judge (info).
    - C(prometheus.unreachable) when Prometheus does not answer, answers 5xx or refuses the credentials (warning).
  returned: always
  type: list
  elements: dict
  sample:
    - id: prometheus.error_rate_5xx
      severity: critical
      summary: "Requests answered 5xx: 0.92 > 0.05"
      evidence: {query: error_rate_5xx, value: 0.92, op: '>', threshold: 0.05, series: ["(no labels)"]}
queries:
  description:
    - Every query in the order run. C(value) is the judged value (the worst series when there are several;
      null without data); C(values) the judged series' points C([unix time, value]) of a range query;
      C(passed) is false when the query crossed, had no data or could not run; C(finding) its finding id.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: targets_up, expr: up, value: 1.0, threshold: 1.0, op: '<', passed: true, series: 7}
    - {name: error_rate_5xx, expr: "sum(rate(...[5m])) / sum(rate(...[5m]))", value: 0.92, threshold: 0.05,
       op: '>', passed: false, series: 1, finding: prometheus.error_rate_5xx}
targets:
  description: Every active scrape target, C({job, instance, health, lastError, scrapeUrl, lastScrape}).
  returned: always
  type: list
  elements: dict
  sample: [{job: qdrant, instance: "qdrant:6333", health: down, lastError: "connection refused",
            scrapeUrl: "http://qdrant:6333/metrics", lastScrape: "2024-06-11T10:00:01Z"}]
prometheus_url:
  description: The Prometheus asked (credentials removed).
  returned: always
  type: str
  sample: http://prometheus:9090
"""

import operator
import re
import time

from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.findings import check_result, finding, worst_status
from ansible_collections.sre.runbooks.plugins.module_utils.prometheus import (
    CONNECTION_SPEC_OPTIONS,
    MonitoringApiError,
    MonitoringUnreachable,
    Prometheus,
    connection_argument_spec,
    is_nan,
    labels_text,
    series_of,
)

OPS = {">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne}
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
REQUESTS = "pynomaly_http_requests_total"
PRESETS = {
    "targets_up": ("up", "<", 1, "critical", "Scrape targets down: metrics are not being collected from them"),
    "qdrant_up": ('up{job="qdrant"}', "<", 1, "critical", "Qdrant is down"),
    # No 5xx series at all is a share of 0 (or vector(0)), not "no data".
    "error_rate_5xx": (f'(sum(rate({REQUESTS}{{code=~"5.."}}[{{w}}])) or vector(0)) / sum(rate({REQUESTS}[{{w}}]))',
                       ">", 0.05, "critical", "Requests answered 5xx"),
    "latency_p95": ("histogram_quantile(0.95, sum by (le) (rate(pynomaly_http_request_duration_seconds_bucket[{w}])))",
                    ">", 1.0, "warning", "p95 latency in seconds"),
    "qdrant_connection_errors": ("rate(qdrant_connection_errors_total[{w}])", ">", 0, "warning",
                                 "The application has Qdrant connection errors (per second)"),
    "dependencies_up": ("pynomaly_dependency_up", "<", 1, "critical", "The application cannot use a dependency"),
}
# Ratios of request rates: with no request in the window they are NaN, which says "no traffic", not "not collected".
TRAFFIC = {"error_rate_5xx", "latency_p95"}


def argument_spec():
    range_spec = {"minutes": {"type": "int", "required": True}, "step": {"type": "str", "default": "15s"},
                  "reduce": {"type": "str", "default": "worst", "choices": ["worst", "last", "max", "min", "avg"]}}
    query_spec = {
        "name": {"type": "str", "required": True},
        "expr": {"type": "str", "required": True},
        "op": {"type": "str", "choices": list(OPS)},
        "threshold": {"type": "float"},
        "severity": {"type": "str", "default": "warning", "choices": ["info", "warning", "critical"]},
        "summary": {"type": "str"},
        "range": {"type": "dict", "options": range_spec},
    }
    return dict(connection_argument_spec(),
                checks={"type": "list", "elements": "str", "default": [], "choices": list(PRESETS)},
                check_thresholds={"type": "dict", "default": {}},
                rate_window={"type": "str", "default": "5m"},
                queries={"type": "list", "elements": "dict", "default": [], "options": query_spec})


def planned_queries(params):
    """checks then queries, validated: [{name, expr, op, threshold, severity, summary, range}]."""
    if not DURATION.match(params["rate_window"]):
        raise RunbookError(f"rate_window must be a Prometheus duration such as 5m or 30s, not "
                           f"{params['rate_window']!r}", option="rate_window")
    unknown = sorted(set(params["check_thresholds"]) - set(params["checks"]))
    if unknown:
        raise RunbookError(f"check_thresholds names checks not in checks: {', '.join(unknown)}",
                           option="check_thresholds")
    planned = []
    for name in params["checks"]:
        expr, op, threshold, severity, summary = PRESETS[name]
        try:
            threshold = float(params["check_thresholds"].get(name, threshold))
        except (TypeError, ValueError):
            raise RunbookError(f"check_thresholds.{name} must be a number", option="check_thresholds") from None
        planned.append({"name": name, "expr": expr.replace("{w}", params["rate_window"]), "op": op,
                        "threshold": threshold, "severity": severity, "summary": summary, "range": None,
                        "traffic": name in TRAFFIC})
    for index, query in enumerate(params["queries"]):
        where = f"queries[{index}]"
        if not query["expr"].strip():
            raise RunbookError(f"{where}.expr is empty: give a PromQL expression", option="queries")
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", query["name"]):
            raise RunbookError(f"{where}.name {query['name']!r} must be letters, digits and _ (it names a finding id)",
                               option="queries")
        if (query["op"] is None) != (query["threshold"] is None):
            raise RunbookError(f"{where} ({query['name']}) needs both op and threshold, or neither", option="queries")
        window = query["range"]
        if window and (window["minutes"] <= 0 or not (DURATION.match(window["step"]) or _seconds(window["step"]))):
            raise RunbookError(f"{where}.range needs minutes above 0 and a step such as 15s, got {window}",
                               option="queries")
        planned.append(dict(query, summary=query["summary"] or query["name"]))
    names = [q["name"] for q in planned]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise RunbookError(f"query names must be unique; used twice: {', '.join(twice)}", option="queries")
    if not planned:
        raise RunbookError("nothing to query: give checks or queries", option="queries")
    return planned


def _seconds(text):
    try:
        return float(text) > 0
    except ValueError:
        return False


def reduce_points(points, how, op):
    values = [point[1] for point in points if not is_nan(point[1])]
    if not values:
        return float("nan")
    if how == "worst":
        how = "max" if op in (">", ">=") else "min" if op in ("<", "<=") else "last"
    return {"last": values[-1], "max": max(values), "min": min(values), "avg": sum(values) / len(values)}[how]


def judge(query, data):
    """The queries entry of one answer, and its finding or None."""
    series = series_of(data)
    op, threshold = query["op"], query["threshold"]
    window = query["range"]
    for one in series:
        if one["values"] is not None:
            one["value"] = reduce_points(one["values"], window["reduce"] if window else "last", op)
    with_data = [s for s in series if not is_nan(s["value"])]
    entry = {"name": query["name"], "expr": query["expr"], "value": None, "threshold": threshold, "op": op,
             "passed": True, "series": len(series)}
    evidence = {"query": query["name"], "expr": query["expr"], "op": op, "threshold": threshold}
    if not with_data and series and query.get("traffic"):
        entry["finding"] = "prometheus.no_traffic"
        return entry, finding("prometheus.no_traffic", "info",
                              f"{query['name']}: no request in the window, nothing to judge", dict(evidence))
    if not with_data:
        entry["passed"], entry["finding"] = False, "prometheus.no_data"
        why = ("the query returns no series: its metrics are not being collected" if not series else
               "its value is NaN: nothing to compute it from in the window (no requests?)")
        return entry, finding("prometheus.no_data", "warning", f"{query['name']} has no data: {why}",
                              dict(evidence, series=len(series)))
    crossing = [s for s in with_data if op and OPS[op](s["value"], threshold)]
    pick = max if op in (">", ">=") else min if op in ("<", "<=") else (lambda items, key: items[0])
    judged = crossing[0] if crossing else pick(with_data, key=lambda s: s["value"])
    entry["value"] = judged["value"]
    if judged["values"] is not None:
        entry["values"] = judged["values"]
    if not crossing:
        return entry, None
    entry["passed"], entry["finding"] = False, f"prometheus.{query['name']}"
    names = [labels_text(s["metric"]) for s in crossing]
    which = f" ({len(crossing)} of {len(series)} series: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''})" \
        if len(series) > 1 else ""
    summary = f"{query['summary']}: {_fmt(judged['value'])} {op} {_fmt(threshold)}{which}"
    return entry, finding(f"prometheus.{query['name']}", query["severity"], summary,
                          dict(evidence, value=judged["value"], series=names[:20]))


def _fmt(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _status(found):
    statuses = [{"critical": "down", "warning": "degraded", "info": "ok"}[f["severity"]]
                if f["id"] not in ("prometheus.no_data", "prometheus.unreachable") else "unknown" for f in found]
    return worst_status(*statuses)


def unreachable(planned, client, exc):
    queries = [{"name": q["name"], "expr": q["expr"], "value": None, "threshold": q["threshold"], "op": q["op"],
                "passed": False, "series": 0, "error": exc.msg} for q in planned]
    found = [finding("prometheus.unreachable", "warning", f"{exc.msg}: nothing could be verified from monitoring",
                     {"url": client.where, "error": exc.msg})]
    return check_result(found, status="unknown", queries=queries, targets=[], prometheus_url=client.where)


def run(params):
    planned = planned_queries(params)
    client = Prometheus(params)
    try:
        targets = client.targets()
    except MonitoringUnreachable as exc:
        return unreachable(planned, client, exc)
    now = time.time()
    requests = [client.query_request(q["expr"]) if not q["range"] else client.query_request(
        q["expr"], now - q["range"]["minutes"] * 60, now, q["range"]["step"]) for q in planned]
    queries, found = [], []
    for index, (query, (data, error)) in enumerate(zip(planned, client.call_all(requests))):
        if isinstance(error, MonitoringApiError):
            checks = len(params["checks"])
            where = f"check {query['name']}" if index < checks else f"queries[{index - checks}] ({query['name']})"
            raise RunbookError(f"Prometheus refused {where}: {error.msg}. Expression: {query['expr']}",
                               option="checks" if index < checks else "queries")
        if error is not None:
            return unreachable(planned, client, error)
        entry, problem = judge(query, data["data"])
        queries.append(entry)
        found += [problem] if problem else []
    return check_result(found, status=_status(found), queries=queries, targets=targets, prometheus_url=client.where)


def main():
    module = RunbookModule(argument_spec=argument_spec(), supports_check_mode=True, **CONNECTION_SPEC_OPTIONS)
    module.run_check(run)


if __name__ == "__main__":
    main()
