"""evidence_collect against real files, the lab's demo app log, its Kubernetes API (pod logs), its moto S3 (the
seeded ALB access logs) and sockets that refuse or never answer; each test reads back what is on disk."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import urllib.request
from pathlib import Path

import kubernetes
import pytest
from conftest import aws_connection
from k8s_probe import connection

from ansible_collections.sre.runbooks.plugins.module_utils.redact import redact_text
from lab import aws, k8s

WINDOW = 720  # minutes: the seeded ALB objects of the last 15 minutes are in it however long the suite ran


@pytest.fixture
def incidents(tmp_path):
    folder = tmp_path / "incidents"
    folder.mkdir()
    return folder


def collect(ansible_module, incidents: Path, sources: list, incident_id: str = "INC-1", check: bool = False,
            **options) -> dict:
    return ansible_module("evidence_collect", {"incident_dir": str(incidents), "incident_id": incident_id,
                                               "sources": sources, **options}, check=check)


def on_disk(folder: Path) -> dict:
    """{name: bytes} of every file under folder (recursively, names relative to it)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_manifest_matches_disk(result: dict) -> dict:
    folder = Path(result["evidence_dir"])
    files = on_disk(folder)
    manifest = json.loads(files.pop("manifest.json"))
    assert manifest == result["manifest"]
    assert sorted(files) == sorted(f["path"] for f in manifest["files"])
    for entry in manifest["files"]:
        data = files[entry["path"]]
        assert entry["bytes"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["total_bytes"] == sum(len(d) for d in files.values()) <= manifest["max_bytes"]
    return files


def test_files_written_match_their_manifest(lab, ansible_module, incidents):
    app_log = lab.logfile("app")
    findings = [{"id": "http.endpoint_error", "severity": "critical", "summary": "api answered 500"}]
    result = collect(ansible_module, incidents, [
        {"type": "json", "name": "findings", "data": findings},
        {"type": "file", "path": str(app_log), "name": "application.log"},
        {"type": "journal", "unit": "pynomaly"},
    ])
    assert result["failed"] is False and result["changed"] is True
    assert result["evidence_dir"] == str(incidents / "INC-1" / "evidence")
    files = assert_manifest_matches_disk(result)
    assert json.loads(files["findings.json"]) == findings
    # the whole log as it was, redacted (the app goes on writing to it: Prometheus scrapes it every second)
    written = files["application.log"].decode()
    assert written and redact_text(app_log.read_text()).startswith(written)
    sources = {f["path"]: f["source"] for f in result["manifest"]["files"]}
    assert sources["application.log"] == f"file:{app_log}" and sources["findings.json"] == "json:findings"
    if shutil.which("journalctl"):
        assert sources["journal-pynomaly.log"] == "journal:pynomaly"
    else:
        assert result["manifest"]["skipped"] == [{"source": "journal:pynomaly", "reason": (
            "journalctl is not installed on this host (no systemd journal to read)")}]


def test_rerun_changes_nothing_then_replaces_and_removes(lab, ansible_module, incidents):
    first = collect(ansible_module, incidents, [{"type": "json", "name": "a", "data": {"n": 1}},
                                                {"type": "json", "name": "b", "data": {"n": 2}}])
    again = collect(ansible_module, incidents, [{"type": "json", "name": "a", "data": {"n": 1}},
                                                {"type": "json", "name": "b", "data": {"n": 2}}])
    assert first["changed"] is True and again["changed"] is False and again["actions"] == []
    assert again["manifest"] == first["manifest"]
    replaced = collect(ansible_module, incidents, [{"type": "json", "name": "a", "data": {"n": 3}}])
    assert replaced["changed"] is True
    assert replaced["actions"] == ["write a.json (13 bytes)", "remove b.json (not collected this time)",
                                   "write manifest.json"]
    files = assert_manifest_matches_disk(replaced)
    assert sorted(files) == ["a.json"] and json.loads(files["a.json"]) == {"n": 3}


def test_secrets_are_redacted_on_disk(lab, ansible_module, incidents, tmp_path):
    # the demo app logs every request line: a token in a query string lands in its log
    with urllib.request.urlopen(lab.service("app")["health_url"] + "?token=plantedtoken123", timeout=10):
        pass
    planted = tmp_path / "web.log"
    lines = [
        "INFO connecting to postgresql://pynomaly:plantedpgpw@db:5432/pynomaly",
        "DEBUG headers Authorization: Bearer plantedbearer.abc.def",
        "DEBUG login password=plantedpassword user=ops",
        'DEBUG body {"api_key": "plantedapikey", "client_secret": "plantedclientsecret"}',
        "WARN AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE aws_secret_access_key=plantedawssecret",
        "INFO slack xoxb-1234-5678-plantedslack",
        "INFO redis://:plantedredispw@cache:6379/0",
        "INFO GET /health 200 in 3 ms",
    ]
    planted.write_text("".join(line + "\n" for line in lines))
    result = collect(ansible_module, incidents, [
        {"type": "file", "path": str(planted)},
        {"type": "file", "path": str(lab.logfile("app")), "name": "app.log"},
        {"type": "json", "name": "actions",
         "data": {"step": "restart", "db_password": "plantedjsonpw", "note": "used token=plantedjsontoken"}},
    ])
    files = assert_manifest_matches_disk(result)
    text = b"".join(files.values()).decode()
    for secret in ("plantedtoken123", "plantedpgpw", "plantedbearer", "plantedpassword", "plantedapikey",
                   "plantedclientsecret", "AKIAIOSFODNN7EXAMPLE", "plantedawssecret", "plantedslack",
                   "plantedredispw", "plantedjsonpw", "plantedjsontoken"):
        assert secret not in text
    assert "GET /health?token=***" in files["app.log"].decode()
    assert "INFO GET /health 200 in 3 ms" in files["web.log"].decode()  # the rest is kept as it was
    assert json.loads(files["actions.json"])["db_password"] == "***"


def test_bounds_cut_with_a_note_and_skip_past_max_bytes(lab, ansible_module, incidents, tmp_path):
    big = tmp_path / "big.log"
    big.write_text("".join(f"big line {i:05d} " + "y" * 24 + "\n" for i in range(500)))  # 20000 bytes
    logs = []
    for name in ("aaa", "bbb", "ccc"):
        path = tmp_path / f"{name}.log"
        path.write_text("".join(f"{name} line {i:04d} " + "x" * 25 + "\n" for i in range(50)))  # 2000 bytes
        logs.append(path)
    result = collect(ansible_module, incidents, [{"type": "file", "path": str(big)}]
                     + [{"type": "file", "path": str(p)} for p in logs], max_bytes=6000, max_file_bytes=3000)
    files = assert_manifest_matches_disk(result)
    by_path = {f["path"]: f for f in result["manifest"]["files"]}
    assert sorted(by_path) == ["aaa.log", "bbb.log", "big.log"]
    # a file keeps at most max_file_bytes: its last whole lines after a note
    assert by_path["big.log"]["truncated"] is True and len(files["big.log"]) <= 3000
    lines = files["big.log"].decode().splitlines()
    assert lines[0] == by_path["big.log"]["note"]
    assert lines[0].startswith("[evidence_collect] truncated (max_file_bytes): the first ")
    assert lines[0].endswith(" of 20000 bytes are left out")
    assert lines[1].startswith("big line ") and lines[-1] == "big line 00499 " + "y" * 24
    # all files keep at most max_bytes: the file that reaches it is cut, the ones after it are skipped
    assert by_path["aaa.log"]["truncated"] is False and files["aaa.log"] == logs[0].read_bytes()
    assert by_path["bbb.log"]["truncated"] is True
    assert files["bbb.log"].decode().startswith("[evidence_collect] truncated (max_bytes)")
    assert files["bbb.log"].decode().endswith("bbb line 0049 " + "x" * 25 + "\n")
    assert result["manifest"]["total_bytes"] <= 6000
    assert result["manifest"]["skipped"] == [{"source": f"file:{logs[2]}",
                                              "reason": "max_bytes (6000) reached: 2000 bytes not written"}]


def test_check_mode_writes_nothing(lab, ansible_module, incidents):
    result = collect(ansible_module, incidents, [{"type": "file", "path": str(lab.logfile("app"))},
                                                 {"type": "json", "name": "findings", "data": []}], check=True)
    assert result["failed"] is False and result["changed"] is True and result["check_mode"] is True
    assert [f["path"] for f in result["manifest"]["files"]] == ["app.log", "findings.json"]
    assert result["actions"][-1] == "write manifest.json" and result["msg"].startswith("would collect 2 file(s)")
    assert list(incidents.iterdir()) == []


def test_names_never_leave_the_evidence_folder(lab, ansible_module, incidents):
    outside_before = on_disk(incidents.parent)
    result = collect(ansible_module, incidents, [
        {"type": "json", "name": "../../../escaped", "data": {"a": 1}},
        {"type": "file", "path": str(lab.logfile("app")), "name": "/etc/cron.d/evil"},
        {"type": "json", "name": "manifest", "data": {"b": 2}},
    ], incident_id="../../up")
    folder = Path(result["evidence_dir"])
    assert folder == incidents / ".._.._up" / "evidence"
    files = assert_manifest_matches_disk(result)
    assert sorted(files) == ["_._._escaped.json", "_etc_cron.d_evil", "manifest-2.json"]
    new = {name for name in on_disk(incidents.parent) if name not in outside_before}
    assert new == {f"incidents/.._.._up/evidence/{name}" for name in [*files, "manifest.json"]}


def test_sources_that_fail_are_skipped_with_the_reason(lab, ansible_module, incidents, hanging_port, tmp_path):
    result = collect(ansible_module, incidents, [
        {"type": "file", "path": str(tmp_path / "missing.log")},
        {"type": "file", "path": str(tmp_path / "nothing-*.log")},
        {"type": "prometheus", "url": "http://127.0.0.1:1", "expr": "up"},
        {"type": "prometheus", "url": f"http://127.0.0.1:{hanging_port}", "expr": "up", "name": "hung"},
        {"type": "k8s_pod_logs", "deployment": "no-such-deployment"},
        {"type": "json", "name": "findings", "data": []},
    ], timeout=1, **connection(lab))
    assert result["failed"] is False and result["changed"] is True
    assert result["manifest"]["skipped"] == [
        {"source": f"file:{tmp_path / 'missing.log'}", "reason": f"{tmp_path / 'missing.log'} does not exist"},
        {"source": f"file:{tmp_path / 'nothing-*.log'}", "reason": f"no file matches {tmp_path / 'nothing-*.log'}"},
        {"source": "prometheus:up", "reason": "Prometheus at http://127.0.0.1:1 does not answer: connection refused"},
        {"source": "prometheus:up",
         "reason": f"Prometheus at http://127.0.0.1:{hanging_port} does not answer: timed out"},
        {"source": "k8s_pod_logs:deployment=no-such-deployment",
         "reason": f"Deployment no-such-deployment not found in namespace {lab.service('k8s')['namespace']}"},
    ]
    assert sorted(assert_manifest_matches_disk(result)) == ["findings.json"]


def test_pod_logs_are_what_the_api_serves(lab, ansible_module, incidents):
    result = collect(ansible_module, incidents, [{"type": "k8s_pod_logs", "statefulset": "qdrant", "max_pods": 2}],
                     window_minutes=WINDOW, **connection(lab))
    files = assert_manifest_matches_disk(result)
    assert sorted(files) == ["pod-qdrant-0-qdrant.log", "pod-qdrant-1-qdrant.log"]
    info = lab.service("k8s")
    with k8s.api(info) as client:
        served = kubernetes.client.CoreV1Api(client).read_namespaced_pod_log(
            "qdrant-0", info["namespace"], container="qdrant", since_seconds=WINDOW * 60)
    assert files["pod-qdrant-0-qdrant.log"].decode().splitlines() == served.splitlines()
    assert "Qdrant HTTP listening on 6333" in served


def test_alb_logs_are_the_lines_of_the_window(lab, ansible_module, incidents):
    info = lab.service("aws")
    result = collect(ansible_module, incidents, [
        {"type": "alb_logs", "s3_bucket": info["access_log_bucket"], "s3_prefix": info["access_log_prefix"],
         "load_balancer_name": info["load_balancer_name"], "name": "alb.log"}], window_minutes=WINDOW,
        **aws_connection(lab))
    files = assert_manifest_matches_disk(result)
    lines = files["alb.log"].decode().splitlines()
    s3 = aws.client(info, "s3")
    stored = set()
    for key in info["access_log_keys"]:
        stored |= set(gzip.decompress(s3.get_object(Bucket=info["access_log_bucket"], Key=key)["Body"].read())
                      .decode().splitlines())
    assert len(lines) == 200  # the seed's entries of the last 15 minutes (lab/aws.py ACCESS_LOG_MIX); not the old 50
    assert set(lines) <= stored and lines == sorted(lines, key=lambda line: line.split(" ")[1])


def test_prometheus_range_export_from_the_lab(lab, ansible_module, incidents, monitoring):
    prometheus = monitoring["prometheus_url"]
    result = collect(ansible_module, incidents, [{"type": "prometheus", "url": prometheus, "expr": "up",
                                                  "name": "metrics-up", "minutes": 10, "step": 15}])
    files = assert_manifest_matches_disk(result)
    export = json.loads(files["metrics-up.json"])
    assert export["expr"] == "up" and export["end"] - export["start"] == 600 and export["step"] == 15
    assert export["response"]["status"] == "success" and export["response"]["data"]["resultType"] == "matrix"
    assert export["response"]["data"]["result"], "Prometheus holds no series for up"


@pytest.mark.parametrize("sources, options, words", [
    ([{"type": "ftp", "path": "/x"}], {}, "type"),
    ([{"type": "file"}], {}, "path"),
    ([{"type": "file", "path": "relative/app.log"}], {}, "sources[0].path must be an absolute path"),
    ([{"type": "json", "data": {}}], {}, "name"),
    ([{"type": "prometheus", "url": "http://p:9090", "expr": "up", "step": 1, "minutes": 600}], {}, "sources[0].step"),
    ([{"type": "k8s_pod_logs", "pod": "a", "deployment": "b"}], {}, "give only one of"),
    ([{"type": "json", "name": "x", "data": 1}], {"incident_id": ".."}, "incident_id"),
    ([{"type": "json", "name": "x", "data": 1}], {"max_bytes": 0}, "max_bytes"),
])
def test_bad_input_names_the_option_and_writes_nothing(lab, ansible_module, incidents, sources, options, words):
    result = collect(ansible_module, incidents, sources, **options)
    assert result["failed"] is True and words in result["msg"]
    assert "Traceback" not in result["msg"] and "exception" not in result
    assert list(incidents.iterdir()) == [] and not os.path.exists(incidents.parent / "evidence")
