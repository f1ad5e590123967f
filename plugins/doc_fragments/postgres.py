# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    """Connection options shared by the PostgreSQL modules (module_utils/postgres_client.py)."""

    DOCUMENTATION = r"""
options:
  login_host:
    description: Host of the PostgreSQL server. Falls back to E(PGHOST).
    type: str
    default: 127.0.0.1
  login_port:
    description: Port of the PostgreSQL server. Falls back to E(PGPORT).
    type: int
    default: 5432
  login_user:
    description: User to connect as. Falls back to E(PGUSER).
    type: str
    default: postgres
  login_password:
    description: Password of O(login_user). Falls back to E(PGPASSWORD). Never printed.
    type: str
  login_db:
    description: Database to connect to. Falls back to E(PGDATABASE).
    type: str
    default: postgres
  ssl_mode:
    description: libpq sslmode.
    type: str
    default: prefer
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  connect_timeout:
    description: Seconds to wait for the connection.
    type: int
    default: 3
requirements:
  - psycopg2 (Python library)
"""
