#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: statuspage_incident
short_description: Open, update and resolve the incident on the Statuspage status page, once per incident
version_added: 1.1.0
description:
  - The runbooks' Update Status Page steps (C(POST /v1/pages/PAGE_ID/incidents) when the incident is declared,
    C(PATCH .../incidents/INCIDENT_ID) as it goes, C(incident[status]=resolved) at the end), with the Statuspage
    REST API.
  - Idempotent by incident. It finds the incident by O(incident_id), or by O(name) (put the incident id in the
    name) among the page's incidents, the unresolved one first, and updates it; it creates one only when none
    has this name. A re-run with the same status, text and components sends nothing (C(changed=false),
    C(notification.action=unchanged)); it never creates a duplicate. An incident with this name that was
    resolved is reopened, not duplicated.
  - O(components) sets the status of those components on the page and lists them on the incident.
    O(state=resolved) sets every component of the incident (and of O(components)) back to operational.
  - Retries with backoff (and waits what Statuspage's C(Retry-After) asks). When Statuspage is down, rate-limits
    past the retries or refuses the key, the task still succeeds with C(notification.delivered=false) and
    C(notification.error), so the incident run goes on. It fails only for bad arguments (an unknown component
    name among them).
  - The API key is sent only in the C(Authorization) header and never appears in the result.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.attributes
attributes:
  check_mode:
    support: full
    details: Reads the page and says what it would create or change, with a diff; changes nothing.
  diff_mode:
    support: full
    details: The incident's status, impact, latest text and components before and after.
  idempotent:
    support: full
    details: An incident already in the wanted state is left alone, C(changed=false).
options:
  api_key:
    description:
      - Statuspage API key (sent as C(Authorization) OAuth). Taken from the environment variable
        C(STATUSPAGE_API_KEY) when not given. Never printed.
    type: str
    required: true
  api_url:
    description: Base URL of the Statuspage REST API, up to and including the version.
    type: str
    default: https://api.statuspage.io/v1
  page_id:
    description: Id of the status page.
    type: str
    required: true
  name:
    description:
      - Name of the incident as the page shows it; include the incident id (for example
        C(INC-20240601-1002 System outage)) so that each incident has its own.
      - Required to create an incident. With O(incident_id), a different name renames the incident.
    type: str
  incident_id:
    description: Statuspage id of the incident to update. Without it the incident is found by O(name).
    type: str
  state:
    description:
      - Status of the incident. C(investigating) when declared, C(identified) once the cause is known,
        C(monitoring) after the fix, C(resolved) at the end.
    type: str
    default: investigating
    choices: [investigating, identified, monitoring, resolved]
  impact:
    description: Impact shown on the page (C(impact_override)). Without it the page derives it from the components.
    type: str
    choices: [none, minor, major, critical]
  body:
    description:
      - Text of this update. Without it, the runbook's sentence for O(state) is used when the status changes (for
        example C(We are investigating reports of service unavailability.)), and no text is posted otherwise.
    type: str
  components:
    description:
      - Component name or id to its status, for example C({API = major_outage}). Names are matched case-insensitively.
      - With O(state=resolved) every component listed is set to operational whatever status is given.
    type: dict
  retries:
    description: Retries after the first attempt when Statuspage does not answer, answers 5xx or rate-limits (0 to 10).
    type: int
    default: 3
  timeout:
    description: Seconds before one attempt counts as unanswered. The whole task takes at most O(timeout) times
      (O(retries) + 1) per request, plus 60 s of waiting between attempts.
    type: float
    default: 10.0
  validate_certs:
    description: Verify Statuspage's TLS certificate.
    type: bool
    default: true
notes:
  - Uses only the Python standard library; runs on the controller or any host that reaches Statuspage.
  - Statuspage allows about one request a second per key; the module makes two to four per run.
seealso:
  - module: sre.runbooks.slack_notify
"""

EXAMPLES = r"""
- name: Update the status page, investigating (Acknowledge and Communicate)
  sre.runbooks.statuspage_incident:
    page_id: "{{ statuspage_page_id }}"
    name: "{{ incident.id }} System outage"
    state: investigating
    impact: critical
    components:
      API: major_outage
      Web app: major_outage
  register: status_page

