# The bench's task timer: how long each task took, as the controller saw it.
"""Write the duration of every task of a run to the JSON file named by BENCH_TIMER_OUT."""

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: bench_timer
type: aggregate
short_description: Time every task of a run (for python -m bench)
description:
  - From the start of a task (v2_playbook_on_task_start) to its last result on any host, so a task's time
    includes templating, building and starting the module, and reading its result.
  - Writes a JSON list of {name, action, seconds, failed, status, summary, items} (the last three when the
    result has them) to the file named by BENCH_TIMER_OUT at the end of the run.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display=display)
        self.tasks = []

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.tasks.append({"name": task.get_name(), "action": task.action, "start": time.monotonic(), "end": None})

    def _done(self, result, *args, **kwargs):
        if not self.tasks:
            return
        task, res = self.tasks[-1], result._result
        task["end"] = time.monotonic()
        task["failed"] = bool(res.get("failed")) or bool(res.get("unreachable"))
        for key in ("status", "summary"):
            if key in res:
                task[key] = res[key]
        if isinstance(res.get("results"), list):
            task["items"] = len(res["results"])

    v2_runner_on_ok = v2_runner_on_failed = v2_runner_on_skipped = v2_runner_on_unreachable = _done

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("BENCH_TIMER_OUT")
        if not path:
            return
        out = []
        for task in self.tasks:
            start, end = task.pop("start"), task.pop("end")
            out.append(dict(task, seconds=round(end - start, 4) if end else None))
        with open(path, "w") as handle:
            json.dump(out, handle)
