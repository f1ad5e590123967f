#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: postgres_terminate_backends
short_description: End the PostgreSQL sessions that leak connections or block others, within a cap
version_added: 1.0.0
description:
  - The runbook's Scenario 2 "Database Connection Issues" and "Check database locks", acted on - end the
    sessions an application left idle in transaction, or the sessions that hold locks others wait on,
    instead of restarting the application.
  - Chooses sessions of one database by O(state), O(application_name), O(blocking) and O(min_age) (all given
    filters must hold), then cancels their query (C(pg_cancel_backend)) or ends them (C(pg_terminate_backend)).
  - Never touches superusers' sessions, replication and other non-client backends, or its own session; those
    are returned in RV(protected). With O(action=cancel), sessions without a running query are left alone too.
  - Refuses, ending nobody, when more sessions match than O(max_sessions).
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.postgres
  - sre.runbooks.wait
  - sre.runbooks.attributes
attributes:
  check_mode:
    support: full
    details: Lists exactly the sessions it would end, with a diff; signals nobody.
  diff_mode:
    support: full
  idempotent:
    support: full
    details: When no session matches, nothing is done and C(changed=false).
options:
  state:
    description: Sessions in one of these states (C(active), C(idle), C(idle in transaction),
      C(idle in transaction (aborted))). An empty list matches nothing.
    type: list
    elements: str
  application_name:
    description: Sessions whose application_name is one of these. An empty list matches nothing.
    type: list
    elements: str
  blocking:
    description: C(true) selects only sessions that hold a lock another session waits on (C(pg_blocking_pids));
      C(false) only sessions that block nobody.
    type: bool
  min_age:
    description: Seconds since the session's state changed, or since its transaction began when it is idle in
      transaction; younger sessions are left out.
    type: int
    default: 0
  database:
    description: Database whose sessions are chosen. Defaults to the one connected to (O(login_db)).
    type: str
  action:
    description: C(terminate) ends the session (and rolls back its transaction); C(cancel) only stops its running
      query.
    type: str
    choices: [cancel, terminate]
    default: terminate
  max_sessions:
    description: Refuse, ending nobody, when more sessions than this match.
    type: int
    default: 20
notes:
  - At least one of O(state), O(application_name) or O(blocking) is required.
  - Connect as a superuser or a member of C(pg_signal_backend) to end other roles' sessions.
"""

EXAMPLES = r"""
- name: End the application's sessions left idle in transaction for over a minute (Scenario 2)
  sre.runbooks.postgres_terminate_backends:
    login_host: prod-db.amazonaws.com
    login_user: sre_oncall
    login_password: "{{ vault_postgres_oncall_password }}"
    login_db: pynomaly_prod
    state: [idle in transaction]
    application_name: [pynomaly]
    min_age: 60
    max_sessions: 50

- name: End the sessions that hold the locks others wait on (Database Issues, check database locks)
  sre.runbooks.postgres_terminate_backends:
    login_host: prod-db.amazonaws.com
    login_user: sre_oncall
    login_password: "{{ vault_postgres_oncall_password }}"
    login_db: pynomaly_prod
    blocking: true
"""

RETURN = r"""
actions:
  description: What was done (or would be done in check mode), one line per session.
  returned: always
  type: list
  elements: str
  sample: ["pg_terminate_backend(4242): pynomaly-batch (user pynomaly), idle in transaction for 35.2s"]
sessions:
  description: The sessions chosen (pid, user, application_name, database, state, age_seconds, blocking, query
    excerpt).
  returned: always
  type: list
  elements: dict
  sample: [{pid: 4242, user: pynomaly, application_name: pynomaly-batch, database: pynomaly,
            state: idle in transaction, age_seconds: 35.2, blocking: true,
            query: "LOCK TABLE detections IN ACCESS EXCLUSIVE MODE"}]
