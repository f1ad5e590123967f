"""The lab's demo application: a small 'pynomaly' API that really uses PostgreSQL and Redis.

    python -m lab.demo_app --port P --config <lab>/app/config.json

- ``GET /health``: 200 when PostgreSQL answers and a Redis master is found and
  holds the application keys; 503 naming the failing dependency otherwise.
  Like a Sentinel-aware client it looks for the current master among all
  configured Redis nodes, so it recovers by itself after a promotion.
  The app also stands for the ``backend`` Deployment of the lab's Kubernetes:
  when ``workloads_file`` (the controller loop's workloads.json, read once per
  request) exists, no ready backend pod means 503 ``backend: no ready pod``, and
  the backend's env decides the rest: REDIS_ENABLED=false skips Redis
  ("disabled"), else pod redis-0 must be ready too; with ``llm`` configured the
  provider named by LLM_PROVIDER must answer GET /models with its key, unless
  CACHE_ONLY_MODE=true ("cache-only"); with ``qdrant`` configured, Qdrant must
  be ready and hold points in every expected collection. When ``load_file``
  (load.json, {"backend_pods_needed": n}) exists and the backend has fewer
  ready pods than n, the backend is overloaded: every request waits
  ``slow_seconds`` first (its answer is unchanged).
- ``GET /api/detections``: rows from PostgreSQL, cached in Redis.
- ``GET /metrics``: Prometheus text: requests by path and code, a latency histogram of every request,
  and, probed once a second by a thread started at the first scrape, whether PostgreSQL (a connection and
  ``SELECT 1``: it takes no lock), Redis (a master holding the keys) and Qdrant can be used, with the
  runbook's ``qdrant_connection_errors_total``. It answers at once whatever the fault switch says, so the
  lab's Prometheus sees a fault instead of losing its target.

Fault switches (written by ``lab break``): the file named ``fault_file`` in the
config holds ``5xx`` (every request answers 500) or ``slow`` (every request
waits ``slow_seconds`` first); empty or absent means healthy. ``app-down`` is
not a switch: the lab stops this process.

On the lab's application servers (lab/hosts.py) the same program runs as the systemd unit ``pynomaly``
(``--bind 0.0.0.0 --log-file /var/log/pynomaly/application.log``): it writes every line to that file and to
stdout (the journal), ``/health`` answers 503 while the log cannot be written (a full disk), and Redis is an
optional cache there (``redis.optional`` in its config): without it the app serves, slower, and says so.
Two startup faults live in files beside the config there, written by ``lab break``: ``crash`` holds how many more starts
fail with a fatal exception (exit 1), ``memory`` how many MB the process fills at startup before it serves
(its working set: more than the unit's memory limit gets it killed).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import psycopg2
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from lab.core import http, read_json

COUNTS: Counter = Counter()
LOCK = threading.Lock()
HTTP_TIMEOUT = 2
LOG = {"file": None, "error": None}
WORKING_SET: list = []


def log(line: str) -> None:
    """One line to stdout (the journal under systemd) and, with --log-file, to that file; a write that fails
    (ENOSPC) is remembered for /health."""
    print(line, flush=True)
    if LOG["file"] is None:
        return
    try:
        with open(LOG["file"], "a") as handle:
            handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
        LOG["error"] = None
    except OSError as exc:
        LOG["error"] = f"log: cannot write {LOG['file']}: {exc.strerror}"


def load_config(path: str) -> dict:
    with open(path) as handle:
        return json.load(handle)


def current_fault(config: dict) -> str:
    try:
        with open(config["fault_file"]) as handle:
            return handle.read().strip()
    except FileNotFoundError:
        return ""


def check_postgres(config: dict) -> str | None:
    pg = config["postgres"]
    try:
        conn = psycopg2.connect(host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"],
                                dbname=pg["database"], connect_timeout=2, application_name="pynomaly")
    except psycopg2.Error as exc:
        return f"postgres: {str(exc).strip().splitlines()[0]}"
    try:
        with conn.cursor() as cur:
            # A real read of the application's table, bounded: a lock pile-up shows as a timeout.
            cur.execute("SET statement_timeout = 1500")
            cur.execute("SELECT count(*) FROM detections")
    except psycopg2.Error as exc:
        return f"postgres: {str(exc).strip().splitlines()[0]}"
    finally:
        conn.close()
    return None


def find_master(config: dict) -> redis.Redis | None:
    for node in config["redis"]["nodes"]:
        client = redis.Redis(host=node["host"], port=node["port"], password=config["redis"]["password"],
                             socket_timeout=1, socket_connect_timeout=0.5, decode_responses=True,
                             retry=Retry(NoBackoff(), 0))
        try:
            if client.info("replication")["role"] == "master":
                return client
        except redis.RedisError:
            continue
    return None


def check_redis(config: dict) -> str | None:
    master = find_master(config)
    if master is None:
        return "redis: no node answers as master"
    try:
        missing = [key for key, value in zip(config["redis"]["keys"], master.mget(config["redis"]["keys"]))
                   if value is None]
    except redis.RedisError as exc:
        return f"redis: {exc}"
    return f"redis: keys missing on the master: {', '.join(missing)}" if missing else None


def workloads(config: dict) -> dict | None:
    """The lab cluster's workloads (None without a cluster; its writer replaces the file atomically)."""
    found = read_json(config["workloads_file"]) if config.get("workloads_file") else None
    return None if found is None else found.get("workloads", {})


