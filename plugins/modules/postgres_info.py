#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: postgres_info
short_description: Check a PostgreSQL server for the runbooks' database issues
version_added: 1.0.0
description:
  - The runbook's "Check Database Status" and "Scenario 2 - Database Connection Issues" in one call - C(SELECT 1)
    latency, sessions waiting on locks and who blocks them (C(pg_blocking_pids)), connections by state and
    application_name against C(max_connections), sessions left idle in transaction per application, the longest
    running queries, the size of the connected database. Its own session is left out; query texts are cut.
  - A server that does not answer, refuses the credentials or refuses because it is full is a finding, not a
    failure. Connect as a superuser (the on-call role) to see every session, and to still get in through the
    reserved slots when the application's connections are exhausted.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.postgres
  - sre.runbooks.attributes
  - sre.runbooks.attributes.INFO_MODULE
options:
  connections_warn_ratio:
    description: Warn when the connections in use reach this share of the slots open to non-superusers
      (C(max_connections) minus the reserved slots).
    type: float
    default: 0.8
  idle_in_transaction_min_age:
    description: Seconds a transaction must have been open for an idle-in-transaction session to count as leaked.
    type: int
    default: 60
  idle_in_transaction_warn_count:
    description: Leaked idle-in-transaction sessions of one application_name that make a finding.
    type: int
    default: 5
  lock_wait_warn_count:
    description: Sessions waiting on locks that make a lock pile-up.
    type: int
    default: 3
  top_queries:
    description: How many of the longest running queries to return.
    type: int
    default: 5
  query_text_limit:
    description: Query texts longer than this many characters are cut (and end in C(...)).
    type: int
    default: 300
"""

EXAMPLES = r"""
- name: Check database status (Database Issues; Scenario 2 Database Connection Issues)
  sre.runbooks.postgres_info:
    login_host: prod-db.amazonaws.com
    login_user: sre_oncall
    login_password: "{{ vault_postgres_oncall_password }}"
    login_db: pynomaly_prod
    idle_in_transaction_min_age: 120
  register: database
"""

RETURN = r"""
status:
  description: C(ok); C(degraded) (warning or critical findings, the server serves); C(down) (unreachable,
    credentials refused, or no connection slot left for non-superusers).
  returned: always
  type: str
  sample: degraded
findings:
  description:
    - Ids C(postgres.unreachable) (no answer; critical, status down),
    - C(postgres.auth_failed) (credentials refused; critical, status down),
    - C(postgres.connections_near_limit) (warning at O(connections_warn_ratio); critical, status down, when no slot
      is left for non-superusers or the server refuses because it is full),
    - C(postgres.lock_pileup) (at least O(lock_wait_warn_count) sessions wait on locks; critical; evidence names the
      blocking pids with their application_name, state, age and query),
    - C(postgres.idle_in_transaction_leak) (one per application_name with at least O(idle_in_transaction_warn_count)
      sessions idle in transaction for over O(idle_in_transaction_min_age); warning; evidence has the count, the
      oldest age and the pids).
  returned: always
  type: list
  elements: dict
  sample:
    - id: postgres.lock_pileup
      severity: critical
      summary: "4 sessions wait on locks held by pid 4242 (pynomaly-batch, idle in transaction for 35.2s)"
      evidence: {waiting_count: 4, waiting_pids: [4243, 4244, 4245, 4246], blocking_pids: [4242],
                 blockers: [{pid: 4242, user: pynomaly, application_name: pynomaly-batch, state: idle in transaction,
                             age_seconds: 35.2, query: "LOCK TABLE detections IN ACCESS EXCLUSIVE MODE"}]}
error:
  description: Why the server could not be read, or null when it was.
  returned: always
  type: str
  sample: null
latency_ms:
  description: Round trip of C(SELECT 1) in milliseconds; null when not reachable.
  returned: always
  type: float
  sample: 0.4
connections:
  description: Client connections in use, by state and by application_name, against C(max_connections) and the
    C(reserved) slots (superuser_reserved_connections and reserved_connections); empty when not reachable.
  returned: always
  type: dict
  sample: {in_use: 47, max_connections: 50, reserved: 3, available_to_non_superusers: 0, usage_ratio: 1.0,
           by_state: {idle in transaction: 47}, by_application_name: {pynomaly: 47}}
locks:
  description: C(waiting) sessions (lock not granted, C(blocked_by) pids) and their C(blockers) (pid, user,
    application_name, state, age_seconds, query, C(blocks) pids, whether C(waiting) themselves).
  returned: always
  type: dict
  sample: {waiting: [{pid: 4243, mode: AccessShareLock, relation: detections, blocked_by: [4242], wait_seconds: 35.0}],
           blockers: [{pid: 4242, application_name: pynomaly-batch, state: idle in transaction, blocks: [4243]}]}
idle_in_transaction:
  description: Per application_name, its sessions idle in transaction, how many are older than
    O(idle_in_transaction_min_age), the oldest age in seconds and the pids of the old ones.
  returned: always
  type: list
  elements: dict
  sample: [{application_name: pynomaly, sessions: 2, older_than_min_age: 2, oldest_age_seconds: 312.5, pids: [41, 42]}]
longest_queries:
  description: The O(top_queries) longest running active queries, longest first.
  returned: always
  type: list
  elements: dict
  sample: [{pid: 4243, user: pynomaly, application_name: pynomaly, duration_seconds: 35.0, query: "SELECT 1"}]
database:
  description: Name and size of the connected database; null when not reachable.
  returned: always
  type: dict
  sample: {name: pynomaly, size_bytes: 7741955, size_pretty: 7561 kB}
"""

from ansible_collections.sre.runbooks.plugins.module_utils.checks import postgres
from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule


def main():
    module = RunbookModule(argument_spec=postgres.argument_spec(), supports_check_mode=True)
    module.require_library("psycopg2", postgres.HAS_PSYCOPG2, postgres.PSYCOPG2_IMPORT_ERROR)
    module.run_check(postgres.run)


if __name__ == "__main__":
    main()
