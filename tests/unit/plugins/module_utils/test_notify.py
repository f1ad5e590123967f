"""module_utils/notify.py: the runbooks' message templates, retries with backoff, and the APIs' errors in words."""

import json

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.notify import (
    MAX_WAITING,
    TEMPLATES,
    call,
    render,
    retry_after,
    slack,
    statuspage,
)

INCIDENT = {
    "id": "INC-20261127-1700", "title": "System outage", "severity": "P0", "service": "pynomaly",
    "environment": "production", "status": "identified", "impact": "All users unable to access the system",
    "started_at": "2026-11-27T17:00:00Z", "next_update_at": "2026-11-27T17:15:00Z",
    "actions": ["Roll Deployment backend back to revision 2", {"summary": "Restart pynomaly on app-1"}],
    "scenarios": [{"id": "k8s_bad_rollout", "title": "Kubernetes rollout"}],
    "escalation": {"tier": 1, "name": "On-call engineer", "contacts": ["@oncall"], "channels": ["#pynomaly-incidents"],
                   "elapsed_minutes": 12.5, "next": {"tier": 2, "name": "Engineering Manager", "at_minutes": 15}},
}


def test_the_outage_message_is_the_runbooks_template_filled_with_the_incident():
    text = render("outage", INCIDENT)
    assert text.splitlines()[0] == "\U0001F6A8 *P0 INCIDENT* - System outage"
    for line in ("*Incident*: INC-20261127-1700 (pynomaly, production)", "*Status*: IDENTIFIED",
                 "*Impact*: All users unable to access the system", "*Started*: 2026-11-27 17:00 UTC",
                 "*Scenario*: Kubernetes rollout", "*Escalation*: tier 1, On-call engineer (@oncall)",
                 "*Actions Taken*:", "- Roll Deployment backend back to revision 2", "- Restart pynomaly on app-1",
                 "Next update: 17:15 UTC"):
        assert line in text.splitlines()


def test_missing_fields_are_left_out_never_shown_as_none():
    text = render("outage", {"id": "INC-1", "title": None, "impact": "", "actions": [], "status": "None",
                             "started_at": None, "scenarios": [None, ""], "escalation": {}})
    assert text == "\U0001F6A8 *INCIDENT*\n\n*Incident*: INC-1\n*Status*: INVESTIGATING"
    assert "None" not in text
    for template in TEMPLATES:
        bare = render(template, {})
        assert "None" not in bare and "*Impact*" not in bare and "Next update" not in bare


def test_every_template_has_its_own_headline():
    heads = {t: render(t, {"severity": "P0", "title": "LLM provider outage"}).splitlines()[0] for t in TEMPLATES}
    assert heads == {
        "outage": "\U0001F6A8 *P0 INCIDENT* - LLM provider outage",
        "update": "\U0001F504 *P0 INCIDENT UPDATE* - LLM provider outage",
        "degradation": "\u26A0\uFE0F *SERVICE DEGRADATION* - LLM provider outage",
        "resolved": "\u2705 *RESOLVED* - LLM provider outage",
        "escalation": "\U0001F4E3 *ESCALATION* - LLM provider outage",
    }


def test_degradation_says_the_workaround_and_the_eta():
    text = render("degradation", {"impact": "New queries may be slower or unavailable",
                                  "workaround": "Use cached queries when possible",
                                  "eta": "Waiting for OpenAI service restoration",
                                  "summary": "Cached queries are still available and fast."})
    assert "*Workaround*: Use cached queries when possible" in text
    assert "*ETA*: Waiting for OpenAI service restoration" in text
    assert text.endswith("\n\nCached queries are still available and fast.")


def test_resolved_says_when_and_how_long_and_no_next_update():
    text = render("resolved", dict(INCIDENT, status=None, resolved_at="2026-11-27T17:23:40Z"))
    assert "*Status*: RESOLVED" in text and "*Resolved*: 2026-11-27 17:23 UTC" in text
    assert "*Duration*: 24 min" in text
    assert "System restored at 2026-11-27 17:23 UTC. All services operational." in text
    assert "Next update" not in text


def test_escalation_names_the_tier_its_contacts_and_the_next_one():
    incident = dict(INCIDENT, escalation={"tier": 2, "name": "Engineering Manager", "contacts": ["@eng-manager"],
                                          "channels": ["#pynomaly-incidents", "#engineering-leads"],
                                          "elapsed_minutes": 16, "next": {"tier": 3, "name": "CTO", "at_minutes": 30}})
    lines = render("escalation", incident).splitlines()
    assert "*Escalated to*: tier 2, Engineering Manager (@eng-manager)" in lines
    assert "*Elapsed*: 16 min" in lines and "*Channels*: #pynomaly-incidents, #engineering-leads" in lines
    assert "Next escalation: tier 3, CTO at 30 min" in lines
    assert not [line for line in lines if line.startswith("*Escalation*")]


def test_an_unknown_template_is_refused():
    with pytest.raises(ValueError, match="template must be one of outage, update"):
        render("page-everyone", INCIDENT)


# -- retries -------------------------------------------------------------------------------------------------
def answers(*codes, headers=None, body="{}"):
    """A stand-in for http_client.fetch answering these statuses in turn (None: connection refused)."""
    seen = []

    def sender(request):
        seen.append(request)
        code = codes[min(len(seen), len(codes)) - 1]
        return {"status_code": code, "headers": (headers or {}) if code else {}, "body": body if code else "",
                "error": None if code else "connection refused", "latency_ms": 1.0}
    sender.seen = seen
    return sender


