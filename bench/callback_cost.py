"""ansible-playbook with the time spent in one callback plugin measured.

    python -m bench.callback_cost OUT.json ansible-playbook-arguments...

Runs the ansible-playbook CLI in this process, with TaskQueueManager.send_callback wrapped so that every
dispatch to the plugin named CALLBACK (sre.runbooks.incident_record) is timed on its own: its methods plus
the copy of each task result Ansible makes for it. Writes {callback, seconds, calls, wall_s} to OUT.json
at exit. Dispatches are serialised by a lock (Ansible calls send_callback from its main thread and from its
results thread), which costs nothing measurable at the rate callbacks come.
"""

from __future__ import annotations

import atexit
import json
import sys
import threading
import time

STARTED = time.perf_counter()
CALLBACK = "sre.runbooks.incident_record"


def instrument(out_path: str) -> None:
    from ansible.executor.task_queue_manager import TaskQueueManager

    spent = {"callback": CALLBACK, "seconds": 0.0, "calls": 0, "loaded": False}
    lock = threading.Lock()
    original = TaskQueueManager.send_callback

    def send_callback(self, method_name, *args, **kwargs):
        with lock:
            plugins = self._callback_plugins
            target = [p for p in plugins if CALLBACK in (getattr(p, "_redirected_names", None) or [])
                      or getattr(p, "CALLBACK_NAME", None) == CALLBACK]
            if not target:
                return original(self, method_name, *args, **kwargs)
            spent["loaded"] = True
            try:
                self._callback_plugins = [p for p in plugins if p not in target]
                original(self, method_name, *args, **kwargs)
                self._callback_plugins = target
                start = time.perf_counter()
                try:
                    original(self, method_name, *args, **kwargs)
                finally:
                    spent["seconds"] += time.perf_counter() - start
                    spent["calls"] += 1
            finally:
                self._callback_plugins = plugins

    def write() -> None:
        spent["wall_s"] = round(time.perf_counter() - STARTED, 4)
        spent["seconds"] = round(spent["seconds"], 4)
        with open(out_path, "w") as handle:
            json.dump(spent, handle)

    TaskQueueManager.send_callback = send_callback
    atexit.register(write)


def main() -> None:
    out_path, args = sys.argv[1], sys.argv[2:]
    instrument(out_path)
    from ansible.cli.playbook import main as playbook_main

    sys.argv = ["ansible-playbook", *args]
    playbook_main()


if __name__ == "__main__":
    main()
