"""Data-tier drills: a connection leak, a lock pile-up and a failed Aurora writer, on the lab's real
PostgreSQL and moto, found, diagnosed, fixed within their guards and verified by the playbooks."""


import psycopg2
import pytest
from conftest import app_health, rds_roles, run_playbook

from lab import aws


def sessions(lab, where):
    info = lab.service("postgres")
    conn = psycopg2.connect(host=info["host"], port=info["port"], user=info["admin_user"], dbname="postgres")
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND {where}")
            return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


LEAKED = "application_name = 'pynomaly' AND state = 'idle in transaction'"
BLOCKER = "application_name = 'pynomaly-batch'"
WAITING = "wait_event_type = 'Lock'"


@pytest.mark.drill
def test_connection_leak_plan_then_auto(lab, incident_dir, fault):
    fault("db-connection-leak")
    leaked = sessions(lab, LEAKED)
    assert len(leaked) > 20 and app_health(lab) == 503

    planned = run_playbook("playbooks/p0-system-down.yml", lab.root, incident_dir,
                           {"incident_id": "DRILL-LEAK-PLAN"}, check=True)
    assert planned.returncode == 0, planned.stdout[-3000:]
    assert sorted(sessions(lab, LEAKED)) == sorted(leaked)
    plan = (incident_dir / "DRILL-LEAK-PLAN" / "report.md").read_text()
    assert "Database connections exhausted by a leak" in plan and "Would do: `pg_terminate_backend(" in plan

    fixed = run_playbook("playbooks/p0-system-down.yml", lab.root, incident_dir,
                         {"incident_id": "DRILL-LEAK", "remediation_mode": "auto"})
    assert fixed.returncode == 0, fixed.stdout[-3000:]
    assert sessions(lab, LEAKED) == []
    assert app_health(lab) == 200
    report = (incident_dir / "DRILL-LEAK" / "report.md").read_text()
    assert "**RECOVERED" in report and "`postgres.idle_in_transaction_leak`" in report
    assert "Did: `pg_terminate_backend(" in report
    assert lab.service("postgres")["password"] not in report + fixed.stdout


@pytest.mark.drill
def test_lock_pileup_ends_only_the_blocker(lab, incident_dir, fault):
    fault("db-lock-pileup")
    blocker = sessions(lab, BLOCKER)
    waiting = sessions(lab, WAITING)
    assert len(blocker) == 1 and len(waiting) == 4 and app_health(lab) == 503

    fixed = run_playbook("playbooks/p0-system-down.yml", lab.root, incident_dir,
                         {"incident_id": "DRILL-LOCKS", "remediation_mode": "auto"})
    assert fixed.returncode == 0, fixed.stdout[-3000:]
    assert sessions(lab, BLOCKER) == [] and sessions(lab, WAITING) == []
    assert app_health(lab) == 200
    report = (incident_dir / "DRILL-LOCKS" / "report.md").read_text()
    assert "Database lock pile-up" in report
    assert f"Did: `pg_terminate_backend({blocker[0]})" in report
    assert "**RECOVERED" in report


@pytest.mark.drill
def test_database_connections_playbook_alone(lab, incident_dir, fault):
    fault("db-connection-leak")
    fixed = run_playbook("playbooks/database-connections.yml", lab.root, incident_dir,
                         {"incident_id": "SCENARIO2", "remediation_mode": "auto"})
    assert fixed.returncode == 0, fixed.stdout[-3000:]
    assert sessions(lab, LEAKED) == [] and app_health(lab) == 200


def test_approve_mode_without_approval_ends_nobody(lab, incident_dir, fault):
    fault("db-lock-pileup")
    blocker = sessions(lab, BLOCKER)
    result = run_playbook("playbooks/p0-system-down.yml", lab.root, incident_dir,
                          {"incident_id": "LOCKS-APPROVE", "remediation_mode": "approve"})
    assert result.returncode != 0
    assert sessions(lab, BLOCKER) == blocker
    approved = run_playbook("playbooks/p0-system-down.yml", lab.root, incident_dir,
                            {"incident_id": "LOCKS-APPROVED", "remediation_mode": "approve",
                             "approved_steps": ["postgres.end_blocking_sessions"]})
    assert approved.returncode == 0, approved.stdout[-3000:]
    assert sessions(lab, BLOCKER) == []


def cluster_roles(lab):
    return rds_roles(aws.client(lab.service("aws"), "rds"), lab.service("aws")["rds_cluster_id"])


@pytest.mark.drill
def test_rds_writer_down_needs_approval_then_fails_over(lab, incident_dir, fault):
    info = lab.service("aws")
    seeded = {info["rds_writer_id"]: "writer", info["rds_reader_id"]: "reader"}
    fault("rds-writer-down")
    assert app_health(lab) == 503

    auto = run_playbook("playbooks/p0-system-down.yml", lab.root, incident_dir,
                        {"incident_id": "DRILL-RDS-AUTO", "remediation_mode": "auto"})
    assert auto.returncode != 0  # a failover is high risk: auto mode alone does not do it
    assert cluster_roles(lab) == seeded
    report = (incident_dir / "DRILL-RDS-AUTO" / "report.md").read_text()
    assert "the RDS writer has failed" in report and "needs_approval" in report and "NOT RECOVERED" in report

    approved = run_playbook("playbooks/database-unavailable.yml", lab.root, incident_dir,
                            {"incident_id": "DRILL-RDS", "remediation_mode": "approve",
                             "approved_steps": ["rds.failover"]})
    assert approved.returncode == 0, approved.stdout[-3000:]
    assert cluster_roles(lab) == {info["rds_writer_id"]: "reader", info["rds_reader_id"]: "writer"}
    assert app_health(lab) == 200
    report = (incident_dir / "DRILL-RDS" / "report.md").read_text()
    assert f"Did: `FailoverDBCluster {info['rds_cluster_id']} to {info['rds_reader_id']}`" in report
    assert "**RECOVERED" in report
    assert info["secret_key"] not in report + approved.stdout