def test_server_errors_and_refusals_are_retried_with_backoff():
    sleeps = []
    sender = answers(None, 503, 200)
    result = call({"url": "http://x"}, retries=3, timeout=5, sender=sender, sleep=sleeps.append)
    assert result["status_code"] == 200 and result["attempts"] == 3 and sleeps == [0.5, 1.0]
    assert all(r["timeout"] == 5 for r in sender.seen)


def test_retries_are_bounded():
    sleeps = []
    result = call({"url": "http://x"}, retries=2, timeout=5, sender=answers(503), sleep=sleeps.append)
    assert result["status_code"] == 503 and result["attempts"] == 3 and sleeps == [0.5, 1.0]


def test_a_rate_limit_waits_what_retry_after_asks():
    sleeps = []
    sender = answers(429, 200, headers={"retry-after": "3"})
    result = call({"url": "http://x"}, retries=3, timeout=5, sender=sender, sleep=sleeps.append)
    assert result["attempts"] == 2 and sleeps == [3.0] and result["waited"] == 3.0


def test_a_retry_after_past_the_bound_is_not_waited():
    sleeps = []
    sender = answers(429, headers={"retry-after": str(int(MAX_WAITING) + 1)})
    result = call({"url": "http://x"}, retries=3, timeout=5, sender=sender, sleep=sleeps.append)
    assert result["attempts"] == 1 and sleeps == [] and "bound" in result["gave_up"]


def test_client_errors_are_not_retried():
    sleeps = []
    result = call({"url": "http://x"}, retries=3, timeout=5, sender=answers(401), sleep=sleeps.append)
    assert result["attempts"] == 1 and sleeps == []


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after({"retry-after": "7"}) == 7.0
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:30 GMT"}, now=1445412500) == 10.0
    assert retry_after({}) is None and retry_after({"retry-after": "soon"}) is None


# -- the APIs' answers in words --------------------------------------------------------------------------------
SLACK = {"token": "xoxb-1-2-secret", "api_url": "https://slack.example/api/", "retries": 0, "timeout": 5,
         "validate_certs": True}
STATUSPAGE = {"api_key": "k3y", "api_url": "https://statuspage.example/v1", "page_id": "pg1", "retries": 0,
              "timeout": 5, "validate_certs": True}


def test_slack_sends_the_token_only_in_the_authorization_header():
    sender = answers(200, body=json.dumps({"ok": True, "channel": "C1", "ts": "1.2"}))
    answer, error, attempts = slack(SLACK, "chat.postMessage", {"channel": "#x", "text": "hi"}, sender=sender)
    assert answer["ts"] == "1.2" and error is None and attempts == 1
    request = sender.seen[0]
    assert request["url"] == "https://slack.example/api/chat.postMessage"
    assert request["headers"]["Authorization"] == "Bearer xoxb-1-2-secret"
    assert "secret" not in request["data"].decode() and "secret" not in request["url"]


@pytest.mark.parametrize(("error", "expected"), [
    ("invalid_auth", "Slack refused the token (invalid_auth)"),
    ("channel_not_found", "Slack has no channel #x that the bot can see (channel_not_found)"),
    ("weird_thing xoxb-1-2-secret", "Slack refused the request (weird_thing ***)"),
])
def test_slack_refusals_are_sentences_without_the_token(error, expected):
    sender = answers(200, body=json.dumps({"ok": False, "error": error}))
    answer, said = slack(SLACK, "chat.postMessage", {"channel": "#x", "text": "hi"}, sender=sender)[:2]
    assert answer is None and said == expected


def test_slack_down_and_rate_limited_say_so():
    said, attempts = slack(dict(SLACK, retries=1), "chat.update", {"channel": "C1", "ts": "1.2", "text": "x"},
                           sender=answers(503), sleep=lambda s: None)[1:]
    assert said == "Slack answered HTTP 503 after 2 attempts" and attempts == 2
    said = slack(SLACK, "chat.update", {}, sender=answers(None))[1]
    assert said == "Slack did not answer (connection refused) after 1 attempt"
    said = slack(SLACK, "chat.update", {}, sender=answers(429, headers={"retry-after": "1"}))[1]
    assert said == "Slack rate-limited the request (HTTP 429, Retry-After 1 s) after 1 attempt"


@pytest.mark.parametrize(("code", "path", "body", "expected"), [
    (401, "/pages/pg1/incidents", {"error": "Could not authenticate"},
     "Statuspage refused the API key (HTTP 401, Could not authenticate)"),
    (404, "/pages/pg1/incidents/abc", {"error": "Not found"}, "Statuspage has no incident abc on page pg1 (HTTP 404)"),
    (404, "/pages/pg1/components", {"error": "Not found"}, "Statuspage has no page pg1 (HTTP 404)"),
    (422, "/pages/pg1/incidents", {"error": ["Name can't be blank"]},
     "Statuspage rejected the incident (Name can't be blank)"),
])
def test_statuspage_refusals_are_sentences(code, path, body, expected):
    sender = answers(code, body=json.dumps(body))
    answer, said = statuspage(STATUSPAGE, "POST", path, {"incident": {}}, sender=sender)[:2]
    assert answer is None and said == expected
    assert sender.seen[0]["headers"]["Authorization"] == "OAuth k3y" and b"k3y" not in sender.seen[0]["data"]
