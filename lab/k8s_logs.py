"""Pod logs of the lab's Kubernetes: the files the API stand-in serves as pods/NAME/log.

<logs_dir>/<namespace>/<pod>.log is the output of the pod's current container and
<pod>.previous.log that of the container before it (what `kubectl logs --previous`
shows). The seed, the controller loop and the faults write them; the lines are what
each application of pubsec-info-assistant prints.
"""

from __future__ import annotations

import datetime
from pathlib import Path

APP_LINES = {
    "frontend": ["nginx: [notice] start worker processes",
                 '10.244.2.4 - - "GET / HTTP/1.1" 200 1843',
                 '10.244.2.4 - - "GET /static/app.js HTTP/1.1" 200 51220'],
    "qdrant": ["INFO storage::content_manager::consensus: Loading raft state",
               "INFO qdrant: Qdrant HTTP listening on 6333",
               "INFO qdrant::tonic: Qdrant gRPC listening on 6334",
               'INFO actix_web::middleware::logger: "GET /collections/documents HTTP/1.1" 200'],
    "redis": ["1:M * Server initialized", "1:M * Ready to accept connections tcp",
              "1:M * Background saving terminated with success"],
    "log-shipper": ["[ info] [fluent bit] version=3.0.4, commit=a1b2c3d, pid=1",
                    "[ info] [input:tail:tail.0] initializing",
                    "[ info] [output:forward:forward.0] worker #0 started"],
}
# The last line a crashed container of each application prints.
CRASH_LINES = {
    "backend": "ERROR:    Child process [1] died (exit code 1)",
    "frontend": "nginx: [emerg] host not found in upstream \"backend:8000\"",
    "qdrant": "ERROR qdrant: Panic occurred: failed to load collections, exiting",
    "redis": "1:M # Fatal error loading the DB: Invalid argument. Exiting.",
    "log-shipper": "[error] [engine] could not start input plugins, exiting",
}


def startup_lines(app: str, env: dict) -> list[str]:
    """What a container of `app` prints when it starts; the backend's depend on its env."""
    if app != "backend":
        return list(APP_LINES.get(app, []))
    lines = ["INFO:     Started server process [1]"]
    if env.get("REDIS_ENABLED", "true").lower() == "false":
        lines.append("WARNING app.cache: REDIS_ENABLED=false: query cache and rate limiting disabled")
    else:
        lines.append("INFO app.cache: connected to Redis at redis:6379 (REDIS_ENABLED=true)")
    lines.append("INFO app.vectorstore: connected to Qdrant at http://qdrant:6333, collection=documents")
    if env.get("CACHE_ONLY_MODE", "false").lower() == "true":
        lines.append("WARNING app.llm: CACHE_ONLY_MODE=true: answering from cached responses only")
    else:
        lines.append(f"INFO app.llm: LLM provider {env.get('LLM_PROVIDER', 'openai')} ready")
    return lines + ["INFO:     Application startup complete.",
                    'INFO:     10.244.0.1:51234 - "GET /health HTTP/1.1" 200 OK',
                    'INFO:     10.244.1.7:40112 - "POST /api/query HTTP/1.1" 200 OK']


def stamp(when: datetime.datetime | None = None) -> str:
    when = when or datetime.datetime.now(tz=datetime.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _stamped(lines: list[str], start: datetime.datetime | None = None) -> str:
    start = start or datetime.datetime.now(tz=datetime.UTC)
    return "".join(f"{stamp(start + datetime.timedelta(milliseconds=40 * n))} {line}\n"
                   for n, line in enumerate(lines))


def write_startup(logs_dir: Path, pod: str, app: str, env: dict, start: datetime.datetime | None = None) -> None:
    """The log of a container that has just started (left alone when the pod already has one)."""
    path = logs_dir / f"{pod}.log"
    if app in APP_LINES or app == "backend":
        logs_dir.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(_stamped(startup_lines(app, env), start))


def write_crash(logs_dir: Path, pod: str, app: str, env: dict) -> None:
    """A container that exits with an error: what it printed so far becomes the previous log."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    current = logs_dir / f"{pod}.log"
    before = current.read_text(errors="replace") if current.exists() else _stamped(startup_lines(app, env))
    crash = CRASH_LINES.get(app, "process exited with code 1")
    (logs_dir / f"{pod}.previous.log").write_text(before + _stamped([crash]))
    current.write_text(_stamped(startup_lines(app, env)[:2] + [crash]))


def forget(logs_dir: Path, pod: str) -> None:
    """A new pod of an old name (a StatefulSet's) starts without the logs of the one before."""
    for suffix in (".log", ".previous.log"):
        (logs_dir / f"{pod}{suffix}").unlink(missing_ok=True)


def append(logs_dir: Path, pods: list[str], lines: list[str]) -> None:
    """Append timestamped lines to the current log of each pod."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    text = _stamped(lines)
    for pod in pods:
        with open(logs_dir / f"{pod}.log", "a") as handle:
            handle.write(text)
