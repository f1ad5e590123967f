#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: alertmanager_alerts_info
short_description: List the alerts firing in Alertmanager; "all clear" as a verification step
version_added: 1.0.0
description:
  - The runbook's Monitoring Recovery step (check all monitoring alerts are cleared), from Alertmanager's
    API v2 (C(GET /api/v2/alerts)).
  - Lists the alerts that are firing, optionally only those matching label matchers (C(alertname=QdrantDown),
    C(severity=~"critical|page")). Silenced and inhibited alerts are left out unless O(include_silenced=true);
    they never count as firing.
  - Status C(ok) means all clear, no matching alert firing. Alertmanager not answering is a finding
    (status C(unknown)), not a failure of the task.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.monitoring
  - sre.runbooks.attributes
  - sre.runbooks.attributes.INFO_MODULE
options:
  matchers:
    description:
      - Only alerts whose labels match all of these, each C(label=value), C(label!=value), C(label=~regex) or
        C(label!~regex); the value may be double-quoted.
      - Without matchers, every alert.
    type: list
    elements: str
    default: []
  include_silenced:
    description: Also list the alerts a silence or an inhibition suppresses (state C(suppressed)).
    type: bool
    default: false
notes:
  - Runs on the controller or any host; uses only the Python standard library.
"""

EXAMPLES = r"""
- name: Check all monitoring alerts are cleared (Verification Steps, Monitoring Recovery)
  sre.runbooks.alertmanager_alerts_info:
    url: http://alertmanager:9093
  register: alerts

- name: Is Qdrant still alerting? (P0-2)
  sre.runbooks.alertmanager_alerts_info:
    url: http://alertmanager:9093
    matchers: [alertname=~"Qdrant.*", 'severity="critical"']
    include_silenced: true
"""

RETURN = r"""
status:
  description: C(ok) when no matching alert is firing (all clear); C(degraded) when some are; C(unknown) when
    Alertmanager does not answer.
  returned: always
  type: str
  sample: ok
findings:
  description:
    - Id C(alertmanager.firing) naming the firing alerts (critical when one has C(severity=critical) or
      C(severity=page), else warning; evidence C(count), C(alerts) with name, severity, summary, startsAt, labels).
    - C(alertmanager.unreachable) when Alertmanager does not answer, answers 5xx or refuses the credentials (warning).
  returned: always
  type: list
  elements: dict
  sample:
    - id: alertmanager.firing
      severity: critical
      summary: "2 alerts firing: HighErrorRate5xx, QdrantDown"
      evidence: {count: 2, alerts: [{name: HighErrorRate5xx, severity: critical, startsAt: "2024-06-11T10:00:02Z"}]}
alerts:
  description: The matching alerts, firing first, then by start time; C(state) is C(firing) or C(suppressed).
  returned: always
  type: list
  elements: dict
  sample:
    - name: QdrantDown
      state: firing
      labels: {alertname: QdrantDown, job: qdrant, severity: critical}
      annotations: {summary: "Qdrant does not answer its metrics scrape (qdrant:6333)"}
      startsAt: "2024-06-11T10:00:02.123Z"
      endsAt: "2024-06-11T10:04:02.123Z"
      fingerprint: 5a6e2b14b1e4c0d7
      silencedBy: []
      inhibitedBy: []
firing:
  description: How many matching alerts are firing (suppressed ones not counted).
  returned: always
  type: int
  sample: 0
summary:
  description: One sentence for a person, for example C(All clear - no alert firing).
  returned: always
  type: str
  sample: All clear - no alert firing
alertmanager_url:
  description: The Alertmanager asked (credentials removed).
  returned: always
  type: str
  sample: http://alertmanager:9093
"""

from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.findings import check_result, finding
from ansible_collections.sre.runbooks.plugins.module_utils.prometheus import (
    CONNECTION_SPEC_OPTIONS,
    Alertmanager,
    MonitoringApiError,
    MonitoringUnreachable,
    connection_argument_spec,
    parse_matchers,
)

PAGING = ("critical", "page")


def argument_spec():
    return dict(connection_argument_spec(),
                matchers={"type": "list", "elements": "str", "default": []},
                include_silenced={"type": "bool", "default": False})


def shape(alert):
    status = alert.get("status") or {}
    labels = alert.get("labels") or {}
    state = "suppressed" if status.get("state") == "suppressed" else "firing"
    return {"name": labels.get("alertname", "?"), "state": state,
            "labels": labels, "annotations": alert.get("annotations") or {}, "startsAt": alert.get("startsAt"),
            "endsAt": alert.get("endsAt"), "fingerprint": alert.get("fingerprint"),
            "silencedBy": status.get("silencedBy") or [], "inhibitedBy": status.get("inhibitedBy") or []}


def firing_finding(firing):
    names = []
    for alert in firing:
        names += [alert["name"]] if alert["name"] not in names else []
    counted = [f"{n} ({c})" if c > 1 else n for n in names for c in [sum(a["name"] == n for a in firing)]]
    severity = "critical" if any(a["labels"].get("severity") in PAGING for a in firing) else "warning"
    alerts = [{"name": a["name"], "severity": a["labels"].get("severity"), "startsAt": a["startsAt"],
               "summary": a["annotations"].get("summary"), "labels": a["labels"]} for a in firing[:20]]
    noun = "alert" if len(firing) == 1 else "alerts"
    return finding("alertmanager.firing", severity, f"{len(firing)} {noun} firing: {', '.join(counted)}",
                   {"count": len(firing), "alerts": alerts})


def run(params):
    matchers = parse_matchers(params["matchers"])
    client = Alertmanager(params)
    try:
        raw = client.alerts(matchers, params["include_silenced"], params["include_silenced"])
    except MonitoringUnreachable as exc:
        problem = finding("alertmanager.unreachable", "warning", f"{exc.msg}: alerts could not be checked",
                          {"url": client.where, "error": exc.msg})
        return check_result([problem], status="unknown", alerts=[], firing=0, summary=f"Unknown - {exc.msg}",
                            alertmanager_url=client.where)
    except MonitoringApiError as exc:
        raise RunbookError(f"Alertmanager refused the matchers: {exc.msg}", option="matchers") from None
    alerts = sorted((shape(a) for a in raw), key=lambda a: (a["state"] != "firing", a["startsAt"] or "", a["name"]))
    firing = [a for a in alerts if a["state"] == "firing"]
    found = [firing_finding(firing)] if firing else []
    summary = found[0]["summary"] if found else "All clear - no alert firing" + (
        f" ({len(alerts)} suppressed)" if alerts else "")
    return check_result(found, alerts=alerts, firing=len(firing), summary=summary, alertmanager_url=client.where)


def main():
    module = RunbookModule(argument_spec=argument_spec(), supports_check_mode=True, **CONNECTION_SPEC_OPTIONS)
    module.run_check(run)


if __name__ == "__main__":
    main()