- name: Say the cause is known
  sre.runbooks.statuspage_incident:
    page_id: "{{ statuspage_page_id }}"
    name: "{{ incident.id }} System outage"
    state: identified
    body: "The database failed over; we are moving traffic to the new writer."

- name: Resolve the incident, every component operational (Post-Incident Actions)
  sre.runbooks.statuspage_incident:
    page_id: "{{ statuspage_page_id }}"
    name: "{{ incident.id }} System outage"
    state: resolved
    body: "System fully restored at {{ now(utc=true, fmt='%H:%M UTC') }}."
"""

RETURN = r"""
msg:
  description: What was done (or would be, in check mode), or why it was not delivered.
  returned: always
  type: str
  sample: "Created Statuspage incident INC-1 System outage (investigating, impact critical) https://stspg.io/abc1234."
incident:
  description:
    - The incident as Statuspage has it (or would, in check mode), C(id), C(name), C(status), C(impact),
      C(shortlink) and C(components) (name to status). C(id) is null when it was not created.
  returned: always
  type: dict
  sample: {id: p31zjtct2jer, name: INC-1 System outage, status: investigating, impact: critical,
           shortlink: "https://stspg.io/abc1234", components: {API: major_outage}}
notification:
  description:
    - C(service) statuspage; C(action) create, update, resolve or unchanged (the action it tried when not
      delivered); C(delivered); C(attempts) (HTTP requests made, retries included); C(summary) (the status set and
      its text); C(ref) (the Statuspage incident id); C(error) (only when not delivered).
  returned: always
  type: dict
  sample: {service: statuspage, action: create, delivered: true, attempts: 3, ref: p31zjtct2jer,
           summary: "investigating: We are investigating reports of service unavailability."}
actions:
  description: What was done (or would be done in check mode), one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["Set incident INC-1 System outage to identified", "Set component API to partial_outage"]
before:
  description: C(status), C(impact), C(body) (latest text) and C(components) of the incident before; empty when none.
  returned: always
  type: dict
  sample: {status: investigating, impact: critical, body: "We are investigating ...", components: {API: major_outage}}
after:
  description: The same, after (as Statuspage answered; in check mode, as it would be).
  returned: always
  type: dict
  sample: {status: resolved, impact: critical, body: "This incident has been resolved ...",
           components: {API: operational}}
check_mode:
  description: True when this was a dry run.
  returned: always
  type: bool
  sample: false
"""

from urllib.parse import quote, urlencode

from ansible.module_utils.basic import env_fallback

from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.notify import (
    CONNECTION_BOUNDS,
    STATUSPAGE_BODIES,
    check_connection,
    connection_argument_spec,
    notification,
    statuspage,
)

COMPONENT_STATUSES = ("operational", "degraded_performance", "partial_outage", "major_outage")


class Undelivered(Exception):
    """Statuspage did not answer or refused; the module reports it, the task does not fail."""


class Client:
    """The module's Statuspage calls, counting the HTTP requests made."""

    def __init__(self, params):
        self.params = params
        self.page = f"/pages/{quote(params['page_id'], safe='')}"
        self.attempts = 0

    def __call__(self, method, path, payload=None):
        answer, error, attempts = statuspage(self.params, method, self.page + path, payload)
        self.attempts += attempts
        if error:
            raise Undelivered(error)
        return answer


def validate(params):
    for option in ("page_id", "name", "incident_id"):
        if params[option] is not None and not params[option].strip():
            raise RunbookError(f"{option} is empty.", option=option)
    check_connection(params, "api_key")
    for component, status in (params["components"] or {}).items():
        if status not in COMPONENT_STATUSES:
            raise RunbookError(f"components: the status of {component} must be one of {', '.join(COMPONENT_STATUSES)}, "
                               f"not {status!r}.", option="components")


def wanted_components(params, page_components):
    """{id: status} of option components, by id or name; RunbookError naming components for an unknown one."""
    by_name = {c["name"].lower(): c["id"] for c in page_components}
    ids = {c["id"] for c in page_components}
    wanted = {}
    for key, status in (params["components"] or {}).items():
        cid = key if key in ids else by_name.get(str(key).lower())
        if cid is None:
            known = ", ".join(c["name"] for c in page_components)
            raise RunbookError(f"components: page {params['page_id']} has no component {key!r} (it has {known}); "
                               "nothing was sent.", option="components")
        wanted[cid] = "operational" if params["state"] == "resolved" else status
    return wanted


