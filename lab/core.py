"""Process and state handling shared by every lab service.

A lab is one state directory:

    lab.json        what is running where (ports, URLs, pids); inventories/lab reads it
    logs/NAME.log   stdout+stderr of each process the lab started
    run/NAME.pid    pid of each process the lab started
    <service>/      data of one service (PostgreSQL cluster, Redis dirs, ...)
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = REPO_ROOT / ".lab"


class LabError(Exception):
    """A lab step failed; the message says which and why."""


def lab_dir() -> Path:
    return Path(os.environ.get("SRE_LAB_DIR") or DEFAULT_DIR).resolve()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise LabError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def read_json(path, default=None):
    """The JSON document in a file; default when the file is missing or not (yet) JSON."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return default


def write_json(path, data) -> None:
    """Write a JSON document atomically (tmp + os.replace): a reader sees the old file or the new, never half."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def http(url: str, method: str = "GET", headers: dict | None = None, body=None,
         timeout: float = 5) -> tuple[int | None, str]:
    """One HTTP request (body, when given, sent as JSON): (status, text), or (None, why) when nothing answered."""
    headers = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return None, str(exc)


def unprivileged_user() -> str | None:
    """The account to run servers as when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise LabError("running as root and no unprivileged account (postgres, nobody) exists")


def chown_tree(path: Path, user: str | None) -> None:
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def as_user(argv: list[str], user: str | None) -> list[str]:
    if user is None:
        return argv
    return ["runuser", "-u", user, "--"] + argv


class Lab:
    """One lab state directory and the processes started in it."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root or lab_dir()).resolve()
        self.state_file = self.root / "lab.json"

    # state -----------------------------------------------------------------
    def load(self) -> dict:
        return read_json(self.state_file, {"services": {}, "faults": []})

    def save(self, state: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_json(self.state_file, state)

    def service(self, name: str) -> dict:
        return self.load()["services"].get(name, {})

    def set_service(self, name: str, info: dict) -> None:
        state = self.load()
        state["services"][name] = info
        self.save(state)

    def path(self, *parts: str) -> Path:
        target = self.root.joinpath(*parts)
        target.mkdir(parents=True, exist_ok=True)
        return target

    # processes -------------------------------------------------------------
    def pidfile(self, name: str) -> Path:
        return self.path("run") / f"{name}.pid"

    def logfile(self, name: str) -> Path:
        return self.path("logs") / f"{name}.log"

    def spawn(self, name: str, argv: list[str], env: dict | None = None, user: str | None = None) -> int:
        """Start a long-running process detached from us; remember its pid."""
        if self.alive(name):
            raise LabError(f"{name} is already running (pid {self.pid(name)})")
        full_env = dict(os.environ)
        full_env.update(env or {})
        with open(self.logfile(name), "ab") as log:
            proc = subprocess.Popen(
                as_user(argv, user),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=full_env,
                cwd=str(self.root),
                start_new_session=True,
            )
        self.pidfile(name).write_text(str(proc.pid))
        return proc.pid

    def wait_started(self, name: str, ready, timeout: float, what: str, interval: float = 0.1):
        """Wait until ready() is true while process `name` runs; return its value.

        Fails at once, with the end of its log, when the process exits; on any failure `name` is stopped."""
        def check():
            if not self.alive(name):
                raise LabError(f"{name} exited while waiting for {what}:\n{self.log_tail(name)}")
            return ready()

        try:
            return wait_until(check, timeout, what, interval)
        except Exception:
            self.stop(name)
            raise

    def pid(self, name: str) -> int | None:
        try:
            return int(self.pidfile(name).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def alive(self, name: str) -> bool:
        pid = self.pid(name)
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # A zombie child of ours counts as gone.
        try:
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().split(") ", 1)[1][0] != "Z"
        except OSError:
            return False

    def stop(self, name: str, timeout: float = 10.0) -> bool:
        """Stop a process (its whole session) with SIGTERM, then SIGKILL."""
        pid = self.pid(name)
        if pid is None:
            return False
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                break
            except PermissionError:
                os.kill(pid, sig)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.alive(name):
                _reap(pid)
                time.sleep(0.05)
            if not self.alive(name):
                break
        _reap(pid)
        self.pidfile(name).unlink(missing_ok=True)
        return True

    def log_tail(self, name: str, lines: int = 20) -> str:
        try:
            return "\n".join(self.logfile(name).read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def venv_python() -> str:
    """The interpreter that has the lab's dependencies (the one running us)."""
    return sys.executable


def require_binary(name: str, hint: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise LabError(f"{name} not found: {hint}")
