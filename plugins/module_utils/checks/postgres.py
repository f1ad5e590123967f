# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The postgres_info check: argument_spec() and run(params), used by its module and by incident_triage_info."""

import time
from collections import Counter

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.sre.runbooks.plugins.module_utils.errors import BackendUnavailable, RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.findings import check_result, finding, status_from
from ansible_collections.sre.runbooks.plugins.module_utils.postgres_client import (
    HAS_PSYCOPG2,
    PSYCOPG2_IMPORT_ERROR,
    connect,
    postgres_argument_spec,
)

try:
    from psycopg2 import OperationalError
except ImportError:
    OperationalError = Exception

NEAR_LIMIT = "postgres.connections_near_limit"
FULL_MARKERS = ("too many clients", "connection slots are reserved")
SESSIONS_SQL = """
SELECT pid, usename AS user, application_name, datname AS database, state, wait_event_type,
       extract(epoch FROM now() - xact_start)::float AS xact_age, extract(epoch FROM now() - query_start)::float
       AS query_age, left(query, %(limit)s + 1) AS query
FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"""
WAITING_SQL = """
SELECT DISTINCT ON (pid) pid, locktype, mode, relation::regclass::text AS relation, pg_blocking_pids(pid) AS blocked_by
FROM pg_locks WHERE NOT granted ORDER BY pid"""
SETTINGS_SQL = """
SELECT name, setting FROM pg_settings
WHERE name IN ('max_connections', 'superuser_reserved_connections', 'reserved_connections')"""
DATABASE_SQL = """
SELECT current_database() AS name, pg_database_size(current_database()) AS size_bytes,
       pg_size_pretty(pg_database_size(current_database())) AS size_pretty"""

# Passed to AnsibleModule (and to ArgumentSpecValidator) with argument_spec().
SPEC_OPTIONS = {}


def argument_spec():
    """The options of sre.runbooks.postgres_info, with the shared postgres group."""
    spec = postgres_argument_spec()
    spec.update({
        "connections_warn_ratio": {"type": "float", "default": 0.8},
        "idle_in_transaction_min_age": {"type": "int", "default": 60},
        "idle_in_transaction_warn_count": {"type": "int", "default": 5},
        "lock_wait_warn_count": {"type": "int", "default": 3},
        "top_queries": {"type": "int", "default": 5},
        "query_text_limit": {"type": "int", "default": 300},
    })
    return spec