def find(call, params):
    """The incident to update: by incident_id, else the unresolved one named name, else the newest so named."""
    if params["incident_id"]:
        return call("GET", f"/incidents/{quote(params['incident_id'], safe='')}")
    named = [i for i in call("GET", "/incidents?" + urlencode({"q": params["name"], "limit": 100}))
             if i.get("name") == params["name"]]
    named.sort(key=lambda i: (i.get("status") != "resolved", i.get("created_at") or ""), reverse=True)
    return named[0] if named else None


def view(incident, names):
    """status, impact, latest body and components {name: status} of an incident as Statuspage returns it."""
    if not incident:
        return {}
    updates = incident.get("incident_updates") or []
    components = incident.get("components") or []
    return {"status": incident.get("status"), "impact": incident.get("impact_override") or incident.get("impact"),
            "body": updates[0].get("body") if updates else None,
            "components": {names.get(c["id"], c.get("name")): c.get("status") for c in components}}


def changes(params, incident, page_status, wanted):
    """The PATCH body ({} when the incident is as wanted) and the sentences saying what it changes."""
    state, label = params["state"], incident["name"]
    patch, actions = {}, []
    if params["name"] and params["name"] != incident["name"]:
        patch["name"] = params["name"]
        actions.append(f"Rename incident {label} to {params['name']}")
    if incident["status"] != state:
        patch.update(status=state, body=params["body"] or STATUSPAGE_BODIES[state])
        actions.append(f"Set incident {label} to {state}")
    elif params["body"] and params["body"] != view(incident, {})["body"]:
        patch["body"] = params["body"]
        actions.append(f"Post an update to incident {label}")
    if params["impact"] and params["impact"] != (incident.get("impact_override") or incident.get("impact")):
        patch["impact_override"] = params["impact"]
        actions.append(f"Set the impact of incident {label} to {params['impact']}")
    if state == "resolved":
        wanted = dict(wanted, **{c["id"]: "operational" for c in incident.get("components") or []})
    current = dict(page_status, **{c["id"]: c["status"] for c in incident.get("components") or []})
    moving = {cid: status for cid, status in wanted.items() if current.get(cid) != status}
    listed = [c["id"] for c in incident.get("components") or []]
    if moving or set(wanted) - set(listed):
        patch.update(components=moving, component_ids=list(dict.fromkeys(listed + list(wanted))))
    return patch, actions, moving


def project(incident, patch, names):
    """The incident as it would be after the patch (check mode)."""
    after = dict(incident)
    after.update({k: v for k, v in patch.items() if k in ("name", "status", "impact_override")})
    if "body" in patch:
        after["incident_updates"] = [{"body": patch["body"]}]
    moving = patch.get("components") or {}
    ids = patch.get("component_ids") or [c["id"] for c in incident.get("components") or []]
    known = {c["id"]: c.get("status") for c in incident.get("components") or []}
    after["components"] = [{"id": cid, "name": names.get(cid), "status": moving.get(cid, known.get(cid))}
                           for cid in ids]
    return after


def summary_of(incident):
    """The incident's result entry: id, name, status, impact, shortlink, components {name: status}."""
    seen = view(incident, {})
    return {"id": incident.get("id"), "name": incident.get("name"), "status": incident.get("status"),
            "impact": seen.get("impact"), "shortlink": incident.get("shortlink"), "components": seen["components"]}


