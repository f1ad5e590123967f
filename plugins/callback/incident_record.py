# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: incident_record
type: aggregate
short_description: Write every incident run's timeline and report
version_added: 1.0.0
author: sre.runbooks contributors (!UNKNOWN)
description:
  - Writes C(<incident_dir>/<incident_id>/timeline.jsonl) (or the C(dir) of the C(incident) fact), one line per
    task result (time, phase, step, host, result, findings, actions, messages, figures), and at the end
    C(report.md), a post-mortem draft - summary, the alert, impact window, condensed timeline, findings,
    diagnosis with its evidence, actions with before/after, verification figures, escalation tiers reached,
    messages sent (undelivered ones said plainly), evidence, and the runbooks' post-mortem checklist with
    what the run did ticked.
  - The incident id comes from the C(incident) fact the C(sre.runbooks.declare) role sets; a run without it
    writes nothing.
  - The phase of a task is the role it belongs to (declare, triage, diagnose, remediate_*, verify).
  - Only known keys of a result are recorded (status, findings, actions, before/after, diagnosis, msg,
    notification, escalation, probe, probes, journeys, queries, targets, alerts, firing, manifest,
    evidence_dir, alert), and the C(incident_escalation) fact as C(escalation); results of C(no_log) tasks are
    recorded as censored, and passwords, tokens and credentials in URLs are masked before anything is written
    (the patterns of the collection's module_utils C(redact), the same that mask evidence files).
requirements:
  - enable in ansible.cfg (C(callbacks_enabled = sre.runbooks.incident_record))
options:
  incident_dir:
    description: Directory under which each incident gets its own folder.
    type: path
    default: ./incidents
    env:
      - name: SRE_INCIDENT_DIR
    ini:
      - section: callback_incident_record
        key: incident_dir
"""

import json
import os
import re
import time
from datetime import UTC, datetime

from ansible import context
from ansible.plugins.callback import CallbackBase

from ansible_collections.sre.runbooks.plugins.module_utils.redact import redact
from ansible_collections.sre.runbooks.plugins.plugin_utils.report import render_report

# Result keys written to the timeline (and read by the report); anything else a module returns is left out.
RECORDED_KEYS = ("status", "findings", "actions", "before", "after", "summary", "scenarios", "steps", "run_steps",
                 "sessions", "protected", "unexplained", "endpoints", "primary", "promotion_candidate", "old_primary",
                 "not_repointed", "duration", "msg", "guard", "user_input",
                 # incident lifecycle: messages, escalation, verification figures, evidence, the alert
                 "notification", "escalation", "probe", "probes", "journeys", "queries", "targets", "alerts", "firing",
                 "manifest", "evidence_dir", "alert")
# What a builtin service module did, as the runbook writes it (these modules return no `actions`).
SERVICE_MODULES = ("ansible.builtin.systemd_service", "ansible.builtin.systemd", "ansible.builtin.service")
SERVICE_VERBS = {"restarted": "restart", "started": "start", "stopped": "stop", "reloaded": "reload"}
# Facts set with set_fact that the timeline records, under the key the report reads.
# Facts recorded like result keys: the escalation state, and triage's findings put together (a server that did
# not answer over SSH, a port dropped on the way: findings that no single check's result carries).
RECORDED_FACTS = {"incident_escalation": "escalation", "incident_findings": "findings"}


def phase_of(task):
    role = getattr(task, "_role", None)
    if role is None:
        return "run"
    name = role.get_name().split(".")[-1]
    return name


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "sre.runbooks.incident_record"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display=display)
        self.started = time.time()
        self.incident = None
        self.events = []
        self.folder = None
        self.playbook = None

    # plumbing -----------------------------------------------------------------
    def v2_playbook_on_start(self, playbook):
        self.playbook = os.path.basename(playbook._file_name)

    def _write(self, event):
        self.events.append(event)
        if self.folder:
            with open(os.path.join(self.folder, "timeline.jsonl"), "a") as handle:
                handle.write(json.dumps(event, sort_keys=True, default=str) + "\n")

    def _open(self, incident):
        self.incident = redact(dict(incident))
        # The declare role names the incident's folder (incident.json, slack.json, evidence/ live there too).
        self.folder = str(incident["dir"]) if incident.get("dir") else os.path.join(
            os.path.abspath(self.get_option("incident_dir")), re.sub(r"[^A-Za-z0-9_.-]", "_", str(incident["id"])))
        os.makedirs(self.folder, exist_ok=True)
        path = os.path.join(self.folder, "timeline.jsonl")
        with open(path, "a") as handle:
            handle.writelines(json.dumps(event, sort_keys=True, default=str) + "\n" for event in self.events)

    def _record(self, result, outcome, item=False):
        res = result._result
        facts = res.get("ansible_facts") or {}
        if self.incident is None and isinstance(facts.get("incident"), dict) and facts["incident"].get("id"):
            self._open(facts["incident"])
        now = time.time()
        event = {
            "ts": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
            "elapsed_s": round(now - self.started, 3),
            "phase": phase_of(result._task),
            "step": result._task.get_name() + (f" ({self._item_label(res)})" if item else ""),
            "action": result._task.action,
            # a step delegated to an application server is that server's
            "host": self._host_of(result),
            "delegated": self._host_of(result) != result._host.get_name(),
            "result": outcome,
            "changed": bool(res.get("changed")),
            # A remediation run in check mode for one step only (plan, or not approved) says so itself.
            "check_mode": bool(context.CLIARGS.get("check")) or res.get("check_mode") is True
            or getattr(result, "task_fields", {}).get("check_mode") is True,  # check_mode: set on the task
        }
        if res.get("_ansible_no_log") or res.get("censored"):
            event["censored"] = True
        else:
            for key in RECORDED_KEYS:
                if key in res:
                    event[key] = res[key]
            if not isinstance(event.get("status"), str):  # a check's status; systemd_service's is the unit's dump
                event.pop("status", None)
            if result._task.action in SERVICE_MODULES and res.get("changed") and res.get("name"):
                verb = SERVICE_VERBS.get(str(res.get("state")), str(res.get("state")))
                event["actions"] = [f"systemctl {verb} {res['name']}"]
            for fact, key in RECORDED_FACTS.items():
                if isinstance(facts.get(fact), (dict, list)) and key not in event:
                    event[key] = facts[fact]
            if isinstance(res.get("results"), list):
                # A loop: each item was recorded as its own event already.
                event["items"] = len(res["results"])
        self._write(redact(event))

    @staticmethod
    def _host_of(result):
        """The host a step acted on: the application server it was delegated to, else the play's host."""
        delegate = getattr(result._task, "delegate_to", None)
        if delegate and isinstance(delegate, str) and "{{" not in delegate:
            return delegate
        return result._host.get_name()

    @staticmethod
    def _item_label(res):
        label = res.get("_ansible_item_label", res.get("item"))
        if isinstance(label, dict):
            label = label.get("check") or label.get("name") or label.get("id") or "item"
        return str(label)[:80]

    def v2_runner_item_on_ok(self, result):
        self._record(result, "changed" if result._result.get("changed") else "ok", item=True)

    def v2_runner_item_on_failed(self, result):
        self._record(result, "failed", item=True)

    def v2_runner_on_ok(self, result):
        self._record(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_playbook_on_stats(self, stats):
        if not self.folder:
            return
        ended = time.time()
        meta = dict(self.incident or {}, playbook=self.playbook, folder=self.folder,
                    check_mode=bool(context.CLIARGS.get("check")), elapsed_s=round(ended - self.started, 1),
                    ended_at=datetime.fromtimestamp(ended, UTC).isoformat(timespec="seconds"))
        path = os.path.join(self.folder, "report.md")
        with open(path, "w") as handle:
            handle.write(redact(render_report(meta, self.events)))
        self._display.display(f"Incident record: {path}")
