"""evidence_collect's module_utils: names, bounds, redaction, the journal through a fake host, the Prometheus
range export against a tiny stub (the real one is tested against the lab's Prometheus when it runs one)."""

import hashlib
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils import evidence
from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.redact import redact, redact_text

NOW = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)


def params(tmp_path, sources, **options):
    base = {"incident_dir": str(tmp_path / "incidents"), "incident_id": "INC-7", "max_bytes": 20 * 1024 * 1024,
            "max_file_bytes": 5 * 1024 * 1024, "window_minutes": 60, "timeout": 2.0, "sources": sources}
    base.update(options)
    return base


def source(kind, **options):
    base = dict.fromkeys(evidence.argument_spec()["sources"]["options"])
    base.update(type=kind, step=60, previous=False, tail_lines=5000, max_pods=20, s3_prefix="")
    base.update(options)
    return base


class FakeHost:
    def __init__(self, journalctl="/usr/bin/journalctl", rc=0, out=b"", err=b""):
        self.journalctl, self.answer, self.calls = journalctl, (rc, out, err), []

    def which(self, name):
        return self.journalctl if name == "journalctl" else None

    def run(self, argv):
        self.calls.append(argv)
        return self.answer


# -- names --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, safe", [
    ("app.log", "app.log"),
    ("../../etc/passwd", "_._etc_passwd"),
    ("..", "evidence"),
    (".hidden", "hidden"),
    ("a b/c:d", "a_b_c_d"),
    ("", "evidence"),
    ("x" * 300, "x" * 150),
])
def test_safe_name(name, safe):
    assert evidence.safe_name(name) == safe


def test_incident_folder_is_the_records_and_never_dots(tmp_path):
    assert evidence.evidence_dir(params(tmp_path, [], incident_id="INC 7/a")).endswith("/incidents/INC_7_a/evidence")
    for bad in ("..", ".", ""):
        with pytest.raises(RunbookError, match="incident_id"):
            evidence.incident_folder({"incident_id": bad})


def test_names_are_unique_and_leave_the_manifest_alone():
    items = evidence.name_files([{"name": n} for n in ("a.log", "a.log", "manifest.json", "../a.log")])
    assert [i["path"] for i in items] == ["a.log", "a-2.log", "manifest-2.json", "_a.log"]


def test_inside_refuses_what_is_not_a_plain_name(tmp_path):
    assert evidence.inside(str(tmp_path), "a.log") == str(tmp_path / "a.log")
    for bad in ("../a", "..", "a/b", ".x"):
        with pytest.raises(RunbookError):
            evidence.inside(str(tmp_path), bad)


# -- bounds -------------------------------------------------------------------------------------------------
LINES = b"".join(b"line %04d %s\n" % (i, b"z" * 19) for i in range(200))  # 30 bytes a line, 6000 in all


@pytest.mark.parametrize("limit", [100, 301, 1000, 5999])  # the note is 83 bytes
def test_cut_keeps_whole_last_lines_after_a_note(limit):
    cut = evidence.cut_text(LINES, limit, "max_file_bytes")
    assert cut["truncated"] is True and len(cut["data"]) <= limit
    note, *kept = cut["data"].decode().splitlines()
    assert note == cut["note"]
    assert note == f"[evidence_collect] truncated (max_file_bytes): the first {6000 - 30 * len(kept)} of 6000 bytes " \
                   "are left out"
    assert "".join(line + "\n" for line in kept) == LINES.decode()[6000 - 30 * len(kept):]


def test_cut_leaves_what_fits_and_counts_what_was_read_before():
    assert evidence.cut_text(LINES, 6000, "x") == {"data": LINES, "truncated": False, "note": None}
    cut = evidence.cut_text(LINES[15:], 7000, "tail_bytes", cut_before=15)  # the tail began mid-line
    assert cut["data"].decode().splitlines()[1] == "line 0001 " + "z" * 19
    assert "the first 30 of 6000 bytes" in cut["note"]
    assert evidence.cut_text(LINES, 20, "x")["data"] == b""
    assert evidence.cut_text(LINES, 100, "x")["data"].count(b"\n") == 1  # no whole line fits beside the note


