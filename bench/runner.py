"""Running ansible-playbook for a measurement: wall time, exit code, task times and peak memory."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BENCH = REPO / "bench"
GNU_TIME = "/usr/bin/time"
# Without GNU time: a fresh process that runs the command and writes its children's peak RSS (kB).
RUSAGE_WRAPPER = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[2:]); "
                  "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
                  "sys.exit(rc)")
SAMPLE_EVERY = 0.1  # seconds between two looks at the process tree's memory


WITH_RECORD = "sre.runbooks.incident_record,bench_timer"  # the repository's callbacks, plus the bench's timer
WITHOUT_RECORD = "bench_timer"  # incident_record disabled (ansible-core 2.19 rejects an empty list: see README)


def ansible_env(lab_root: Path, incident_dir: Path, callbacks: str = WITH_RECORD) -> dict:
    """The environment of one run: the repository's ansible.cfg, the bench's lab and incident directory.

    `callbacks` replaces the configured callback list; bench_timer (bench/callback_plugins) is always in it.
    """
    env = dict(os.environ)
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               SRE_LAB_DIR=str(lab_root), SRE_INCIDENT_DIR=str(incident_dir), PATH=f"{BIN}:{env.get('PATH', '')}",
               ANSIBLE_CALLBACK_PLUGINS=str(BENCH / "callback_plugins"), ANSIBLE_CALLBACKS_ENABLED=callbacks)
    return env


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(p) for p in handle.read().split()]
    except OSError:
        return []


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(_children(current))
    return out


def _kb(path: str, field: str) -> int:
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith(field):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _is_module(pid: int) -> bool:
    """A module process: AnsiballZ_<module>.py run from a file, or, pipelined (ansible.cfg), a bare Python
    reading the module from its stdin (the controller and its workers run python with ansible-playbook)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            cmdline = handle.read()
    except OSError:
        return False
    argv = [arg for arg in cmdline.split(b"\0") if arg]
    return b"AnsiballZ_" in cmdline or (len(argv) == 1 and os.path.basename(argv[0]).startswith(b"python"))


class MemorySampler(threading.Thread):
    """Peak memory of a process tree, looked at every SAMPLE_EVERY seconds.

    tree_pss_kb: the most the whole tree held at once (proportional set size, so pages that forked
    workers share are counted once); controller_pss_kb: the same without module processes (ansible-playbook
    and its workers); module_hwm_kb: the peak RSS (VmHWM) of the biggest module process. Async modules
    detach from the tree (async_wrapper daemonises), so only synchronous tasks' modules are seen.
    """

    def __init__(self, root_pid: int):
        super().__init__(daemon=True)
        self.root_pid = root_pid
        self.tree_pss_kb = 0
        self.controller_pss_kb = 0
        self.module_hwm_kb = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            total = controller = 0
            for pid in _tree(self.root_pid):
                pss = _kb(f"/proc/{pid}/smaps_rollup", "Pss:")
                total += pss
                if _is_module(pid):
                    self.module_hwm_kb = max(self.module_hwm_kb, _kb(f"/proc/{pid}/status", "VmHWM:"))
                else:
                    controller += pss
            self.tree_pss_kb = max(self.tree_pss_kb, total)
            self.controller_pss_kb = max(self.controller_pss_kb, controller)
            self.halt.wait(SAMPLE_EVERY)


def run_ansible(argv: list[str], env: dict, log: Path, timeout: float = 600) -> dict:
    """Run one ansible command line from the repository root; what it cost.

    wall_s: wall time seen from here; rc; tasks: the bench_timer's task list (when enabled);
    max_rss_kb: the peak RSS of the biggest single process of the run (GNU time's %M, else
    getrusage(RUSAGE_CHILDREN) of a fresh wrapper process); tree_pss_kb / module_hwm_kb: MemorySampler's.
    """
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        timer_out, rss_out = Path(tmp) / "tasks.json", Path(tmp) / "rss"
        env = dict(env, BENCH_TIMER_OUT=str(timer_out))
        if shutil.which(GNU_TIME) or os.path.exists(GNU_TIME):
            cmd = [GNU_TIME, "-f", "%M", "-o", str(rss_out)] + argv
        else:
            cmd = [sys.executable, "-c", RUSAGE_WRAPPER, str(rss_out)] + argv
        with open(log, "a") as out:
            out.write(f"\n$ {' '.join(argv)}\n")
            out.flush()
            start = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
            sampler = MemorySampler(proc.pid)
            sampler.start()
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
            wall = time.perf_counter() - start
            sampler.halt.set()
            sampler.join()
            out.write(f"[bench] rc={rc} wall={wall:.3f}s\n")
        tasks = json.loads(timer_out.read_text()) if timer_out.exists() else []
        try:
            max_rss = int(rss_out.read_text().split()[-1])
        except (OSError, ValueError, IndexError):
            max_rss = None
    return {"wall_s": round(wall, 3), "rc": rc, "tasks": tasks, "max_rss_kb": max_rss,
            "tree_pss_kb": sampler.tree_pss_kb or None, "controller_pss_kb": sampler.controller_pss_kb or None,
            "module_hwm_kb": sampler.module_hwm_kb or None}


def task_seconds(run: dict, action_suffix: str) -> float | None:
    """The time of the (last) task whose action ends with `action_suffix` in one run."""
    found = [t["seconds"] for t in run["tasks"] if t["action"].endswith(action_suffix) and t["seconds"] is not None]
    return found[-1] if found else None


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def playbook(path: Path, *extra: str) -> list[str]:
    return [str(BIN / "ansible-playbook"), str(path), *extra]
