"""The ALB access log parser of elb_access_log_info: entries, percentiles, summaries, object names, cut reads."""

import gzip
from datetime import UTC, datetime

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.checks.elb_access_log import (
    decompress,
    file_time,
    parse_line,
    percentile,
    summarize,
)

TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/73e2d6bc24d8a067"


def line(target="10.0.1.5:8000", times="0.001 0.250 0.000", statuses="200 200", request="GET", path="/api/v1/x",
         user_agent="curl/8.5.0", when="2024-05-01T12:00:01.123456Z"):
    return (f'https {when} app/web/50dc6c495c0c9188 198.51.100.7:51234 {target} {times} {statuses} 34 366 '
            f'"{request} https://web.example.com:443{path}?q=1 HTTP/1.1" "{user_agent}" '
            f'ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 {TG} "Root=1-58337262-36d228ad5d99923122bbe354" "web.example.com" '
            f'"arn:aws:acm:us-east-1:123456789012:certificate/12345678" 1 2024-05-01T12:00:00.873456Z "forward" "-" '
            f'"-" "{target}" "{statuses.split()[1]}" "-" "-" TID_1234')


def test_a_served_request():
    entry = parse_line(line())
    assert entry == {"time": datetime(2024, 5, 1, 12, 0, 1, tzinfo=UTC), "target": "10.0.1.5:8000",
                     "elb_status": 200, "target_status": 200, "target_seconds": 0.25, "method": "GET",
                     "path": "/api/v1/x", "error_reason": "-", "line": line()}


def test_a_target_that_closed_the_connection_has_no_latency_and_no_target_status():
    entry = parse_line(line(times="0.001 -1 -1", statuses="502 -"))
    assert (entry["elb_status"], entry["target_status"], entry["target_seconds"]) == (502, None, None)
    assert entry["target"] == "10.0.1.5:8000"


def test_no_target_and_a_user_agent_with_spaces_and_quotes():
    entry = parse_line(line(target="-", times="-1 -1 -1", statuses="503 -",
                            user_agent=r'Mozilla/5.0 (X11; Linux) \"quoted\" agent'))
    assert (entry["target"], entry["elb_status"], entry["path"]) == ("-", 503, "/api/v1/x")


def test_the_oldest_format_without_the_later_fields():
    short = (f'http 2024-05-01T12:00:01.000000Z app/web/50dc 198.51.100.7:5 10.0.1.5:80 0.000 0.004 0.000 404 404 '
             f'1 2 "GET http://web:80/missing HTTP/1.1" "curl" - - {TG}')
    entry = parse_line(short)
    assert (entry["elb_status"], entry["path"], entry["error_reason"]) == (404, "/missing", None)


@pytest.mark.parametrize("text", [
    "", "not a log line", "ERROR db: could not connect",
    'http 2024-05-01T12:00:01Z app/web/1 1.2.3.4:5 - -1 -1 -1 503',  # cut before the request
    line(when="yesterday"), line(statuses="abc 200"),
])
def test_lines_that_are_not_entries(text):
    assert parse_line(text) is None


def test_a_tcp_request_has_the_dash_path():
    entry = parse_line(line().replace('"GET https://web.example.com:443/api/v1/x?q=1 HTTP/1.1"', '"- - - "'))
    assert entry["path"] == "-"


def test_nearest_rank_percentiles():
    values = [10, 1, 9, 2, 8, 3, 7, 4, 6, 5]
    assert [percentile(values, p) for p in (50, 95, 99, 100)] == [5, 10, 10, 10]
    assert percentile(list(range(1, 101)), 95) == 95
    assert percentile([], 50) is None


def test_summary_counts_errors_by_target_and_path_and_keeps_the_last_error_lines():
    lines = ([line(times=f"0.001 {n / 100:.3f} 0.000") for n in range(1, 21)]
             + [line(target="10.0.1.9:8000", times="0.001 -1 -1", statuses="502 -", path="/detect",
                     when=f"2024-05-01T12:00:{s:02d}.000000Z") for s in range(10, 13)]
             + [line(statuses="404 404", path="/nope"), line(target="-", times="-1 -1 -1", statuses="503 -")])
    stats = summarize([parse_line(text) for text in lines], error_lines=2)
    assert (stats["requests"], stats["errors_5xx"], stats["errors_4xx"], stats["error_rate"]) == (25, 4, 1, 0.16)
    assert stats["errors_5xx_by_target"] == {"10.0.1.9:8000": 3, "-": 1}
    assert stats["errors_5xx_by_path"] == {"/detect": 3, "/api/v1/x": 1}
    assert stats["latency"] == {"p50": 0.11, "p95": 0.2, "p99": 0.25, "samples": 21}  # the 404 took 0.25 s
    assert stats["slow_paths"] == [{"path": "/nope", "requests": 1, "p95_seconds": 0.25},
                                   {"path": "/api/v1/x", "requests": 20, "p95_seconds": 0.19}]
    assert [parse_line(t)["time"].second for t in stats["error_lines"]] == [11, 12]


def test_an_empty_window():
    stats = summarize([])
    assert (stats["requests"], stats["error_rate"], stats["error_lines"]) == (0, None, [])
    assert stats["latency"] == {"p50": None, "p95": None, "p99": None, "samples": 0}


def test_object_names_give_the_end_of_their_five_minutes():
    key = ("alb/AWSLogs/123456789012/elasticloadbalancing/us-east-1/2024/05/01/123456789012_elasticloadbalancing_"
           "us-east-1_app.web.50dc6c495c0c9188_20240501T1205Z_10.0.1.200_2et2e1mx.log.gz")
    assert file_time(key) == datetime(2024, 5, 1, 12, 5, tzinfo=UTC)
    assert file_time("alb/AWSLogs/ELBAccessLogTestFile") is None


def test_a_cut_gzip_read_keeps_only_whole_lines():
    text = "".join(f"entry {n} {'x' * 40}\n" for n in range(200))
    body = gzip.compress(text.encode())
    assert decompress(body, "a.log.gz", partial=False) == text
    cut = decompress(body[:len(body) // 2], "a.log.gz", partial=True).splitlines()
    assert 0 < len(cut) < 200 and cut == text.splitlines()[:len(cut)]
    assert decompress(b"plain\nlines\nhalf", "a.log", partial=True) == "plain\nlines"