def overloaded(config: dict, cluster: dict | None = None) -> bool:
    """load.json asks for more ready backend pods than the cluster (default: workloads.json as it is now) has."""
    load = read_json(config["load_file"], {}) if config.get("load_file") else {}
    try:
        needed = int(load.get("backend_pods_needed", 0))
    except (ValueError, TypeError, AttributeError):
        return False
    if not needed:
        return False
    cluster = workloads(config) if cluster is None else cluster
    return (((cluster or {}).get("backend") or {}).get("ready", 0)) < needed


def backend_env(cluster: dict | None) -> dict:
    return ((cluster or {}).get("backend") or {}).get("env") or {}


def _enabled(env: dict, name: str, default: str) -> bool:
    return env.get(name, default).strip().lower() == "true"


def check_backend(cluster: dict | None) -> str | None:
    backend = (cluster or {}).get("backend")
    if backend is None or backend.get("ready", 0) > 0:
        return None
    why = f"{backend.get('ready', 0)}/{backend.get('desired', 0)} ready"
    return f"backend: no ready pod ({why}{', crash-looping' if backend.get('crashloop') else ''})"


def check_cluster_redis(cluster: dict | None) -> str | None:
    redis_sts = (cluster or {}).get("redis")
    if redis_sts is None or (redis_sts.get("pods") or {}).get("redis-0"):
        return None
    return "redis: Redis connection failed (redis-0 is not ready)"


def check_qdrant(config: dict) -> str | None:
    qdrant = config["qdrant"]
    headers = {"api-key": qdrant["api_key"]} if qdrant.get("api_key") else {}
    code, body = http(f"{qdrant['url']}/readyz", headers=headers, timeout=HTTP_TIMEOUT)
    if code is None:
        return f"qdrant: unreachable ({body})"
    if code != 200:
        return f"qdrant: not ready (HTTP {code})"
    for name in qdrant.get("collections", []):
        code, body = http(f"{qdrant['url']}/collections/{name}", headers=headers, timeout=HTTP_TIMEOUT)
        if code is None:
            return f"qdrant: unreachable ({body})"
        if code != 200:
            return f"qdrant: collection {name} not found (HTTP {code})"
        try:
            if not (json.loads(body).get("result") or {}).get("points_count"):
                return f"qdrant: collection {name} has no points"
        except ValueError as exc:
            return f"qdrant: unreachable ({exc})"
    return None


def check_llm(config: dict, env: dict) -> str | None:
    name = env.get("LLM_PROVIDER", "openai")
    provider = config["llm"]["providers"].get(name)
    if provider is None:
        return f"llm: provider {name} is not configured"
    if provider.get("type", name) == "anthropic":
        headers = {"x-api-key": provider.get("api_key", ""), "anthropic-version": "2023-06-01"}
    else:
        headers = {"Authorization": f"Bearer {provider.get('api_key', '')}"}
    code, why = http(f"{provider['api_base']}/models", headers=headers, timeout=HTTP_TIMEOUT)
    if code is None:
        return f"llm: {name} unreachable ({why})"
    return None if code == 200 else f"llm: {name} answered HTTP {code}"