def item(name, size, kind="text"):
    return {"name": name, "source": f"file:/{name}", "kind": kind, "data": b"q\n" * (size // 2), "truncated": False,
            "note": None}


def test_bound_cuts_the_text_that_reaches_max_bytes_and_skips_the_rest():
    skipped = []
    kept = evidence.bound([item("a", 400), item("b", 400), item("c", 10)], skipped, 600)
    assert [k["name"] for k in kept] == ["a", "b"] and sum(len(k["data"]) for k in kept) <= 600
    assert kept[1]["truncated"] is True
    assert skipped == [{"source": "file:/c", "reason": "max_bytes (600) reached: 10 bytes not written"}]


def test_bound_skips_json_that_does_not_fit_and_everything_after():
    skipped = []
    kept = evidence.bound([item("a", 400), item("j", 400, "json"), item("c", 10)], skipped, 600)
    assert [k["name"] for k in kept] == ["a"]
    assert [s["source"] for s in skipped] == ["file:/j", "file:/c"]


# -- redaction ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, secret", [
    ("postgresql://app:pgsecret@db:5432/x", "pgsecret"),
    ("redis://:redissecret@cache:6379", "redissecret"),
    ("password=pw1 next", "pw1"),
    ("PGPASSWORD=pw2 psql", "pw2"),
    ('{"password": "pw 3", "user": "u"}', "pw 3"),
    ("'api_key': 'k4'", "k4"),
    ("Authorization: Bearer tok5.tok5", "tok5"),
    ("curl -H 'Authorization: Basic dXNlcjpwdw=='", "dXNlcjpwdw"),
    ("sent bearer abcdefghijk6", "abcdefghijk6"),
    ("X-Api-Key: key7", "key7"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG", "wJalrXUtnFEMI"),
    ("id AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("token xoxb-1-2-slack8", "slack8"),
])
def test_redact_text_masks_secrets(text, secret):
    assert secret not in redact_text(text)


def test_redact_keeps_ordinary_lines_and_masks_secret_keys():
    line = '127.0.0.1 "GET /health HTTP/1.1" 200 - tokens_used=5 in 3 ms'
    assert redact_text(line) == line
    assert redact({"db": {"password": "x", "host": "h"}, "list": ["token=abc"]}) == {
        "db": {"password": "***", "host": "h"}, "list": ["token=***"]}


# -- sources ------------------------------------------------------------------------------------------------
def test_journal_runs_journalctl_for_the_window(tmp_path):
    host = FakeHost(out=b"2024-05-01T09:59:00+0000 host pynomaly[1]: started with password=hunter2\n")
    items, skipped = evidence.collect_journal(source("journal", unit="pynomaly"), params(tmp_path, []), NOW, host)
    argv = host.calls[0]
    assert argv[:3] == ["/usr/bin/journalctl", "-u", "pynomaly"] and argv[5:] == ["--no-pager", "-o", "short-iso"]
    assert argv[3] == "--since" and datetime.strptime(argv[4], "%Y-%m-%d %H:%M:%S")
    assert skipped == [] and items[0]["name"] == "journal-pynomaly.log"
    assert items[0]["data"] == b"2024-05-01T09:59:00+0000 host pynomaly[1]: started with password=***\n"


def test_journal_without_journalctl_or_failing_is_skipped(tmp_path):
    journal = source("journal", unit="pynomaly")
    run = evidence.collect_source(journal, params(tmp_path, []), NOW, FakeHost(journalctl=None))
    assert run == ([], [{"source": "journal:pynomaly",
                         "reason": "journalctl is not installed on this host (no systemd journal to read)"}])
    run = evidence.collect_source(journal, params(tmp_path, []), NOW, FakeHost(rc=1, err=b"Failed to add filter\n"))
    assert run[1][0]["reason"] == "journalctl -u pynomaly exited 1: Failed to add filter"


@pytest.fixture
def prometheus_stub():
    """A stand-in for Prometheus' /api/v1/query_range (the lab has no Prometheus yet): answers a matrix for
    `up`, a 400 with Prometheus' error body for anything else; records the queries."""
    queries = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            queries.append((url.path, query))
            if query.get("query") == "up":
                code, body = 200, {"status": "success", "data": {"resultType": "matrix", "result": [
                    {"metric": {"job": "app"}, "values": [[int(query["start"]), "1"], [int(query["end"]), "1"]]}]}}
            else:
                code, body = 400, {"status": "error", "errorType": "bad_data", "error": "parse error"}
            payload = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", queries
    server.shutdown()
    server.server_close()


def test_prometheus_range_export(tmp_path, prometheus_stub):
    url, queries = prometheus_stub
    wanted = source("prometheus", url=url, expr="up", minutes=30, step=15)
    items, skipped = evidence.collect_prometheus(wanted, params(tmp_path, []), NOW)
    end = int(NOW.timestamp())
    assert queries == [("/api/v1/query_range", {"query": "up", "start": str(end - 1800), "end": str(end),
                                                "step": "15"})]
    export = json.loads(items[0]["data"])
    assert skipped == [] and items[0]["name"] == "prometheus-up.json" and items[0]["source"] == "prometheus:up"
    assert (export["expr"], export["start"], export["end"], export["step"]) == ("up", end - 1800, end, 15)
    assert export["response"]["data"]["result"][0]["values"] == [[end - 1800, "1"], [end, "1"]]


def test_prometheus_error_is_skipped_with_its_message(tmp_path, prometheus_stub):
    url = prometheus_stub[0]
    run = evidence.collect_source(source("prometheus", url=url, expr="rate(", name="bad"), params(tmp_path, []),
                                  NOW, FakeHost())
    assert run == ([], [{"source": "prometheus:rate(", "reason": f"Prometheus at {url} answered 400: parse error"}])


def test_collect_writes_redacted_files_and_a_manifest(tmp_path, prometheus_stub):
    url = prometheus_stub[0]
    log = tmp_path / "app.log"
    log.write_text("ok\nconnect postgres://app:s3cret@db/app\n")
    run = params(tmp_path, [source("file", path=str(log)), source("prometheus", url=url, expr="up", name="up"),
                            source("json", name="findings", data=[{"id": "x"}])])
    planned = evidence.collect(run, True, FakeHost())
    assert planned["changed"] is True and not (tmp_path / "incidents").exists()
    done = evidence.collect(run, False, FakeHost())
    folder = tmp_path / "incidents" / "INC-7" / "evidence"
    assert done["evidence_dir"] == str(folder) and [f["path"] for f in done["manifest"]["files"]] == [
        "app.log", "up.json", "findings.json"]
    assert json.loads((folder / "manifest.json").read_text()) == done["manifest"]
    for entry in done["manifest"]["files"]:
        assert hashlib.sha256((folder / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]
    assert (folder / "app.log").read_text() == "ok\nconnect postgres://***:***@db/app\n"
    assert (folder / "app.log").stat().st_mode & 0o077 == 0
