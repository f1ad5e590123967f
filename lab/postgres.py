"""PostgreSQL for the lab: a throwaway cluster made with initdb and run by pg_ctl.

The cluster lives in <lab>/postgres/data and listens on 127.0.0.1 only, on a
free port. When the lab runs as root the server runs as an unprivileged account
(initdb refuses root). It holds the application database ``pynomaly`` owned by
the role ``pynomaly`` (password auth), and the lab's own superuser ``srelab``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg2

from lab.core import Lab, LabError, as_user, chown_tree, free_port, require_binary, unprivileged_user, wait_until

APP_DB = "pynomaly"
APP_USER = "pynomaly"
APP_PASSWORD = "pynomaly-lab-secret"
ADMIN_USER = "srelab"
HINT = "install Debian's postgresql package (make setup does)"


def _run(argv: list[str], user: str | None, what: str) -> None:
    done = subprocess.run(as_user(argv, user), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LabError(f"{what} failed: {(done.stderr or done.stdout).strip()[-500:]}")


def _cluster_dir(lab: Lab, user: str | None) -> Path:
    """Where the cluster lives. Run as another account, it gets a directory of its own under the
    system temp dir (the lab directory may sit below one that account cannot enter)."""
    if user is None:
        return lab.path("postgres")
    recorded = lab.service("postgres").get("cluster_dir")
    if recorded and Path(recorded).exists():
        return Path(recorded)
    base = Path(tempfile.mkdtemp(prefix="sre-lab-postgres-"))
    base.chmod(0o755)
    return base


def up(lab: Lab) -> dict:
    user = unprivileged_user()
    base = _cluster_dir(lab, user)
    data = base / "data"
    port = free_port()
    if not (data / "PG_VERSION").exists():
        chown_tree(base, user)
        _run([require_binary("initdb", HINT), "-D", str(data), "-U", ADMIN_USER, "-A", "trust",
              "--no-sync", "-E", "UTF8"], user, "initdb")
        with open(data / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# sre.runbooks lab\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{base}'\nfsync = off\nmax_connections = 50\n"
            )
        (data / "pg_hba.conf").write_text(
            "local all srelab trust\n"
            "host all srelab 127.0.0.1/32 trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
        )
        chown_tree(base, user)
    info = {"host": "127.0.0.1", "port": port, "database": APP_DB, "user": APP_USER,
            "password": APP_PASSWORD, "admin_user": ADMIN_USER, "data_dir": str(data), "cluster_dir": str(base)}
    start(info)
    _seed(info)
    return info


def start(info: dict) -> None:
    """Start the cluster on its port (again, after stop)."""
    base = Path(info["cluster_dir"])
    _run([require_binary("pg_ctl", HINT), "-D", info["data_dir"], "-l", str(base / "server.log"),
          "-o", f"-p {info['port']}", "-w", "-t", "30", "start"], unprivileged_user(), "pg_ctl start")
    wait_until(lambda: _ping(info), 15, "PostgreSQL to accept connections")


def stop(info: dict) -> None:
    """Stop the server at once (the data stays): what a failed database host looks like to clients."""
    _run([require_binary("pg_ctl", HINT), "-D", info["data_dir"], "-m", "immediate", "-w", "stop"],
         unprivileged_user(), "pg_ctl stop")


def running(info: dict) -> bool:
    return (Path(info["data_dir"]) / "postmaster.pid").exists() and _ping(info)


def _admin(info: dict, dbname: str = "postgres"):
    conn = psycopg2.connect(host=info["host"], port=info["port"], user=info["admin_user"], dbname=dbname,
                            connect_timeout=3)
    conn.autocommit = True
    return conn


def _ping(info: dict) -> bool:
    try:
        _admin(info).close()
        return True
    except psycopg2.OperationalError:
        return False


def _seed(info: dict) -> None:
    admin = _admin(info)
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_USER,))
            if not cur.fetchone():
                cur.execute(f"CREATE ROLE {APP_USER} LOGIN PASSWORD %s", (APP_PASSWORD,))
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (APP_DB,))
            if not cur.fetchone():
                cur.execute(f"CREATE DATABASE {APP_DB} OWNER {APP_USER}")
    finally:
        admin.close()
    conn = psycopg2.connect(host=info["host"], port=info["port"], user=APP_USER, password=APP_PASSWORD,
                            dbname=APP_DB, connect_timeout=3)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS detections (id serial PRIMARY KEY, "
                    "dataset text NOT NULL, score real NOT NULL, created_at timestamptz DEFAULT now())")
        cur.execute("SELECT count(*) FROM detections")
        if cur.fetchone()[0] == 0:
            cur.executemany("INSERT INTO detections (dataset, score) VALUES (%s, %s)",
                            [("payments", 0.91), ("logins", 0.12), ("transfers", 0.55)])
    conn.close()


def down(lab: Lab) -> None:
    info = lab.service("postgres")
    if not info:
        return
    data = Path(info["data_dir"])
    if (data / "postmaster.pid").exists():
        done = subprocess.run(as_user([require_binary("pg_ctl", HINT), "-D", str(data), "-m", "immediate", "-w",
                                       "stop"], unprivileged_user()), capture_output=True, text=True, check=False)
        if done.returncode != 0 and (data / "postmaster.pid").exists():
            raise LabError(f"pg_ctl stop failed: {done.stderr.strip()[-300:]}")
    cluster_dir = Path(info.get("cluster_dir") or data.parent)
    if cluster_dir.resolve() != (lab.root / "postgres").resolve():
        shutil.rmtree(cluster_dir, ignore_errors=True)


def status(lab: Lab) -> str:
    info = lab.service("postgres")
    if info and _ping(info):
        return f"postgres up at 127.0.0.1:{info['port']} (database {APP_DB})"
    return "postgres down"