def health(config: dict, cluster: dict | None) -> tuple[int, dict]:
    backend = check_backend(cluster)
    if backend:
        return 503, {"status": "unavailable", "problems": [backend], "checks": {"backend": backend.split(": ", 1)[1]}}
    env = backend_env(cluster)
    checks = {"postgres": "ok", "redis": "ok"}
    found = [check_postgres(config)]
    if _enabled(env, "REDIS_ENABLED", "true"):
        cache = check_redis(config) or check_cluster_redis(cluster)
        if cache and config["redis"].get("optional"):  # a lab host's app serves without its cache
            checks["redis"] = f"unavailable, serving without the cache ({cache.split(': ', 1)[-1]})"
        else:
            found.append(cache)
    else:
        checks["redis"] = "disabled"
    if config.get("qdrant"):
        checks["qdrant"] = "ok"
        found.append(check_qdrant(config))
    if config.get("llm"):
        checks["llm"] = "ok"
        if _enabled(env, "CACHE_ONLY_MODE", "false"):
            checks["llm"] = "cache-only"
        else:
            found.append(check_llm(config, env))
    found.append(log_problem())
    problems = [p for p in found if p]
    body = {"status": "ok" if not problems else "unavailable", "problems": problems, "checks": checks}
    if cluster is not None:
        body["checks"]["backend"] = "ok"
    for problem in problems:
        body["checks"][problem.split(":", 1)[0]] = problem.split(": ", 1)[1]
    return (200 if not problems else 503), body


def detections(config: dict, cluster: dict | None) -> tuple[int, dict]:
    backend = check_backend(cluster)
    if backend:
        return 503, {"status": "unavailable", "problems": [backend]}
    master = find_master(config) if _enabled(backend_env(cluster), "REDIS_ENABLED", "true") else None
    if master is not None:
        cached = master.get("pynomaly:cache:detections")
        if cached:
            return 200, {"source": "cache", "detections": json.loads(cached)}
    pg = config["postgres"]
    conn = psycopg2.connect(host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"],
                            dbname=pg["database"], connect_timeout=2, application_name="pynomaly")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT dataset, score FROM detections ORDER BY id")
            rows = [{"dataset": d, "score": s} for d, s in cur.fetchall()]
    finally:
        conn.close()
    if master is not None:
        master.set("pynomaly:cache:detections", json.dumps(rows), ex=30)
    return 200, {"source": "database", "detections": rows}


BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LATENCY = {"buckets": [0] * len(BUCKETS), "sum": 0.0, "count": 0}
DEPENDENCIES: dict = {"up": {}, "qdrant_connection_errors": 0, "prober": None}
PROBE_INTERVAL = 1.0


def observe(seconds: float) -> None:
    """One request's duration into the latency histogram (caller holds LOCK)."""
    for index, bound in enumerate(BUCKETS):
        if seconds <= bound:
            LATENCY["buckets"][index] += 1
    LATENCY["sum"] += seconds
    LATENCY["count"] += 1


def ping_postgres(config: dict) -> str | None:
    """A connection and SELECT 1 (no table, so no lock to wait on), under its own application_name."""
    pg = config["postgres"]
    try:
        conn = psycopg2.connect(host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"],
                                dbname=pg["database"], connect_timeout=2, application_name="pynomaly-metrics")
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
        finally:
            conn.close()
    except psycopg2.Error as exc:
        return f"postgres: {str(exc).strip().splitlines()[0]}"
    return None


def probe_dependencies(config: dict) -> None:
    """One round of dependency probes into DEPENDENCIES (what the up gauges and error counter show)."""
    checks = {"postgres": ping_postgres}
    # A cache the backend runs without (REDIS_ENABLED=false) is not a dependency: no gauge, no alert.
    if _enabled(backend_env(workloads(config)), "REDIS_ENABLED", "true"):
        checks["redis"] = check_redis
    else:
        with LOCK:
            DEPENDENCIES["up"].pop("redis", None)
    if config.get("qdrant"):
        checks["qdrant"] = check_qdrant
    for name, check in checks.items():
        problem = check(config)
        with LOCK:
            DEPENDENCIES["up"][name] = 0 if problem else 1
            if name == "qdrant" and problem and "unreachable" in problem:
                DEPENDENCIES["qdrant_connection_errors"] += 1


def _probe_forever(config: dict) -> None:
    while True:
        started = time.monotonic()
        try:
            probe_dependencies(config)
        except Exception as exc:  # noqa: BLE001 -- a bug in one round must not stop the gauges for good
            log(f"dependency probe failed: {exc}")
        time.sleep(max(0.0, PROBE_INTERVAL - (time.monotonic() - started)))


