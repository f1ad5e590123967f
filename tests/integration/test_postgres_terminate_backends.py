"""postgres_terminate_backends against the lab's real PostgreSQL: sessions opened by the test, and the lab's
database faults. Every test reads pg_stat_activity as the superuser before and after."""

import threading
import time
from contextlib import closing

import psycopg2
import pytest

from lab.core import wait_until

IDLE_IN_TRANSACTION = {"state": ["idle in transaction"], "application_name": ["pynomaly"]}


def oncall(info, **extra):
    """Module arguments of the on-call engineer: the lab's superuser, on the application's database."""
    return {"login_host": info["host"], "login_port": info["port"], "login_user": info["admin_user"],
            "login_db": info["database"], "wait_timeout": 15, **extra}


def admin(info, dbname="postgres", application_name="sre-tests"):
    conn = psycopg2.connect(host=info["host"], port=info["port"], user=info["admin_user"], dbname=dbname,
                            application_name=application_name, connect_timeout=3)
    conn.autocommit = True
    return conn


def activity(info):
    """{pid: (application_name, state, wait_event_type)} of every client session."""
    with closing(admin(info)) as conn, conn.cursor() as cur:
        cur.execute("SELECT pid, application_name, state, wait_event_type FROM pg_stat_activity "
                    "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
        return {pid: rest for pid, *rest in cur.fetchall()}


def app_can_connect(info):
    try:
        psycopg2.connect(host=info["host"], port=info["port"], user=info["user"], password=info["password"],
                         dbname=info["database"], connect_timeout=3).close()
        return True
    except psycopg2.OperationalError:
        return False


@pytest.fixture
def info(lab):
    return lab.service("postgres")


@pytest.fixture
def open_session(info):
    """Open a session of the application role (or the superuser) and leave it idle in transaction (or idle)."""
    opened = []

    def _open(application_name="pynomaly", superuser=False, in_transaction=True, dbname=None):
        if superuser:
            conn = admin(info, dbname or info["database"], application_name)
        else:
            conn = psycopg2.connect(host=info["host"], port=info["port"], user=info["user"], password=info["password"],
                                    dbname=dbname or info["database"], application_name=application_name)
        conn.autocommit = not in_transaction
        conn.cursor().execute("SELECT 1")
        opened.append(conn)
        return conn.get_backend_pid()

    yield _open
    for conn in opened:
        conn.close()


def test_check_mode_ends_nobody(info, open_session, ansible_module):
    pids = {open_session() for _ in range(3)}
    time.sleep(1.1)
    result = ansible_module("postgres_terminate_backends", oncall(info, min_age=1, **IDLE_IN_TRANSACTION),
                            check=True, diff=True)
    assert result["changed"] is True and result["before"] == 3 and result["after"] == 0
    assert {s["pid"] for s in result["sessions"]} == pids
    for session in result["sessions"]:
        assert session["user"] == "pynomaly" and session["application_name"] == "pynomaly"
        assert session["state"] == "idle in transaction" and session["age_seconds"] >= 1
        assert session["query"] == "SELECT 1"
    assert len(result["actions"]) == 3 and all(a.startswith("pg_terminate_backend(") for a in result["actions"])
    # The diff is shown, not kept in the result: one line per session that would be ended.
    removed = [line for line in result["_stdout"].splitlines()
               if line.startswith("-") and "pg_terminate_backend(" in line]
    assert "--- before" in result["_stdout"] and len(removed) == 3
    assert pids <= set(activity(info))


def test_ends_exactly_the_old_idle_in_transaction_sessions(info, open_session, ansible_module):
    old = {open_session() for _ in range(3)}
    others = {open_session("pynomaly-batch"), open_session(in_transaction=False), open_session(dbname="postgres")}
    time.sleep(4)
    young = open_session()
    result = ansible_module("postgres_terminate_backends", oncall(info, min_age=3, **IDLE_IN_TRANSACTION))
    assert result.get("failed") is not True and result["changed"] is True
    assert {s["pid"] for s in result["sessions"]} == old and result["after"] == 0 and result["protected"] == []
    after = activity(info)
    assert not old & set(after)
    assert others | {young} <= set(after)
    assert [pid for pid in old | {young} if pid in after] == [young]


def test_blocking_ends_only_the_blocker_and_the_waiters_complete(pileup, ansible_module):
    before = activity(pileup)
    blocker = [pid for pid, (app, _, _) in before.items() if app == "pynomaly-batch"]
    waiters = {pid for pid, (_, _, wait) in before.items() if wait == "Lock"}
    assert len(blocker) == 1 and len(waiters) == 4
    result = ansible_module("postgres_terminate_backends", oncall(pileup, blocking=True))
    assert result["changed"] is True and [s["pid"] for s in result["sessions"]] == blocker
    assert result["sessions"][0]["query"] == "LOCK TABLE detections IN ACCESS EXCLUSIVE MODE"
    wait_until(lambda: all(activity(pileup).get(pid, (None, None, None))[1] == "idle" for pid in waiters), 10,
               "the waiters to complete their queries")
    after = activity(pileup)
    assert blocker[0] not in after and waiters <= set(after)


def test_cap_refuses_then_a_raised_cap_ends_the_leak(leak, ansible_module):
    leaked = {pid for pid, (app, state, _) in activity(leak).items()
              if app == "pynomaly" and state == "idle in transaction"}
    assert len(leaked) > 20 and not app_can_connect(leak)
    refused = ansible_module("postgres_terminate_backends", oncall(leak, **IDLE_IN_TRANSACTION))
    assert refused["failed"] is True and refused["changed"] is False
    assert f"{len(leaked)} sessions match" in refused["msg"] and "max_sessions=20" in refused["msg"]
    assert leaked <= set(activity(leak)) and not app_can_connect(leak)

    ended = ansible_module("postgres_terminate_backends", oncall(leak, max_sessions=60, **IDLE_IN_TRANSACTION))
    assert ended["changed"] is True and {s["pid"] for s in ended["sessions"]} == leaked
    assert not leaked & set(activity(leak)) and app_can_connect(leak)


def test_superuser_session_is_protected(info, open_session, ansible_module):
    superuser = open_session(superuser=True)
    application = open_session()
    result = ansible_module("postgres_terminate_backends", oncall(info, **IDLE_IN_TRANSACTION))
    assert [s["pid"] for s in result["sessions"]] == [application]
    assert [(p["pid"], p["reason"]) for p in result["protected"]] == [(superuser, "a superuser's session")]
    after = activity(info)
    assert superuser in after and application not in after


def test_own_session_is_never_ended(info, ansible_module):
    result = ansible_module("postgres_terminate_backends",
                            oncall(info, state=["active"], application_name=["sre.runbooks"]))
    assert result.get("failed") is not True and result["changed"] is False and result["sessions"] == []
    assert [p["reason"] for p in result["protected"]] == ["this module's own session"]


def test_second_run_changes_nothing(info, open_session, ansible_module):
    pids = {open_session() for _ in range(2)}
    first = ansible_module("postgres_terminate_backends", oncall(info, **IDLE_IN_TRANSACTION))
    assert first["changed"] is True and {s["pid"] for s in first["sessions"]} == pids
    again = ansible_module("postgres_terminate_backends", oncall(info, **IDLE_IN_TRANSACTION))
    assert again["changed"] is False and again["actions"] == [] and again["before"] == 0


def test_cancel_stops_the_running_query_and_keeps_the_session(info, open_session, ansible_module):
    idle = open_session("pynomaly-report")
    conn = psycopg2.connect(host=info["host"], port=info["port"], user=info["user"], password=info["password"],
                            dbname=info["database"], application_name="pynomaly-report")
    outcome = []

    def sleep_query():
        try:
            conn.cursor().execute("SELECT pg_sleep(60)")
        except psycopg2.Error as exc:
            outcome.append(type(exc).__name__)

    runner = threading.Thread(target=sleep_query)
    runner.start()
    try:
        pid = conn.get_backend_pid()
        wait_until(lambda: activity(info).get(pid, (None, None))[1] == "active", 5, "the query to run")
        result = ansible_module("postgres_terminate_backends", oncall(info, action="cancel",
                                                                      application_name=["pynomaly-report"]))
        assert result["changed"] is True and [s["pid"] for s in result["sessions"]] == [pid]
        assert result["actions"][0].startswith(f"pg_cancel_backend({pid})")
        assert [p["pid"] for p in result["protected"]] == [idle]
        runner.join(10)
        assert outcome == ["QueryCanceled"]
        assert {pid, idle} <= set(activity(info))
    finally:
        runner.join(10)
        conn.close()


def test_bad_arguments_end_nobody(info, open_session, ansible_module):
    pid = open_session()
    no_selector = ansible_module("postgres_terminate_backends", oncall(info, min_age=0))
    assert no_selector["failed"] is True
    assert "one of the following is required: state, application_name, blocking" in no_selector["msg"]
    explode = ansible_module("postgres_terminate_backends", oncall(info, action="explode", **IDLE_IN_TRANSACTION))
    assert explode["failed"] is True and "action" in explode["msg"] and "explode" in explode["msg"]
    assert pid in activity(info)
