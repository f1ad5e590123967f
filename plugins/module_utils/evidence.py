# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The evidence_collect action: argument_spec() and collect(params, check_mode, host).

The runbook's Data Collection (``cp /var/log/...``, ``journalctl -u pynomaly --since "1 hour ago"``,
``curl .../api/v1/query_range``) into ``<incident_dir>/<incident_id>/evidence/``: every file redacted before it
is written, each bounded by max_file_bytes and all together by max_bytes, listed with its size and SHA-256 in
``manifest.json``. A source that cannot be read is listed in the manifest's ``skipped`` with the reason.

``host`` runs commands on the managed host: ``host.which(name)`` -> path or None and
``host.run(argv)`` -> (rc, stdout bytes, stderr bytes) (the module passes AnsibleModule's).
"""

import glob
import hashlib
import json
import os
import re
import tempfile
from datetime import datetime, timedelta, timezone

from ansible.module_utils.basic import env_fallback

from ansible_collections.sre.runbooks.plugins.module_utils.aws_client import aws_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.common import check_bounds
from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.http_client import fetch, redact_url
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_client import k8s_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.redact import redact, redact_text

TYPES = ["file", "journal", "prometheus", "k8s_pod_logs", "alb_logs", "json"]
BOUNDS = {"max_bytes": (1, None), "max_file_bytes": (1, None), "window_minutes": (1, 10080), "timeout": (0.001, 300)}
SOURCE_BOUNDS = {"tail_bytes": (1, None), "minutes": (1, 10080), "step": (1, 86400), "tail_lines": (1, 100000),
                 "max_pods": (1, 100)}
MAX_POINTS = 11000  # Prometheus refuses a range query with more points per series
MANIFEST = "manifest.json"
K8S_SELECTIONS = ("label_selector", "deployment", "statefulset", "pod")

# Passed to AnsibleModule with argument_spec().
SPEC_OPTIONS = {}


def argument_spec():
    """The options of sre.runbooks.evidence_collect, with the shared aws and k8s groups (for those sources)."""
    source_spec = {
        "type": {"type": "str", "required": True, "choices": TYPES},
        "name": {"type": "str"},
        "path": {"type": "str"},
        "tail_bytes": {"type": "int"},
        "unit": {"type": "str"},
        "since": {"type": "str"},
        "url": {"type": "str"},
        "expr": {"type": "str"},
        "minutes": {"type": "int"},
        "step": {"type": "int", "default": 60},
        "namespace": {"type": "str"},
        "label_selector": {"type": "str"},
        "deployment": {"type": "str"},
        "statefulset": {"type": "str"},
        "pod": {"type": "str"},
        "container": {"type": "str"},
        "previous": {"type": "bool", "default": False},
        "tail_lines": {"type": "int", "default": 5000},
        "max_pods": {"type": "int", "default": 20},
        "s3_bucket": {"type": "str"},
        "s3_prefix": {"type": "str", "default": ""},
        "account_id": {"type": "str"},
        "load_balancer_name": {"type": "str"},
        "data": {"type": "raw"},
    }
    spec = aws_argument_spec()
    spec.update(k8s_argument_spec())
    spec.update({
        "incident_dir": {"type": "path", "required": True, "fallback": (env_fallback, ["SRE_INCIDENT_DIR"])},
        "incident_id": {"type": "str", "required": True},
        "max_bytes": {"type": "int", "default": 20 * 1024 * 1024},
        "max_file_bytes": {"type": "int", "default": 5 * 1024 * 1024},
        "window_minutes": {"type": "int", "default": 60},
        "timeout": {"type": "float", "default": 10.0},
        "sources": {"type": "list", "elements": "dict", "required": True, "options": source_spec,
                    "required_if": [("type", "file", ("path",)), ("type", "journal", ("unit",)),
                                    ("type", "prometheus", ("url", "expr")), ("type", "json", ("name", "data")),
                                    ("type", "alb_logs", ("s3_bucket",)),
                                    ("type", "k8s_pod_logs", K8S_SELECTIONS, True)]},
    })
    return spec


class Skipped(Exception):
    """A source that could not be collected; the reason goes to the manifest's skipped list."""


# -- names and input ----------------------------------------------------------------------------------------
def safe_name(name, default="evidence"):
    """A file name that stays in the evidence folder: [A-Za-z0-9_.-], no leading dot, no '..', at most 150."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name or ""))
    cleaned = re.sub(r"\.{2,}", ".", cleaned).lstrip(".")[:150]
    return cleaned or default


def incident_folder(params):
    """The incident's folder name, as the incident_record callback names it (no path separators, no '..')."""
    folder = re.sub(r"[^A-Za-z0-9_.-]", "_", str(params["incident_id"]))
    if folder.strip(".") == "":
        raise RunbookError(f"incident_id {params['incident_id']!r} cannot name a folder", option="incident_id")
    return folder


def evidence_dir(params):
    return os.path.join(os.path.abspath(os.path.expanduser(params["incident_dir"])), incident_folder(params),
                        "evidence")


def validate(params):
    """Bad input the argument spec cannot see: RunbookError naming the option, before anything is read."""
    check_bounds(params, BOUNDS)
    incident_folder(params)
    if not params["sources"]:
        raise RunbookError("sources is empty: name at least one source to collect", option="sources")
    for index, source in enumerate(params["sources"]):
        where = f"sources[{index}]"
        check_bounds({f"{where}.{k}": source.get(k) for k in SOURCE_BOUNDS},
                     {f"{where}.{k}": v for k, v in SOURCE_BOUNDS.items()})
        if source["type"] == "file" and not os.path.isabs(os.path.expanduser(source["path"])):
            raise RunbookError(f"{where}.path must be an absolute path, not {source['path']!r}", option=f"{where}.path")
        if source["type"] == "prometheus":
            if not re.match(r"^https?://[^/\s]", source["url"]):
                raise RunbookError(f"{where}.url must be the http:// or https:// URL of Prometheus, "
                                   f"got {redact_url(source['url'])!r}", option=f"{where}.url")
            minutes = source.get("minutes") or params["window_minutes"]
            if minutes * 60 / source["step"] > MAX_POINTS:
                raise RunbookError(f"{where}.step {source['step']} s gives more than {MAX_POINTS} points over "
                                   f"{minutes} minutes: use a step of at least {minutes * 60 // MAX_POINTS + 1} s",
                                   option=f"{where}.step")
        selected = [k for k in K8S_SELECTIONS if source.get(k)]
        if source["type"] == "k8s_pod_logs" and len(selected) > 1:
            raise RunbookError(f"{where}: give only one of {', '.join(K8S_SELECTIONS)}, not {', '.join(selected)}",
                               option=where)


# -- one item of evidence -----------------------------------------------------------------------------------
def text_item(name, source, text, limit, reason="max_file_bytes"):
    """A redacted text file of at most limit bytes (its tail, with a note first when it had to be cut)."""
    data = redact_text(text).encode("utf-8")
    return {"name": name, "source": source, "kind": "text", **cut_text(data, limit, reason)}


def cut_text(data, limit, reason, cut_before=0):
    """{data, truncated, note}: the whole lines at the end of data that fit in limit bytes with a note line
    first, when data (which had cut_before bytes before it already left out) does not fit whole."""
    total = len(data) + cut_before
    if not cut_before and len(data) <= limit:
        return {"data": data, "truncated": False, "note": None}

    def note(left_out):
        return (f"[evidence_collect] truncated ({reason}): the first {left_out} of {total} bytes are left "
                "out\n").encode()

    room = limit - len(note(total))  # the longest the note can be
    if room <= 0:
        return {"data": b"", "truncated": True, "note": f"nothing kept: {limit} bytes is too small ({reason})"}
    start = max(0, len(data) - room)
    if start or cut_before:  # the tail may begin inside a line: it starts after the first newline in it
        at_line = start > 0 and data[start - 1:start] == b"\n"
        if not at_line:
            newline = data.find(b"\n", start)
            start = len(data) if newline < 0 else newline + 1
    tail = data[start:]
    first = note(total - len(tail))
    return {"data": first + tail, "truncated": True, "note": first.decode("utf-8").strip()}


def json_item(name, source, document, limit):
    data = (json.dumps(redact(document), indent=2, sort_keys=True, default=str) + "\n").encode("utf-8")
    if len(data) > limit:
        raise Skipped(f"{len(data)} bytes of JSON are more than max_file_bytes ({limit}); JSON is not cut")
    return {"name": name, "source": source, "kind": "json", "data": data, "truncated": False, "note": None}


# -- the sources --------------------------------------------------------------------------------------------
def read_tail(path, limit):
    """(text of the last limit bytes of path, bytes left out before them)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            if size > limit:
                handle.seek(size - limit)
            data = handle.read(limit)
    except OSError as exc:
        raise Skipped(f"cannot read {path}: {exc.strerror or exc}") from exc
    return data, max(0, size - len(data))


def collect_file(source, params, now):
    pattern = os.path.expanduser(source["path"])
    matches = sorted(p for p in glob.glob(pattern) if os.path.isfile(p)) if glob.has_magic(pattern) else [pattern]
    if not matches:
        raise Skipped(f"no file matches {pattern}")
    limit = min(source.get("tail_bytes") or params["max_file_bytes"], params["max_file_bytes"])
    items, skipped = [], []
    for path in matches:
        name = source.get("name") or os.path.basename(path)
        if len(matches) > 1:
            name = f"{source['name']}-{os.path.basename(path)}" if source.get("name") else os.path.basename(path)
        try:
            if not os.path.exists(path):
                raise Skipped(f"{path} does not exist")
            data, cut_before = read_tail(path, limit)
        except Skipped as exc:
            skipped.append({"source": f"file:{path}", "reason": str(exc)})
            continue
        text = redact_text(data.decode("utf-8", errors="replace")).encode("utf-8")
        item = cut_text(text, limit, "tail_bytes" if source.get("tail_bytes") else "max_file_bytes", cut_before)
        items.append(dict(item, name=name, source=f"file:{path}", kind="text"))
    return items, skipped


def collect_journal(source, params, now, host):
    journalctl = host.which("journalctl")
    if not journalctl:
        raise Skipped("journalctl is not installed on this host (no systemd journal to read)")
    since = source.get("since") or (now - timedelta(minutes=params["window_minutes"])).astimezone().strftime(
        "%Y-%m-%d %H:%M:%S")
    rc, out, err = host.run([journalctl, "-u", source["unit"], "--since", since, "--no-pager", "-o", "short-iso"])
    if rc != 0:
        why = (err or out or b"").decode("utf-8", errors="replace").strip().splitlines()
        raise Skipped(f"journalctl -u {source['unit']} exited {rc}: {why[0] if why else 'no message'}")
    name = source.get("name") or f"journal-{source['unit']}.log"
    return [text_item(name, f"journal:{source['unit']}", out.decode("utf-8", errors="replace"),
                      params["max_file_bytes"])], []


def collect_prometheus(source, params, now):
    """A range export of one expression over the window, through the Prometheus client the checks use."""
    from ansible_collections.sre.runbooks.plugins.module_utils.prometheus import MonitoringApiError, Prometheus

    minutes = source.get("minutes") or params["window_minutes"]
    end = int(now.timestamp())
    start = end - minutes * 60
    server = Prometheus({"url": source["url"], "timeout": params["timeout"], "validate_certs": True})
    request = dict(server.query_request(source["expr"], start, end, source["step"]),
                   body_limit=params["max_file_bytes"] + 1)
    try:
        document = server.open(fetch(request))
    except MonitoringApiError as exc:
        raise Skipped(f"Prometheus at {server.where} answered {exc.details['status_code']}: {exc.msg}") from None
    except RunbookError as exc:
        raise Skipped(exc.msg) from None
    if not isinstance(document, dict) or document.get("status") != "success":
        raise Skipped(f"Prometheus at {server.where} answered without a query result")
    name = source.get("name") or f"prometheus-{source['expr'][:60]}"
    name = name if name.endswith(".json") else name + ".json"
    export = {"prometheus": server.where, "expr": source["expr"], "start": start, "end": end,
              "step": source["step"], "response": document}
    return [json_item(name, f"prometheus:{source['expr']}", export, params["max_file_bytes"])], []


def collect_k8s_pod_logs(source, params, now):
    # Imported here: the kubernetes library is needed only by this source.
    from ansible_collections.sre.runbooks.plugins.module_utils.checks.k8s_pod_logs import read_logs, select
    from ansible_collections.sre.runbooks.plugins.module_utils.k8s_workloads import connect

    options = {k: params.get(k) for k in k8s_argument_spec()}
    options.update({k: source.get(k) for k in K8S_SELECTIONS + ("container", "previous", "tail_lines")})
    options["namespace"] = source.get("namespace") or params.get("namespace")
    options["since_seconds"] = (source.get("minutes") or params["window_minutes"]) * 60
    selection = next(f"{k}={source[k]}" for k in K8S_SELECTIONS if source.get(k))
    label = f"k8s_pod_logs:{options['namespace']}/{selection}"
    try:
        k8s = connect(options)
        pods, missing = select(k8s, options)
        if missing:
            raise Skipped(missing["summary"])
        if not pods:
            raise Skipped(f"no pod matches {selection} in namespace {options['namespace']}")
        entries = [e for pod in sorted(pods, key=lambda p: p["metadata"]["name"])[:source["max_pods"]]
                   for e in read_logs(k8s, pod, options)]
    except RunbookError as exc:
        raise Skipped(exc.msg) from exc
    items, skipped = [], []
    for entry in entries:
        what = f"{entry['pod']}/{entry['container']}" + (" (previous)" if entry["previous"] else "")
        if entry["error"]:
            skipped.append({"source": f"{label} {what}", "reason": entry["error"]})
            continue
        name = "-".join(p for p in (source.get("name") or "pod", entry["pod"], entry["container"],
                                    "previous" if entry["previous"] else "") if p) + ".log"
        text = "\n".join(entry["lines"]) + ("\n" if entry["lines"] else "")
        items.append(text_item(name, f"{label} {what}", text, params["max_file_bytes"]))
    return items, skipped


def collect_alb_logs(source, params, now):
    from ansible_collections.sre.runbooks.plugins.module_utils.aws_client import HAS_BOTO3, client
    from ansible_collections.sre.runbooks.plugins.module_utils.checks.elb_access_log import (
        list_objects,
        parse_line,
        read_objects,
    )

    if not HAS_BOTO3:
        raise Skipped("the Python library boto3 is not installed")
    options = {k: params.get(k) for k in aws_argument_spec()}
    options.update({k: source.get(k) for k in ("s3_bucket", "s3_prefix", "account_id", "load_balancer_name")})
    start = now - timedelta(minutes=source.get("minutes") or params["window_minutes"])
    where = "/".join(p for p in (source["s3_bucket"], (source.get("s3_prefix") or "").strip("/")) if p)
    try:
        s3 = client(options, "s3")
        objects = list_objects(s3, options, options.get("region") or s3.meta.region_name, start, now)
        lines, summary = read_objects(s3, source["s3_bucket"], objects, params["max_file_bytes"])
    except RunbookError as exc:
        raise Skipped(f"cannot read s3://{where}: {exc.msg}") from exc
    entries = sorted((p for p in (parse_line(line) for line in lines if line.strip())
                      if p is not None and p["time"] >= start), key=lambda p: p["time"])
    if not entries:
        raise Skipped(f"no access log entry in s3://{where} for the last {params['window_minutes']} minutes")
    name = source.get("name") or "alb-access.log"
    item = text_item(name, f"alb_logs:s3://{where}", "\n".join(e["line"] for e in entries) + "\n",
                     params["max_file_bytes"])
    if summary["truncated"]:
        item.update(truncated=True, note=f"read {summary['bytes_read']} bytes of the newest objects only "
                                         f"(max_file_bytes); {summary['objects_not_read']} object(s) not read")
    return [item], []


def collect_json(source, params, now):
    name = source["name"] if source["name"].endswith(".json") else source["name"] + ".json"
    return [json_item(name, f"json:{source['name']}", source["data"], params["max_file_bytes"])], []


def collect_source(source, params, now, host):
    """(items, skipped) of one source; a source that fails is one skipped entry with the reason."""
    collectors = {"file": collect_file, "prometheus": collect_prometheus, "k8s_pod_logs": collect_k8s_pod_logs,
                  "alb_logs": collect_alb_logs, "json": collect_json,
                  "journal": lambda s, p, n: collect_journal(s, p, n, host)}
    try:
        return collectors[source["type"]](source, params, now)
    except Skipped as exc:
        return [], [{"source": describe(source), "reason": str(exc)}]


def describe(source):
    """How the manifest names a source: type:what (file:/var/log/app.log, k8s_pod_logs:deployment=backend)."""
    if source["type"] == "k8s_pod_logs":
        return "k8s_pod_logs:" + next(f"{k}={source[k]}" for k in K8S_SELECTIONS if source.get(k))
    key = {"file": "path", "journal": "unit", "prometheus": "expr", "json": "name", "alb_logs": "s3_bucket"}
    return f"{source['type']}:{source.get(key[source['type']])}"


# -- bounding, naming, writing ------------------------------------------------------------------------------
def bound(items, skipped, max_bytes):
    """Items in order until max_bytes: the text item that reaches it is cut to what is left (a note first), a
    JSON item that does not fit is skipped, and every item after either is skipped."""
    kept, used, full = [], 0, False
    for item in items:
        room = max_bytes - used
        if not full and len(item["data"]) > room:
            full = True
            cut = cut_text(item["data"], room, "max_bytes") if item["kind"] == "text" and room > 0 else None
            if cut and cut["data"]:
                kept.append(dict(item, **cut))
                used += len(cut["data"])
                continue
        if full:
            skipped.append({"source": item["source"], "reason": f"max_bytes ({max_bytes}) reached: "
                                                                f"{len(item['data'])} bytes not written"})
            continue
        kept.append(item)
        used += len(item["data"])
    return kept


def name_files(items):
    """Each item gets a unique safe file name (manifest.json is the manifest's)."""
    used = {MANIFEST}
    for item in items:
        base = safe_name(item["name"])
        stem, ext = os.path.splitext(base)
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{stem}-{n}{ext}"
        used.add(name)
        item["path"] = name
    return items


def inside(folder, name):
    """The path of file name in folder; RunbookError for a name that is not a plain file name."""
    if not name or name in (".", "..") or "/" in name or os.sep in name or name != safe_name(name):
        raise RunbookError(f"evidence file name {name!r} is not a plain file name")
    return os.path.join(folder, name)


def sha256_of(path):
    """The SHA-256 of a regular file (None when absent, unreadable or a symbolic link)."""
    if os.path.islink(path) or not os.path.isfile(path):
        return None
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None


def write_atomically(path, data):
    handle, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def old_manifest(folder):
    try:
        with open(os.path.join(folder, MANIFEST)) as handle:
            found = json.load(handle)
        return found if isinstance(found, dict) else {}
    except (OSError, ValueError):
        return {}


def comparable(manifest):
    return {k: v for k, v in manifest.items() if k != "collected_at"}


def collect(params, check_mode, host):
    """Collect every source, bound, redact and write them; the result sre.runbooks.evidence_collect returns."""
    validate(params)
    now = datetime.now(timezone.utc)
    folder = evidence_dir(params)
    items, skipped = [], []
    for source in params["sources"]:
        found, missed = collect_source(source, params, now, host)
        items.extend(found)
        skipped.extend(missed)
    items = name_files(bound(items, skipped, params["max_bytes"]))
    files = [{"path": i["path"], "bytes": len(i["data"]), "sha256": hashlib.sha256(i["data"]).hexdigest(),
              "source": i["source"], "truncated": i["truncated"], **({"note": i["note"]} if i["note"] else {})}
             for i in items]
    manifest = {"incident_id": params["incident_id"], "collected_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "window_minutes": params["window_minutes"], "files": files,
                "total_bytes": sum(f["bytes"] for f in files), "max_bytes": params["max_bytes"],
                "max_file_bytes": params["max_file_bytes"], "skipped": skipped}
    previous = old_manifest(folder)
    before = {f["path"]: f.get("sha256") for f in previous.get("files", []) if isinstance(f, dict) and "path" in f}
    after = {f["path"]: f["sha256"] for f in files}
    changing = [i for i in items if sha256_of(inside(folder, i["path"])) != after[i["path"]]]
    stale = [name for name in before if name not in after and name != MANIFEST and name == safe_name(name)]
    manifest_changes = comparable(previous) != comparable(manifest)
    actions = [f"write {i['path']} ({len(i['data'])} bytes)" for i in changing]
    actions += [f"remove {name} (not collected this time)" for name in stale]
    if manifest_changes or actions:
        actions.append(f"write {MANIFEST}")
    if not check_mode and actions:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        for item in changing:
            write_atomically(inside(folder, item["path"]), item["data"])
        for name in stale:
            path = inside(folder, name)
            if os.path.isfile(path):
                os.unlink(path)
        write_atomically(os.path.join(folder, MANIFEST),
                         (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    if not actions:
        manifest = previous
    verb = "would collect" if check_mode else "collected"
    msg = (f"{verb} {len(files)} file(s), {manifest['total_bytes']} bytes, in {folder}"
           + (f"; {len(skipped)} source(s) skipped" if skipped else ""))
    return {"msg": msg, "changed": bool(actions), "evidence_dir": folder, "manifest": manifest, "actions": actions,
            "before": {"files": before}, "after": {"files": after}}
