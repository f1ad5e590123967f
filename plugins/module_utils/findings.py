# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one findings model every check returns.

A check returns ``status`` (ok | degraded | down | unknown) and ``findings``:
a list of ``{id, severity, summary, evidence}``. Ids are ``area.what``
(``redis.primary_unreachable``), stable and documented in each module's RETURN,
so that diagnosis rules can match them.
"""

SEVERITIES = ("info", "warning", "critical")
STATUSES = ("ok", "degraded", "down", "unknown")


def finding(finding_id, severity, summary, evidence=None):
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    return {"id": finding_id, "severity": severity, "summary": summary, "evidence": evidence or {}}


def worst_status(*statuses):
    """The worst of several statuses (down > degraded > unknown > ok)."""
    order = {"ok": 0, "unknown": 1, "degraded": 2, "down": 3}
    return max(statuses or ("ok",), key=lambda s: order[s])


def status_from(findings, down_ids=()):
    """ok without findings; down when a finding id is in down_ids; else degraded
    when any warning or critical finding is present."""
    if any(f["id"] in down_ids for f in findings):
        return "down"
    if any(f["severity"] in ("warning", "critical") for f in findings):
        return "degraded"
    return "ok"


def check_result(findings, down_ids=(), status=None, **data):
    """What a read-only check returns: status (derived from findings unless given), findings, its data."""
    return dict(status=status or status_from(findings, down_ids), findings=findings, **data)