protected:
  description: Sessions that matched the filters but were left alone, each with C(reason).
  returned: always
  type: list
  elements: dict
  sample: [{pid: 4300, user: srelab, application_name: pynomaly, state: idle in transaction,
            reason: a superuser's session}]
before:
  description: Sessions matching the filters (protected ones left out) before the run.
  returned: always
  type: int
  sample: 46
after:
  description: Sessions matching the filters after the run (in check mode, as it would be).
  returned: always
  type: int
  sample: 0
check_mode:
  description: True when this was a dry run (check mode for the whole run, or for this step only).
  returned: always
  type: bool
  sample: false
duration:
  description: Seconds spent waiting for the sessions to end.
  returned: when waited
  type: float
  sample: 0.12
"""

from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule, wait_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.guards import require
from ansible_collections.sre.runbooks.plugins.module_utils.postgres_client import (
    HAS_PSYCOPG2,
    PSYCOPG2_IMPORT_ERROR,
    connect,
    postgres_argument_spec,
)
from ansible_collections.sre.runbooks.plugins.module_utils.waiting import wait_for

try:
    from psycopg2 import Error as PsycopgError
except ImportError:
    PsycopgError = Exception

EXCERPT = 120
FUNCTIONS = {"cancel": "pg_cancel_backend", "terminate": "pg_terminate_backend"}
SESSIONS_SQL = """
SELECT a.pid, a.usename AS user, a.application_name, a.datname AS database, a.state, a.backend_type,
       coalesce(r.rolsuper, false) AS superuser, a.pid = pg_backend_pid() AS own, a.query_start::text AS query_start,
       extract(epoch FROM now() - CASE WHEN a.state LIKE 'idle in transaction%%' THEN a.xact_start
                                       ELSE a.state_change END)::float AS age,
       a.pid = ANY(b.pids) AS blocking, left(a.query, %(excerpt)s + 1) AS query
FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid,
     (SELECT coalesce(array_agg(DISTINCT p), '{}') AS pids FROM pg_stat_activity, unnest(pg_blocking_pids(pid)) p) b
WHERE a.datname = coalesce(%(database)s, current_database())
"""


def read_sessions(conn, params):
    with conn.cursor() as cur:
        cur.execute(SESSIONS_SQL, {"excerpt": EXCERPT, "database": params["database"]})
        names = [column[0] for column in cur.description]
        sessions = [dict(zip(names, row)) for row in cur.fetchall()]
    for session in sessions:
        age, query = session.pop("age"), session["query"] or ""
        session["age_seconds"] = round(max(age or 0.0, 0.0), 1)
        session["query"] = query[:EXCERPT] + "..." if len(query) > EXCERPT else query
    return sessions


def matches(session, params):
    """Every given filter holds (a filter left out holds for every session)."""
    return ((params["state"] is None or session["state"] in params["state"])
            and (params["application_name"] is None or session["application_name"] in params["application_name"])
            and (params["blocking"] is None or session["blocking"] == params["blocking"])
            and session["age_seconds"] >= params["min_age"])


def protection(session, action):
    """Why a matching session must be left alone, or None."""
    if session["own"]:
        return "this module's own session"
    if session["backend_type"] != "client backend":
        return f"not a client backend ({session['backend_type']})"
    if session["superuser"]:
        return "a superuser's session"
    if action == "cancel" and session["state"] != "active":
        return "no running query to cancel (action=terminate ends the session)"
    return None


def select(conn, params):
    """(sessions to end, sessions matched but protected), each as returned."""
    chosen, protected = [], []
    for session in read_sessions(conn, params):
        if not matches(session, params):
            continue
        reason = protection(session, params["action"])
        view = {key: session[key] for key in ("pid", "user", "application_name", "database", "state",
                                              "age_seconds", "blocking", "query")}
        if reason:
            protected.append(dict(view, reason=reason))
        else:
            chosen.append(dict(view, query_start=session["query_start"]))
    return chosen, protected


def describe(function, session):
    return (f"{function}({session['pid']}): {session['application_name'] or 'no application_name'} "
            f"(user {session['user']}), {session['state']} for {session['age_seconds']}s")


def signal_sessions(conn, function, sessions):
    """Send the signal to each session; return the action lines."""
    actions = []
    for session in sessions:
        try:
            with conn.cursor() as cur:
                cur.execute(f"SELECT {function}(%s)", (session["pid"],))
                sent = cur.fetchone()[0]
        except PsycopgError as exc:
            done = "; ".join(actions) or "none"
            raise RunbookError(f"{function}({session['pid']}) failed: {str(exc).strip()}. Done before: {done}") from exc
        actions.append(describe(function, session) + ("" if sent else " (already gone)"))
    return actions


def still_there(conn, params, sessions):
    """pids of the sessions not yet ended (terminate) or still running the same query (cancel)."""
    current = {s["pid"]: s for s in read_sessions(conn, params)}
    if params["action"] == "terminate":
        return sorted(s["pid"] for s in sessions if s["pid"] in current)
    return sorted(s["pid"] for s in sessions if s["pid"] in current and current[s["pid"]]["state"] == "active"
                  and current[s["pid"]]["query_start"] == s["query_start"])


def wait_ended(conn, params, sessions):
    ok, pids, duration = wait_for(lambda: still_there(conn, params, sessions), lambda left: not left,
                                  params["wait_timeout"], params["wait_sleep"])
    if not ok:
        raise RunbookError(f"{FUNCTIONS[params['action']]} was sent, but sessions {pids} were still there after "
                           f"{params['wait_timeout']}s")
    return duration


def end_sessions(module):
    params = module.params
    function = FUNCTIONS[params["action"]]
    conn = connect(params)
    try:
        chosen, protected = select(conn, params)
        require(len(chosen) <= params["max_sessions"], "session cap",
                f"{len(chosen)} sessions match the filters, more than max_sessions={params['max_sessions']}; "
                "nobody was ended.", override="narrow the filters (min_age, application_name, state) or raise "
                                              "max_sessions")
        result = {"before": len(chosen), "after": 0, "protected": protected}
        if module.check_mode or not chosen:
            result["actions"] = [describe(function, s) for s in chosen]
        else:
            result["actions"] = signal_sessions(conn, function, chosen)
            if params["wait"]:
                result["duration"] = wait_ended(conn, params, chosen)
            result["after"] = len(select(conn, params)[0])
    finally:
        conn.close()
    for session in chosen:
        session.pop("query_start")
    result.update(changed=bool(chosen), sessions=chosen, check_mode=module.check_mode)
    if module._diff:
        result["diff"] = {"before": {"sessions": [describe(function, s) for s in chosen]}, "after": {"sessions": []}}
    module.exit_json(**result)


def main():
    module = RunbookModule(
        argument_spec={
            "state": {"type": "list", "elements": "str"},
            "application_name": {"type": "list", "elements": "str"},
            "blocking": {"type": "bool"},
            "min_age": {"type": "int", "default": 0},
            "database": {"type": "str"},
            "action": {"type": "str", "choices": ["cancel", "terminate"], "default": "terminate"},
            "max_sessions": {"type": "int", "default": 20},
        },
        shared=(postgres_argument_spec, wait_argument_spec),
        required_one_of=[("state", "application_name", "blocking")],
        supports_check_mode=True,
    )
    module.require_library("psycopg2", HAS_PSYCOPG2, PSYCOPG2_IMPORT_ERROR)
    module.run(end_sessions)


if __name__ == "__main__":
    main()
