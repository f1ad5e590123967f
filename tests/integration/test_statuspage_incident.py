"""sre.runbooks.statuspage_incident against the lab's recording Statuspage stand-in: the page's state after each run."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.parse
import urllib.request
import uuid

import pytest
from conftest import BIN, REPO, assert_secret_only_in_authorization, run_module

from lab import notify_server


@pytest.fixture
def page(notify, lab):
    """Every component operational after the test; a fresh incident name per test (the notify fixture keeps the
    stand-in healthy)."""
    mark = len(notify_server.requests(lab))
    name = f"INC-{uuid.uuid4().hex[:8]} System outage"

    def sent(writes_only=False):
        """The Statuspage requests recorded since the test began (only POST/PATCH/PUT with writes_only)."""
        found = [r for r in notify_server.requests(lab, mark) if r["service"] == "statuspage"]
        return [r for r in found if r["method"] != "GET"] if writes_only else found

    def run(args, check=False, diff=False):
        base = {"api_key": notify["statuspage_api_key"], "api_url": notify["statuspage_api_url"],
                "page_id": notify["statuspage_page_id"], "name": name}
        return run_module("statuspage_incident", dict(base, **args), lab.root, check=check, diff=diff)

    yield {"info": notify, "sent": sent, "run": run, "name": name}
    notify_server.heal(lab)
    assert_secret_only_in_authorization(notify_server.requests(lab, mark), notify["statuspage_api_key"])
    open_ids = [i["id"] for i in incidents(lab, name) if i["status"] != "resolved"]
    if open_ids:  # leave the page's components operational for the next test
        run({"incident_id": open_ids[0], "state": "resolved"})


def incidents(lab, name: str) -> list[dict]:
    return [i for i in notify_server.state(lab)["statuspage"]["incidents"] if i["name"] == name]


def component_statuses(lab) -> dict:
    return {c["name"]: c["status"] for c in notify_server.state(lab)["statuspage"]["components"]}


def test_create_update_resolve_one_incident_and_its_components(page, lab):
    opened = page["run"]({"state": "investigating", "impact": "critical",
                          "components": {"API": "major_outage", "web APP": "major_outage"}})
    assert not opened["failed"] and opened["changed"] and opened["notification"]["action"] == "create"
    incident_id = opened["incident"]["id"]
    assert opened["incident"] == {"id": incident_id, "name": page["name"], "status": "investigating",
                                  "impact": "critical", "shortlink": opened["incident"]["shortlink"],
                                  "components": {"API": "major_outage", "Web app": "major_outage"}}
    assert opened["notification"] == {
        "service": "statuspage", "action": "create", "delivered": True, "attempts": 3, "ref": incident_id,
        "summary": "investigating: We are investigating reports of service unavailability."}
    (create,) = page["sent"](writes_only=True)
    components = page["info"]["components"]
    assert create["method"] == "POST" and create["path"] == f"/v1/pages/{page['info']['statuspage_page_id']}/incidents"
    assert create["body"]["incident"] == {
        "name": page["name"], "status": "investigating", "impact_override": "critical",
        "body": "We are investigating reports of service unavailability.", "deliver_notifications": True,
        "components": {components["API"]: "major_outage", components["Web app"]: "major_outage"},
        "component_ids": [components["API"], components["Web app"]]}
    assert component_statuses(lab)["API"] == "major_outage"

    identified = page["run"]({"state": "identified", "body": "The backend rollout is being rolled back.",
                              "components": {"API": "partial_outage"}})
    assert identified["changed"] and identified["notification"]["action"] == "update"
    assert identified["incident"]["id"] == incident_id
    assert identified["incident"]["components"] == {"API": "partial_outage", "Web app": "major_outage"}
    assert component_statuses(lab)["API"] == "partial_outage"

    resolved = page["run"]({"state": "resolved"})
    assert resolved["changed"] and resolved["notification"]["action"] == "resolve"
    assert resolved["incident"]["components"] == {"API": "operational", "Web app": "operational"}
    writes = page["sent"](writes_only=True)
    assert [(r["method"], r["body"]["incident"].get("status")) for r in writes] == [
        ("POST", "investigating"), ("PATCH", "identified"), ("PATCH", "resolved")]
    assert writes[2]["path"].endswith(f"/incidents/{incident_id}")
    assert writes[2]["body"]["incident"]["components"] == {components["API"]: "operational",
                                                           components["Web app"]: "operational"}
    (held,) = incidents(lab, page["name"])  # one incident, resolved, with one update per status
    assert held["status"] == "resolved" and held["resolved_at"]
    assert [u["status"] for u in held["incident_updates"]] == ["resolved", "identified", "investigating"]
    assert held["incident_updates"][1]["body"] == "The backend rollout is being rolled back."
    assert set(component_statuses(lab).values()) == {"operational"}


def test_a_rerun_changes_nothing_and_never_duplicates(page, lab):
    args = {"state": "investigating", "impact": "major", "components": {"Detections": "degraded_performance"}}
    first = page["run"](args)
    again = page["run"](args)
    assert not again["changed"] and again["notification"]["action"] == "unchanged"
    assert again["notification"]["delivered"] and again["incident"]["id"] == first["incident"]["id"]
    assert "nothing sent" in again["msg"]
    assert len(page["sent"](writes_only=True)) == 1 and len(incidents(lab, page["name"])) == 1
    page["run"]({"state": "resolved"})
    resolved_again = page["run"]({"state": "resolved"})
    assert not resolved_again["changed"] and resolved_again["notification"]["action"] == "unchanged"
    reopened = page["run"]({"state": "identified"})  # the same incident again: reopened, not duplicated
    assert reopened["notification"]["action"] == "update" and reopened["incident"]["id"] == first["incident"]["id"]
    assert len(incidents(lab, page["name"])) == 1
    assert [r["method"] for r in page["sent"](writes_only=True)] == ["POST", "PATCH", "PATCH"]


def test_an_incident_is_updated_by_its_id(page, lab):
    first = page["run"]({"state": "investigating"})
    by_id = page["run"]({"incident_id": first["incident"]["id"], "state": "monitoring", "name": None})
    assert by_id["changed"] and by_id["incident"]["status"] == "monitoring"
    assert incidents(lab, page["name"])[0]["monitoring_at"]


def test_check_mode_changes_nothing_and_shows_the_diff(page, lab):
    planned = page["run"]({"state": "investigating", "components": {"API": "major_outage"}}, check=True, diff=True)
    assert not planned["failed"] and planned["changed"] and planned["check_mode"]
    assert planned["msg"].startswith("Would create Statuspage incident")
    assert planned["notification"]["action"] == "create" and planned["notification"]["delivered"] is False
    assert '+    "status": "investigating"' in planned["_stdout"]
    page["run"]({"state": "investigating"})
    mark = len(page["sent"](writes_only=True))
    planned = page["run"]({"state": "resolved"}, check=True, diff=True)
    assert planned["changed"] and planned["before"]["status"] == "investigating"
    assert planned["after"]["status"] == "resolved" and '-    "status": "investigating"' in planned["_stdout"]
    assert len(page["sent"](writes_only=True)) == mark and incidents(lab, page["name"])[0]["status"] == "investigating"
    assert component_statuses(lab)["API"] == "operational"


def test_statuspage_down_is_not_delivered_and_the_task_does_not_fail(page, lab):
    notify_server.break_notify_down(lab)
    result = page["run"]({"state": "investigating", "retries": 1})
    assert not result["failed"] and not result["changed"]
    assert result["notification"]["delivered"] is False and result["notification"]["action"] == "create"
    assert result["notification"]["error"] == "Statuspage answered HTTP 503 after 2 attempts"
    assert "Traceback" not in result["_stdout"]
    assert [r["status"] for r in page["sent"]()] == [503, 503]
    notify_server.heal_notify_down(lab)
    assert incidents(lab, page["name"]) == []


def test_a_rate_limit_is_waited_out(page, lab):
    notify_server.control(lab, "statuspage", rate_limit=1, retry_after=1)
    result = page["run"]({"state": "investigating"})
    assert result["notification"]["delivered"] and result["notification"]["attempts"] == 3
    assert [r["status"] for r in page["sent"]()] == [429, 200, 201]
    assert len(incidents(lab, page["name"])) == 1


def test_a_refused_key_is_reported_and_never_printed(page, lab):
    key = page["info"]["statuspage_api_key"]
    notify_server.control(lab, "statuspage", reject_token=True)
    result = page["run"]({"state": "investigating"})
    assert not result["failed"] and result["notification"]["delivered"] is False
    assert result["notification"]["error"] == "Statuspage refused the API key (HTTP 401, Could not authenticate)"
    assert key not in json.dumps({k: v for k, v in result.items() if k != "_stdout"}) and key not in result["_stdout"]


def test_the_runbooks_form_encoded_curl_is_received_as_statuspage_does(page, lab):
    """system-down-ec2-rds.md posts -d "incident[name]=System Outage" -d "incident[status]=investigating"."""
    info = page["info"]
    form = urllib.parse.urlencode({"incident[name]": page["name"], "incident[status]": "investigating",
                                   f"incident[components][{info['components']['Search']}]": "partial_outage",
                                   "incident[component_ids][]": info["components"]["Search"]}).encode()
    request = urllib.request.Request(f"{info['statuspage_api_url']}/pages/{info['statuspage_page_id']}/incidents",
                                     data=form, method="POST", headers={
                                         "Authorization": f"OAuth {info['statuspage_api_key']}",
                                         "Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 201
        created = json.loads(resp.read())
    assert (created["status"], created["impact"]) == ("investigating", "major")
    assert [(c["name"], c["status"]) for c in created["components"]] == [("Search", "partial_outage")]
    (recorded,) = page["sent"]()
    assert recorded["body"] == {"incident": {"name": page["name"], "status": "investigating",
                                             "components": {info["components"]["Search"]: "partial_outage"},
                                             "component_ids": [info["components"]["Search"]]}}
    resolved = page["run"]({"state": "resolved"})  # the module takes over the incident a person opened
    assert resolved["incident"]["id"] == created["id"] and resolved["incident"]["components"] == {
        "Search": "operational"}


@pytest.mark.parametrize(("args", "option"), [
    ({"state": "on-fire"}, "state"),
    ({"impact": "apocalyptic"}, "impact"),
    ({"components": {"API": "melted"}}, "components"),
    ({"components": {"Billing": "major_outage"}}, "components"),
    ({"page_id": " "}, "page_id"),
    ({"name": None}, "name"),
])
def test_bad_input_fails_naming_the_option_and_changes_nothing(page, args, option):
    result = page["run"](args)
    assert result["failed"] and option in result["msg"] and "Traceback" not in result["_stdout"]
    assert page["sent"](writes_only=True) == []


def test_ansible_doc_renders_statuspage_incident():
    done = subprocess.run([str(BIN / "ansible-doc"), "sre.runbooks.statuspage_incident"], cwd=REPO,
                          capture_output=True, text=True, check=False,
                          env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg")))
    assert done.returncode == 0, done.stderr
    assert "incident_id" in done.stdout and "components" in done.stdout and "notification" in done.stdout
