"""alertmanager_silence against the lab's real Alertmanager: a silence for a planned remediation, created,
seen in Alertmanager's API, left alone on a second run, suppressing a firing alert, expired."""

from __future__ import annotations

import uuid

import pytest
from test_lab_monitoring import api, firing, poll

from lab.core import free_port, http


def silences(monitoring, comment):
    """Alertmanager's silences with this comment, as its API lists them."""
    return [s for s in api(monitoring["alertmanager_url"], "/api/v2/silences") if s["comment"] == comment]


def silence(ansible_module, monitoring, check=False, diff=False, **args):
    result = ansible_module("alertmanager_silence", dict({"url": monitoring["alertmanager_url"]}, **args),
                            check=check, diff=diff)
    assert result["failed"] is False, result.get("msg")
    return result


@pytest.fixture
def comment(monitoring):
    """A comment (the silence's identity) no other test uses; its silences are expired afterwards."""
    text = f"INC-{uuid.uuid4().hex[:8]} planned restart of qdrant"
    yield text
    for left in silences(monitoring, text):
        if left["status"]["state"] != "expired":
            http(f"{monitoring['alertmanager_url']}/api/v2/silence/{left['id']}", "DELETE")


MATCHERS = ['alertname=~"Qdrant.*"', "job=qdrant"]


def test_silence_is_created_seen_in_alertmanager_left_alone_then_expired(ansible_module, monitoring, comment):
    planned = silence(ansible_module, monitoring, check=True, diff=True, matchers=MATCHERS, comment=comment,
                      duration_minutes=30)
    assert planned["changed"] is True and planned["check_mode"] is True and planned["silence_id"] is None
    assert planned["actions"] == ['Create a silence of alertname=~"Qdrant.*", job="qdrant" for 30 minutes']
    assert planned["before"] == {"silences": []} and len(planned["after"]["silences"]) == 1
    assert '-    "silences": []' in planned["_stdout"] and f'+            "comment": "{comment}",' in planned["_stdout"]
    assert silences(monitoring, comment) == []

    made = silence(ansible_module, monitoring, matchers=MATCHERS, comment=comment, duration_minutes=30)
    assert made["changed"] is True and made["msg"].startswith('Silenced alertname=~"Qdrant.*", job="qdrant" for 30')
    [held] = silences(monitoring, comment)
    assert held["id"] == made["silence_id"] and held["status"]["state"] == "active"
    assert held["createdBy"] == "sre.runbooks"
    assert sorted((m["name"], m["value"], m["isRegex"]) for m in held["matchers"]) == [
        ("alertname", "Qdrant.*", True), ("job", "qdrant", False)]
    assert made["after"]["silences"][0]["endsAt"] == held["endsAt"]

    again = silence(ansible_module, monitoring, matchers=list(reversed(MATCHERS)), comment=comment)
    assert again["changed"] is False and again["silence_id"] == made["silence_id"] and again["actions"] == []
    assert len(silences(monitoring, comment)) == 1

    lifted = silence(ansible_module, monitoring, state="absent", matchers=MATCHERS, comment=comment, diff=True)
    assert lifted["changed"] is True and lifted["actions"] == [f"Expire silence {made['silence_id']} ({comment})"]
    assert lifted["after"] == {"silences": []} and '+    "silences": []' in lifted["_stdout"]
    assert [s["status"]["state"] for s in silences(monitoring, comment)] == ["expired"]
    twice = silence(ansible_module, monitoring, state="absent", matchers=MATCHERS, comment=comment)
    assert twice["changed"] is False and twice["msg"] == "No active silence with these matchers; nothing to do."


def test_silence_suppresses_the_firing_alert_until_expired(lab, ansible_module, monitoring, fault, comment):
    fault("qdrant-down")
    poll(lambda: firing(monitoring), lambda names: "QdrantDown" in names, "QdrantDown to fire")
    made = silence(ansible_module, monitoring, matchers=["alertname=QdrantDown"], comment=comment, duration_minutes=5)
    poll(lambda: firing(monitoring), lambda names: "QdrantDown" not in names, "QdrantDown to be silenced")
    quiet = ansible_module("alertmanager_alerts_info", {"url": monitoring["alertmanager_url"],
                                                        "matchers": ["alertname=QdrantDown"]})
    assert (quiet["status"], quiet["firing"]) == ("ok", 0)
    shown = ansible_module("alertmanager_alerts_info", {"url": monitoring["alertmanager_url"],
                                                        "matchers": ["alertname=QdrantDown"], "include_silenced": True})
    [suppressed] = shown["alerts"]
    assert suppressed["state"] == "suppressed" and suppressed["silencedBy"] == [made["silence_id"]]
    assert shown["firing"] == 0 and shown["summary"] == "All clear - no alert firing (1 suppressed)"

    silence(ansible_module, monitoring, state="absent", matchers=["alertname=QdrantDown"], comment=comment)
    poll(lambda: firing(monitoring), lambda names: "QdrantDown" in names, "QdrantDown to fire again")


@pytest.mark.parametrize("args, says", [
    ({"matchers": ["job=qdrant"]}, "comment is required with state=present"),
    ({"matchers": [], "comment": "x"}, "matchers is empty"),
    ({"matchers": ["job"], "comment": "x"}, "matchers[0] 'job' is not a matcher"),
    ({"matchers": ["job=a"], "comment": "x", "duration_minutes": 0}, "duration_minutes must be between 1 and 1440"),
    ({"matchers": ["job=~.*"], "comment": "x"}, "Alertmanager refused the silence: "),
])
def test_bad_input_fails_naming_the_option_and_creates_nothing(ansible_module, monitoring, args, says):
    result = ansible_module("alertmanager_silence", dict({"url": monitoring["alertmanager_url"]}, **args))
    assert result["failed"] is True and result["changed"] is False and says in result["msg"], result["msg"]
    assert "Traceback" not in result["_stdout"]
    assert silences(monitoring, "x") == []


def test_unreachable_alertmanager_fails_clearly(ansible_module):
    result = ansible_module("alertmanager_silence", {"url": f"http://127.0.0.1:{free_port()}", "timeout": 1,
                                                     "matchers": ["job=qdrant"], "comment": "INC-1"})
    assert result["failed"] is True and result["changed"] is False
    assert "does not answer: connection refused" in result["msg"] and "Traceback" not in result["_stdout"]