def apply(module, call):
    params = module.params
    page_components = call("GET", "/components") if params["components"] else []
    names = {c["id"]: c["name"] for c in page_components}
    wanted = wanted_components(params, page_components)
    page_status = {c["id"]: c["status"] for c in page_components}
    incident = find(call, params)
    result = {"before": view(incident, names), "actions": []}
    if incident is None and params["state"] == "resolved":
        result.update(after={}, incident={"id": None, "name": params["name"], "status": None, "impact": None,
                                          "shortlink": None, "components": {}},
                      msg=f"Page {params['page_id']} has no incident named {params['name']}; nothing to resolve.")
        return "unchanged", result
    if incident is None:
        if not params["name"]:
            raise RunbookError("name is required to create the incident.", option="name")
        body = params["body"] or STATUSPAGE_BODIES[params["state"]]
        payload = {"name": params["name"], "status": params["state"], "body": body, "deliver_notifications": True,
                   "components": wanted, "component_ids": list(wanted)}
        if params["impact"]:
            payload["impact_override"] = params["impact"]
        result["actions"] = [f"Create incident {params['name']} ({params['state']}"
                             + (f", impact {params['impact']})" if params["impact"] else ")")]
        result["actions"] += [f"Set component {names[cid]} to {status}" for cid, status in wanted.items()]
        created = (project({"id": None, "name": params["name"], "status": params["state"], "components": []},
                           payload, names) if module.check_mode else call("POST", "/incidents", {"incident": payload}))
        created.setdefault("impact_override", params["impact"])
        result.update(incident=summary_of(created), after=view(created, names))
        return "create", result
    patch, actions, moving = changes(params, incident, page_status, wanted)
    names.update({c["id"]: c["name"] for c in incident.get("components") or []})
    result["actions"] = actions + [f"Set component {names.get(cid, cid)} to {status}" for cid, status in moving.items()]
    if not patch:
        result.update(incident=summary_of(incident), after=result["before"],
                      msg=f"Statuspage incident {incident['name']} is already {incident['status']} with this text "
                          "and these components; nothing sent.")
        return "unchanged", result
    done = project(incident, patch, names) if module.check_mode else call(
        "PATCH", f"/incidents/{quote(incident['id'], safe='')}", {"incident": patch})
    result.update(incident=summary_of(done), after=view(done, names))
    return "resolve" if patch.get("status") == "resolved" else "update", result


def report(module, action, result, call):
    params = module.params
    after = result.get("after") or {}
    body = after.get("body") if after else None
    status = after.get("status") or params["state"]
    summary = f"{status}: {body}" if body else status
    ref = (result.get("incident") or {}).get("id") or ""
    delivered = not module.check_mode or action == "unchanged"
    result["notification"] = notification("statuspage", action, delivered, call.attempts, summary, ref)
    result["changed"] = action != "unchanged"
    if "msg" not in result:
        incident = result["incident"]
        done = {"create": "Created", "update": "Updated", "resolve": "Resolved"}
        verb = f"Would {action}" if module.check_mode else done[action]
        impact = f", impact {incident['impact']}" if incident.get("impact") else ""
        link = f" {incident['shortlink']}" if incident.get("shortlink") else ""
        result["msg"] = (f"{verb} Statuspage incident {incident['name']} ({incident['status']}{impact}){link}: "
                         + "; ".join(result["actions"]) + ".")
    return result


def run(module):
    params = module.params
    validate(params)
    call = Client(params)
    try:
        action, result = apply(module, call)
    except Undelivered as exc:
        tried = ("resolve" if params["state"] == "resolved" else "update" if params["incident_id"] else "create")
        return {"msg": f"{exc}; not delivered, the run goes on.", "changed": False, "actions": [], "before": {},
                "after": {}, "incident": {"id": params["incident_id"], "name": params["name"], "status": None,
                                          "impact": None, "shortlink": None, "components": {}},
                "notification": notification("statuspage", tried, False, call.attempts, params["state"],
                                             params["incident_id"], str(exc))}
    return report(module, action, result, call)


def main():
    module = RunbookModule(
        argument_spec={
            "api_key": {"type": "str", "required": True, "no_log": True,
                        "fallback": (env_fallback, ["STATUSPAGE_API_KEY"])},
            "api_url": {"type": "str", "default": "https://api.statuspage.io/v1"},
            "page_id": {"type": "str", "required": True},
            "name": {"type": "str"},
            "incident_id": {"type": "str"},
            "state": {"type": "str", "default": "investigating",
                      "choices": ["investigating", "identified", "monitoring", "resolved"]},
            "impact": {"type": "str", "choices": ["none", "minor", "major", "critical"]},
            "body": {"type": "str"},
            "components": {"type": "dict"},
        },
        shared=(connection_argument_spec,),
        bounds=CONNECTION_BOUNDS,
        required_one_of=[("name", "incident_id")],
        supports_check_mode=True,
    )
    module.run_change(run)


if __name__ == "__main__":
    main()
