# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL client factory (psycopg2); checks turn connection failures into findings."""

import traceback

from ansible.module_utils.basic import env_fallback

from ansible_collections.sre.runbooks.plugins.module_utils.errors import BackendUnavailable, RunbookError

PSYCOPG2_IMPORT_ERROR = None
try:
    import psycopg2
    HAS_PSYCOPG2 = True
except ImportError:
    HAS_PSYCOPG2 = False
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()


def postgres_argument_spec():
    """Options of doc fragment sre.runbooks.postgres."""
    return {
        "login_host": {"type": "str", "default": "127.0.0.1", "fallback": (env_fallback, ["PGHOST"])},
        "login_port": {"type": "int", "default": 5432, "fallback": (env_fallback, ["PGPORT"])},
        "login_user": {"type": "str", "default": "postgres", "fallback": (env_fallback, ["PGUSER"])},
        "login_password": {"type": "str", "no_log": True, "fallback": (env_fallback, ["PGPASSWORD"])},
        "login_db": {"type": "str", "default": "postgres", "fallback": (env_fallback, ["PGDATABASE"])},
        "ssl_mode": {"type": "str", "default": "prefer",
                     "choices": ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]},
        "connect_timeout": {"type": "int", "default": 3},
    }


def connect(params, application_name="sre.runbooks"):
    """An autocommit connection; BackendUnavailable or RunbookError (auth) when it cannot be had."""
    try:
        conn = psycopg2.connect(
            host=params["login_host"], port=params["login_port"], user=params["login_user"],
            password=params.get("login_password"), dbname=params["login_db"], sslmode=params["ssl_mode"],
            connect_timeout=params["connect_timeout"], application_name=application_name,
        )
    except psycopg2.OperationalError as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection failed"
        if "authentication failed" in text or "password" in text:
            raise RunbookError(f"PostgreSQL authentication failed for user {params['login_user']}",
                               reason="auth_failed") from exc
        raise BackendUnavailable(
            f"PostgreSQL at {params['login_host']}:{params['login_port']} unreachable: {text}") from exc
    conn.autocommit = True
    return conn