def metrics(config: dict) -> str:
    """The Prometheus text of /metrics; the first call starts the dependency prober."""
    with LOCK:
        if DEPENDENCIES["prober"] is None:
            DEPENDENCIES["prober"] = threading.Thread(target=_probe_forever, args=(config,), daemon=True)
            DEPENDENCIES["prober"].start()
        lines = ["# HELP pynomaly_http_requests_total Requests answered, by path and status code.",
                 "# TYPE pynomaly_http_requests_total counter"]
        for (path, code), count in sorted(COUNTS.items()):
            lines.append(f'pynomaly_http_requests_total{{path="{_label(path)}",code="{code}"}} {count}')
        lines += ["# HELP pynomaly_http_request_duration_seconds Time to answer a request.",
                  "# TYPE pynomaly_http_request_duration_seconds histogram"]
        for bound, count in zip(BUCKETS, LATENCY["buckets"]):
            lines.append(f'pynomaly_http_request_duration_seconds_bucket{{le="{bound}"}} {count}')
        lines += [f'pynomaly_http_request_duration_seconds_bucket{{le="+Inf"}} {LATENCY["count"]}',
                  f"pynomaly_http_request_duration_seconds_sum {LATENCY['sum']:.6f}",
                  f"pynomaly_http_request_duration_seconds_count {LATENCY['count']}",
                  "# HELP pynomaly_dependency_up Whether the application can use a dependency (1) or not (0).",
                  "# TYPE pynomaly_dependency_up gauge"]
        for name, value in sorted(DEPENDENCIES["up"].items()):
            lines.append(f'pynomaly_dependency_up{{dependency="{name}"}} {value}')
        if config.get("qdrant"):
            lines += ["# HELP qdrant_connection_errors_total Qdrant requests that got no answer.",
                      "# TYPE qdrant_connection_errors_total counter",
                      f"qdrant_connection_errors_total {DEPENDENCIES['qdrant_connection_errors']}"]
    return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Handler(BaseHTTPRequestHandler):
    config: ClassVar[dict] = {}
    server_version = "pynomaly-demo"

    def do_GET(self):
        started, path = time.monotonic(), self.path.split("?", 1)[0]
        if path == "/metrics":  # answered at once, whatever the fault: monitoring sees the fault, not a lost target
            self._send(200, metrics(self.config).encode(), "text/plain; version=0.0.4")
            return
        fault, cluster = current_fault(self.config), workloads(self.config)  # one read of workloads.json
        if fault == "slow" or overloaded(self.config, cluster):
            time.sleep(float(self.config.get("slow_seconds", 3)))
        if fault == "5xx":
            code, body = 500, {"status": "error", "problems": ["internal server error"]}
        elif path == "/health":
            code, body = health(self.config, cluster)
        elif path == "/api/detections":
            try:
                code, body = detections(self.config, cluster)
            except (psycopg2.Error, redis.RedisError) as exc:
                code, body = 503, {"status": "unavailable", "problems": [str(exc).splitlines()[0]]}
        else:
            code, body = 404, {"status": "not found"}
        with LOCK:
            COUNTS[(path, code)] += 1
            observe(time.monotonic() - started)
        self._send(code, json.dumps(body).encode(), "application/json")

    def _send(self, code: int, payload: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, fmt, *args):
        log(f"{self.address_string()} {fmt % args}")


def log_problem() -> str | None:
    """Why the log cannot be written, tried again now when the last write failed (space freed shows at once)."""
    if LOG["error"]:
        log("log: writable again?")
    return LOG["error"]


def startup_faults(config_path: str) -> None:
    """The host faults of a start: crash while the crash file counts down, then fill the working set."""
    folder = Path(config_path).parent
    crash = folder / "crash"
    remaining = int(read_text(crash) or 0)
    if remaining > 0:
        crash.write_text(str(remaining - 1))
        log("FATAL: unhandled exception in worker startup")
        log("Traceback (most recent call last):")
        log('  File "/opt/pynomaly/lab/demo_app.py", in startup_faults')
        log("RuntimeError: model registry corrupted: cannot load detector 'isolation-forest-v3'")
        sys.exit(1)
    megabytes = int(read_text(folder / "memory") or 0)
    if megabytes > 0:
        log(f"loading detector models: {megabytes} MB")
        for _ in range(megabytes // 8):
            WORKING_SET.append(b"\x01" * (8 << 20))  # written: resident, not just reserved
            time.sleep(0.05)  # grows like a cache warming up, not at once
        log("detector models loaded")


def read_text(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (a lab host: 0.0.0.0)")
    parser.add_argument("--log-file", help="also write every line to this file (a lab host's application.log)")
    args = parser.parse_args()
    LOG["file"] = args.log_file
    Handler.config = load_config(args.config)
    startup_faults(args.config)
    server = ThreadingHTTPServer((args.bind, args.port), Handler)
    server.daemon_threads = True
    log(f"pynomaly demo listening on {args.bind}:{args.port}")
    server.serve_forever()


if __name__ == "__main__":
    main()