def fetch(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        names = [column[0] for column in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]


def seconds(value):
    return None if value is None else round(value, 1)


def read(params):
    """(latency_ms, server, sessions, lock waits, database); BackendUnavailable when the link drops."""
    conn = connect(params)
    try:
        start = time.monotonic()
        fetch(conn, "SELECT 1")
        latency_ms = round((time.monotonic() - start) * 1000.0, 1)
        server = {row["name"]: int(row["setting"]) for row in fetch(conn, SETTINGS_SQL)}
        limit = params["query_text_limit"]
        sessions = fetch(conn, SESSIONS_SQL, {"limit": limit})
        for session in sessions:
            if session["query"] and len(session["query"]) > limit:
                session["query"] = session["query"][:limit] + "..."
        return latency_ms, server, sessions, fetch(conn, WAITING_SQL), fetch(conn, DATABASE_SQL)[0]
    except OperationalError as exc:
        raise BackendUnavailable(f"PostgreSQL connection lost while reading: {str(exc).strip()}") from exc
    finally:
        conn.close()


def connection_summary(sessions, server):
    reserved = server["superuser_reserved_connections"] + server.get("reserved_connections", 0)
    usable = server["max_connections"] - reserved
    return {"in_use": len(sessions), "max_connections": server["max_connections"], "reserved": reserved,
            "available_to_non_superusers": max(usable - len(sessions), 0),
            "usage_ratio": round(len(sessions) / usable, 3) if usable > 0 else 1.0,
            "by_state": dict(Counter(s["state"] or "unknown" for s in sessions)),
            "by_application_name": dict(Counter(s["application_name"] for s in sessions))}


def lock_summary(waiting, sessions):
    """Each waiting session with who it is, and each blocker with what it holds up, root blockers first."""
    by_pid = {s["pid"]: s for s in sessions}
    for wait in waiting:
        session = by_pid.get(wait["pid"], {})
        wait.update(user=session.get("user"), application_name=session.get("application_name"),
                    wait_seconds=seconds(session.get("query_age")), query=session.get("query"))
    blockers = []
    for pid in sorted({pid for wait in waiting for pid in wait["blocked_by"]}):
        session = by_pid.get(pid, {})
        blockers.append({"pid": pid, "user": session.get("user"), "application_name": session.get("application_name"),
                         "state": session.get("state"),
                         "age_seconds": seconds(session.get("xact_age") or session.get("query_age")),
                         "query": session.get("query"), "waiting": any(w["pid"] == pid for w in waiting),
                         "blocks": [w["pid"] for w in waiting if pid in w["blocked_by"]]})
    return {"waiting": waiting, "blockers": sorted(blockers, key=lambda b: (b["waiting"], b["pid"]))}


def idle_summary(sessions, min_age):
    apps = {}
    for session in (s for s in sessions if (s["state"] or "").startswith("idle in transaction")):
        app = apps.setdefault(session["application_name"], {"application_name": session["application_name"],
                                                            "sessions": 0, "oldest_age_seconds": 0.0, "pids": []})
        app["sessions"] += 1
        app["oldest_age_seconds"] = max(app["oldest_age_seconds"], seconds(session["xact_age"] or 0.0))
        if (session["xact_age"] or 0.0) >= min_age:
            app["pids"].append(session["pid"])
    for app in apps.values():
        app["older_than_min_age"] = len(app["pids"])
    return sorted(apps.values(), key=lambda a: -a["older_than_min_age"])


def longest_queries(sessions, count):
    active = sorted((s for s in sessions if s["state"] == "active"), key=lambda s: -(s["query_age"] or 0.0))
    return [{"pid": s["pid"], "user": s["user"], "application_name": s["application_name"], "database": s["database"],
             "duration_seconds": seconds(s["query_age"]), "wait_event_type": s["wait_event_type"],
             "query": s["query"]} for s in active[:count]]


def connection_findings(connections, params):
    in_use, usable = connections["in_use"], connections["max_connections"] - connections["reserved"]
    evidence = {key: value for key, value in connections.items() if key != "by_state"}
    if in_use >= usable:
        return [finding(NEAR_LIMIT, "critical", f"No connection slot left for non-superusers: {in_use} of "
                        f"{connections['max_connections']} in use, {connections['reserved']} reserved", evidence)]
    if in_use >= params["connections_warn_ratio"] * usable:
        return [finding(NEAR_LIMIT, "warning", f"{in_use} of the {usable} connections open to non-superusers "
                        "are in use", evidence)]
    return []


def lock_findings(locks, params):
    waiting = locks["waiting"]
    if len(waiting) < params["lock_wait_warn_count"]:
        return []
    roots = [b for b in locks["blockers"] if not b["waiting"]] or locks["blockers"]
    held_by = ", ".join(f"pid {b['pid']} ({b['application_name'] or 'no application_name'}, {b['state']} "
                        f"for {b['age_seconds']}s)" for b in roots)
    keys = ("pid", "user", "application_name", "state", "age_seconds", "query")
    return [finding("postgres.lock_pileup", "critical", f"{len(waiting)} sessions wait on locks held by {held_by}",
                    {"waiting_count": len(waiting), "waiting_pids": [w["pid"] for w in waiting],
                     "blocking_pids": [b["pid"] for b in roots],
                     "blockers": [{key: b[key] for key in keys} for b in roots]})]


def idle_findings(idle, params):
    return [finding("postgres.idle_in_transaction_leak", "warning",
                    f"{app['older_than_min_age']} sessions of {app['application_name'] or 'no application_name'} "
                    f"idle in transaction for over {params['idle_in_transaction_min_age']}s "
                    f"(oldest {app['oldest_age_seconds']}s)",
                    {"application_name": app["application_name"], "count": app["older_than_min_age"],
                     "oldest_age_seconds": app["oldest_age_seconds"], "pids": app["pids"]})
            for app in idle if app["older_than_min_age"] >= params["idle_in_transaction_warn_count"]]


def refusal_finding(exc, params):
    """The one finding of a server that could not be connected to or read."""
    where, user = f"{params['login_host']}:{params['login_port']}", params["login_user"]
    if not isinstance(exc, BackendUnavailable):
        return finding("postgres.auth_failed", "critical", f"PostgreSQL at {where} refused the credentials of "
                       f"{user}", {"server": where, "user": user})
    if any(marker in exc.msg for marker in FULL_MARKERS):
        reason = str(exc.__cause__ or exc.msg).strip().splitlines()[0]
        return finding(NEAR_LIMIT, "critical", f"PostgreSQL at {where} is full: it refuses new connections of "
                       f"{user}", {"server": where, "user": user, "error": reason})
    return finding("postgres.unreachable", "critical", exc.msg, {"server": where, "error": exc.msg})


def run(params):
    """Read the server's sessions, locks and settings; the result sre.runbooks.postgres_info returns."""
    if not HAS_PSYCOPG2:
        raise RunbookError(missing_required_lib("psycopg2"), exception=PSYCOPG2_IMPORT_ERROR)
    try:
        latency_ms, server, sessions, waiting, database = read(params)
    except RunbookError as exc:
        if not isinstance(exc, BackendUnavailable) and exc.details.get("reason") != "auth_failed":
            raise
        found = refusal_finding(exc, params)
        return check_result([found], status="down", error=found["evidence"].get("error", exc.msg),
                            latency_ms=None, connections={}, locks={"waiting": [], "blockers": []},
                            idle_in_transaction=[], longest_queries=[], database=None)
    connections = connection_summary(sessions, server)
    locks = lock_summary(waiting, sessions)
    idle = idle_summary(sessions, params["idle_in_transaction_min_age"])
    found = connection_findings(connections, params) + lock_findings(locks, params) + idle_findings(idle, params)
    no_slot = any(f["id"] == NEAR_LIMIT and f["severity"] == "critical" for f in found)
    return check_result(found, status="down" if no_slot else status_from(found), error=None,
                        latency_ms=latency_ms, connections=connections, locks=locks, idle_in_transaction=idle,
                        longest_queries=longest_queries(sessions, params["top_queries"]), database=database)
