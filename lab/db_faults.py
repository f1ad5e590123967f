"""The lab's database faults: real sessions held open against the lab's PostgreSQL.

connection leak
    What an application that forgets to end its transactions does to the server. A helper process
    connects as the application role with application_name ``pynomaly``, runs ``BEGIN; SELECT 1``
    on every connection and then nothing, so each session sits "idle in transaction". It opens as
    many as the server gives it, until the server refuses ("remaining connection slots are
    reserved ..."), and keeps taking the slots that short-lived clients free for a moment after.
    The application then can no longer connect; the slots reserved for superusers stay free, so an
    on-call engineer (``srelab`` in the lab) still gets in. The helper never opens more later: a
    session ended by a remediation frees its slot for good.

lock pile-up
    A batch job that takes a table lock and stalls. A helper process connects with
    application_name ``pynomaly-batch``, runs ``LOCK TABLE detections IN ACCESS EXCLUSIVE MODE``
    in an open transaction and then sits idle in transaction; four application sessions
    (``pynomaly``) run ``SELECT count(*) FROM detections`` and wait on that lock. When the blocker
    is ended, the waiters complete.

``break_*`` starts the helper (one lab process each) and returns once pg_stat_activity, read as the
superuser, shows the fault in place; ``heal_*`` stops the helper, which closes its connections, and
returns once its sessions are gone. The helper runs as ``python -m lab.db_faults leak|pileup``.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from contextlib import closing

import psycopg2

from lab.core import REPO_ROOT, Lab, LabError, wait_until

LEAK = "db-connection-leak"
PILEUP = "db-lock-pileup"
APP_NAME = "pynomaly"
BATCH_NAME = "pynomaly-batch"
WAITERS = 4
SETTLE_SECONDS = 1.5
FULL_MARKERS = ("too many clients", "connection slots are reserved")


# helper process ---------------------------------------------------------------------------------
def _connect(args, application_name: str, autocommit: bool = False):
    conn = psycopg2.connect(host=args.host, port=args.port, user=args.user, password=os.environ.get("PGPASSWORD"),
                            dbname=args.database, application_name=application_name, connect_timeout=3)
    conn.autocommit = autocommit
    return conn


def _ready(**pids: list[int]) -> None:
    print("ready " + " ".join(f"{key}={','.join(map(str, value))}" for key, value in pids.items()), flush=True)


def _hold() -> int:
    while True:
        time.sleep(3600)


def hold_leak(args) -> int:
    """Open idle-in-transaction sessions until the server refuses, then hold them."""
    held, settle_until = [], None
    while settle_until is None or time.monotonic() < settle_until:
        try:
            conn = _connect(args, APP_NAME)
        except psycopg2.OperationalError as exc:
            if not any(marker in str(exc) for marker in FULL_MARKERS):
                print(f"cannot connect: {str(exc).strip()}", flush=True)
                return 1
            settle_until = settle_until or time.monotonic() + SETTLE_SECONDS
            time.sleep(0.1)
            continue
        conn.cursor().execute("SELECT 1")
        held.append(conn)
    print(f"holding {len(held)} connections idle in transaction", flush=True)
    _ready(leak=[conn.get_backend_pid() for conn in held])
    return _hold()


def _wait_on_lock(conn) -> None:
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM detections")
            print(f"waiter {conn.get_backend_pid()} done: {cur.fetchone()[0]} rows", flush=True)
    except psycopg2.Error as exc:
        print(f"waiter {conn.get_backend_pid()} ended: {str(exc).strip()}", flush=True)


def hold_pileup(args) -> int:
    """Hold an ACCESS EXCLUSIVE lock on detections idle in transaction; four sessions wait on it."""
    blocker = _connect(args, BATCH_NAME)
    blocker.cursor().execute("LOCK TABLE detections IN ACCESS EXCLUSIVE MODE")
    waiters = [_connect(args, APP_NAME, autocommit=True) for _ in range(WAITERS)]
    _ready(blocker=[blocker.get_backend_pid()], waiters=[conn.get_backend_pid() for conn in waiters])
    for conn in waiters:
        threading.Thread(target=_wait_on_lock, args=(conn,), daemon=True).start()
    return _hold()


# lab side ---------------------------------------------------------------------------------------
def _admin(info: dict):
    conn = psycopg2.connect(host=info["host"], port=info["port"], user=info.get("admin_user", "srelab"),
                            dbname="postgres", connect_timeout=3)
    conn.autocommit = True
    return conn


def _sessions(conn) -> dict[int, dict]:
    with conn.cursor() as cur:
        cur.execute("SELECT pid, application_name, state, wait_event_type FROM pg_stat_activity "
                    "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
        return {pid: {"application_name": app, "state": state, "wait_event_type": wait}
                for pid, app, state, wait in cur.fetchall()}


def _free_slots(conn) -> int:
    """Connection slots still open to non-superusers (this session left out)."""
    with conn.cursor() as cur:
        cur.execute("SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')"
                    "::int - coalesce(current_setting('reserved_connections', true)::int, 0) - (SELECT count(*) "
                    "FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid())")
        return cur.fetchone()[0]


def _log_size(lab: Lab, name: str) -> int:
    path = lab.logfile(name)
    return path.stat().st_size if path.exists() else 0


def _ready_pids(lab: Lab, name: str, offset: int = 0) -> dict[str, list[int]] | None:
    """The pids the helper announced on its last 'ready' line after offset, or None."""
    path = lab.logfile(name)
    if not path.exists():
        return None
    with open(path, "rb") as log:
        log.seek(offset)
        lines = [line for line in log.read().decode(errors="replace").splitlines() if line.startswith("ready ")]
    if not lines:
        return None
    fields = (item.split("=", 1) for item in lines[-1].split()[1:])
    return {key: [int(pid) for pid in value.split(",") if pid] for key, value in fields}


def _start(lab: Lab, name: str, fault: str) -> tuple[dict, dict[str, list[int]]]:
    """Start the helper of a fault; return the postgres service info and the pids it announced."""
    info = lab.service("postgres")
    if not info:
        raise LabError("the lab's PostgreSQL is not running (python -m lab up)")
    offset = _log_size(lab, name)
    argv = [sys.executable, "-m", "lab.db_faults", fault, "--host", info["host"], "--port", str(info["port"]),
            "--user", info["user"], "--database", info["database"]]
    lab.spawn(name, argv, env={"PYTHONPATH": str(REPO_ROOT), "PGPASSWORD": info["password"]})
    return info, lab.wait_started(name, lambda: _ready_pids(lab, name, offset), 30, f"{name} to open its sessions")


def _await(lab: Lab, name: str, info: dict, predicate, what: str) -> None:
    """Poll pg_stat_activity as the superuser until predicate(conn) holds; stop the helper if it never does."""
    try:
        with closing(_admin(info)) as conn:
            wait_until(lambda: predicate(conn), 20, what, interval=0.2)
    except (LabError, psycopg2.Error):
        lab.stop(name)
        raise


def break_connection_leak(lab: Lab) -> None:
    if lab.alive(LEAK):
        return
    info, pids = _start(lab, LEAK, "leak")
    leaked = set(pids["leak"])

    def exhausted(conn):
        sessions = _sessions(conn)
        idle = {pid for pid in leaked if sessions.get(pid, {}).get("state") == "idle in transaction"}
        return idle == leaked and _free_slots(conn) <= 0

    _await(lab, LEAK, info, exhausted, "the leaked sessions to fill every slot open to the application")


def break_lock_pileup(lab: Lab) -> None:
    if lab.alive(PILEUP):
        return
    info, pids = _start(lab, PILEUP, "pileup")

    def piled_up(conn):
        sessions = _sessions(conn)
        blocker = sessions.get(pids["blocker"][0], {})
        waiting = [sessions.get(pid, {}).get("wait_event_type") == "Lock" for pid in pids["waiters"]]
        return blocker.get("state") == "idle in transaction" and all(waiting)

    _await(lab, PILEUP, info, piled_up, "the application sessions to wait on the batch job's lock")


def _heal(lab: Lab, name: str) -> None:
    pids = {pid for group in (_ready_pids(lab, name) or {}).values() for pid in group}
    lab.stop(name)
    info = lab.service("postgres")
    if not pids or not info:
        return
    with closing(_admin(info)) as conn:
        wait_until(lambda: not pids & set(_sessions(conn)), 20, f"the sessions of {name} to close", interval=0.1)


def heal_connection_leak(lab: Lab) -> None:
    _heal(lab, LEAK)


def heal_lock_pileup(lab: Lab) -> None:
    _heal(lab, PILEUP)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.db_faults", description="Hold one database fault open.")
    parser.add_argument("fault", choices=["leak", "pileup"])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--database", required=True)
    args = parser.parse_args(argv)
    return hold_leak(args) if args.fault == "leak" else hold_pileup(args)


if __name__ == "__main__":
    sys.exit(main())
