"""postgres_info against the lab's real PostgreSQL: healthy, with the lab's database faults, and refused."""

import time
from contextlib import closing

import psycopg2
import pytest

from lab.core import free_port


def oncall(info, **extra):
    """Module arguments of the on-call engineer: the lab's superuser, on the application's database."""
    return {"login_host": info["host"], "login_port": info["port"], "login_user": info["admin_user"],
            "login_db": info["database"], **extra}


def application(info, **extra):
    return {"login_host": info["host"], "login_port": info["port"], "login_user": info["user"],
            "login_password": info["password"], "login_db": info["database"], **extra}


def sessions_of(info, application_name):
    """{pid: state} of the client sessions with this application_name, read as the superuser."""
    with closing(psycopg2.connect(host=info["host"], port=info["port"], user=info["admin_user"],
                                  dbname="postgres")) as conn, conn.cursor() as cur:
        cur.execute("SELECT pid, state FROM pg_stat_activity WHERE application_name = %s "
                    "AND backend_type = 'client backend'", (application_name,))
        return dict(cur.fetchall())


def by_id(result):
    return {f["id"]: f for f in result["findings"]}


def test_healthy_database_reports_connections_and_size(lab, ansible_module):
    result = ansible_module("postgres_info", application(lab.service("postgres")))
    assert result["status"] == "ok", result["findings"]
    assert result["changed"] is False and result["findings"] == [] and result["error"] is None
    connections = result["connections"]
    assert connections["max_connections"] == 50 and connections["reserved"] == 3
    assert connections["in_use"] + connections["available_to_non_superusers"] == 47
    assert result["database"]["name"] == "pynomaly" and result["database"]["size_bytes"] > 0
    assert result["database"]["size_pretty"].endswith(("kB", "MB"))
    assert result["latency_ms"] >= 0
    assert result["locks"] == {"waiting": [], "blockers": []} and result["idle_in_transaction"] == []


def test_connection_leak_is_seen_by_the_oncall_superuser(leak, ansible_module):
    with pytest.raises(psycopg2.OperationalError, match="reserved"):
        psycopg2.connect(host=leak["host"], port=leak["port"], user=leak["user"], password=leak["password"],
                         dbname=leak["database"], connect_timeout=3)
    leaked = {pid for pid, state in sessions_of(leak, "pynomaly").items() if state == "idle in transaction"}
    time.sleep(1.1)

    result = ansible_module("postgres_info", oncall(leak, idle_in_transaction_min_age=1))
    assert result.get("failed") is not True and result["status"] == "down"
    found = by_id(result)
    assert found["postgres.connections_near_limit"]["severity"] == "critical"
    assert result["connections"]["available_to_non_superusers"] == 0
    idle = found["postgres.idle_in_transaction_leak"]
    assert idle["evidence"]["application_name"] == "pynomaly"
    assert idle["evidence"]["count"] == len(leaked) and set(idle["evidence"]["pids"]) == leaked
    assert idle["evidence"]["oldest_age_seconds"] >= 1


def test_full_server_is_near_limit_not_unreachable(leak, ansible_module):
    result = ansible_module("postgres_info", application(leak))
    assert result.get("failed") is not True and result["status"] == "down"
    assert set(by_id(result)) == {"postgres.connections_near_limit"}
    assert by_id(result)["postgres.connections_near_limit"]["severity"] == "critical"
    assert "reserved" in result["error"]
    assert leak["password"] not in result["_stdout"]


def test_lock_pileup_names_the_blocker(pileup, ansible_module):
    blocker = list(sessions_of(pileup, "pynomaly-batch"))
    result = ansible_module("postgres_info", oncall(pileup, query_text_limit=20))
    assert result["status"] == "degraded"
    pile = by_id(result)["postgres.lock_pileup"]
    assert pile["severity"] == "critical" and pile["evidence"]["waiting_count"] == 4
    assert pile["evidence"]["blocking_pids"] == blocker
    named = pile["evidence"]["blockers"][0]
    assert named["application_name"] == "pynomaly-batch" and named["state"] == "idle in transaction"
    assert named["query"] == "LOCK TABLE detection..."
    assert f"pid {blocker[0]} (pynomaly-batch" in pile["summary"]
    assert all(w["blocked_by"] == blocker and w["mode"] == "AccessShareLock" for w in result["locks"]["waiting"])
    assert [q["wait_event_type"] for q in result["longest_queries"]] == ["Lock"] * 4
    # one batch session idle in transaction is not a leak (idle_in_transaction_warn_count is 5)
    assert "postgres.idle_in_transaction_leak" not in by_id(result)


def test_connections_warn_at_the_ratio(pileup, ansible_module):
    result = ansible_module("postgres_info", oncall(pileup, connections_warn_ratio=0.1))
    near = by_id(result)["postgres.connections_near_limit"]
    assert near["severity"] == "warning" and near["evidence"]["in_use"] >= 5
    assert result["status"] == "degraded"


def test_wrong_password_is_a_finding_and_never_printed(lab, ansible_module):
    info = lab.service("postgres")
    result = ansible_module("postgres_info", application(info, login_password="not-the-password-xyz"))
    assert result.get("failed") is not True and result["status"] == "down"
    assert set(by_id(result)) == {"postgres.auth_failed"}
    assert "not-the-password-xyz" not in result["_stdout"] and info["password"] not in result["_stdout"]


def test_unreachable_port_is_a_finding(lab, ansible_module):
    result = ansible_module("postgres_info", oncall(lab.service("postgres"), login_port=free_port()))
    assert result.get("failed") is not True and result["status"] == "down"
    assert set(by_id(result)) == {"postgres.unreachable"}
    assert result["database"] is None and result["connections"] == {}


def test_bad_option_names_the_option(lab, ansible_module):
    result = ansible_module("postgres_info", oncall(lab.service("postgres"), top_queries="many"))
    assert result["failed"] is True and "top_queries" in result["msg"]
