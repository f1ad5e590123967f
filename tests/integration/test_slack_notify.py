"""sre.runbooks.slack_notify against the lab's recording Slack stand-in: what Slack received, not only what it said."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from datetime import datetime

import pytest
from conftest import BIN, REPO, assert_secret_only_in_authorization, run_module

from lab import notify_server
from lab.core import free_port

INCIDENT = {"id": "INC-20261127-1700", "title": "System outage", "severity": "P0", "service": "pynomaly",
            "environment": "lab", "impact": "All users unable to access the system",
            "started_at": "2026-11-27T17:00:00Z", "next_update_at": "2026-11-27T17:15:00Z"}


@pytest.fixture
def slack_lab(notify, lab):
    """What the test needs to call the stand-in and read it (the notify fixture keeps it healthy)."""
    mark = len(notify_server.requests(lab))

    def sent():
        """The Slack requests recorded since the test began."""
        return [r for r in notify_server.requests(lab, mark) if r["service"] == "slack"]

    def run(args, check=False, diff=False):
        base = {"token": notify["slack_token"], "api_url": notify["slack_api_url"], "channel": notify["slack_channel"]}
        return run_module("slack_notify", dict(base, **args), lab.root, check=check, diff=diff)

    yield {"info": notify, "sent": sent, "run": run}
    assert_secret_only_in_authorization(notify_server.requests(lab, mark), notify["slack_token"])


def assert_not_printed(result: dict, token: str) -> None:
    assert token not in json.dumps({k: v for k, v in result.items() if k != "_stdout"})
    assert token not in result["_stdout"]


def channel_messages(lab, channel_id: str) -> list[dict]:
    return notify_server.state(lab)["slack"]["messages"].get(channel_id, [])


def by_ts(lab, channel_id: str, ts: str) -> dict:
    return next(m for m in channel_messages(lab, channel_id) if m["ts"] == ts)


def test_post_then_update_the_same_message_and_reply_in_its_thread(slack_lab, lab):
    posted = slack_lab["run"]({"template": "outage", "incident": INCIDENT})
    assert not posted["failed"] and posted["changed"]
    assert posted["notification"] == {"service": "slack", "action": "post", "delivered": True, "attempts": 1,
                                      "summary": posted["notification"]["summary"], "ref": posted["ts"]}
    channel, ts = posted["channel"], posted["ts"]
    assert channel == slack_lab["info"]["slack_channel_id"]
    update = dict(INCIDENT, status="identified", actions=["Roll Deployment backend back to revision 2"])
    updated = slack_lab["run"]({"template": "update", "incident": update, "channel": channel, "message_ts": ts,
                                "reply": True})
    assert not updated["failed"] and updated["changed"] and updated["ts"] == ts
    assert updated["notification"]["action"] == "reply" and updated["notification"]["delivered"]
    sent = slack_lab["sent"]()
    assert [(r["path"], r["body"].get("ts"), r["body"].get("thread_ts")) for r in sent] == [
        ("/api/chat.postMessage", None, None), ("/api/chat.update", ts, None), ("/api/chat.postMessage", None, ts)]
    assert sent[0]["body"]["text"] == posted["notification"]["summary"]
    assert "*Status*: INVESTIGATING" in sent[0]["body"]["text"] and "Next update: 17:15 UTC" in sent[0]["body"]["text"]
    assert sent[1]["body"]["text"] == sent[2]["body"]["text"] == updated["notification"]["summary"]
    assert "- Roll Deployment backend back to revision 2" in sent[1]["body"]["text"]
    message = by_ts(lab, channel, ts)  # Slack shows one message, updated, with the update in its thread
    assert message["text"] == updated["notification"]["summary"] and "edited" in message
    assert [r["ts"] for r in message["replies"]] == [updated["reply_ts"]] and message["reply_count"] == 1


def test_state_path_rerun_updates_the_message_rather_than_posting(slack_lab, lab, tmp_path):
    state_path = tmp_path / "incident" / "slack.json"
    first = slack_lab["run"]({"template": "outage", "incident": INCIDENT, "state_path": str(state_path)})
    stored = json.loads(state_path.read_text())
    assert (stored["channel"], stored["ts"], stored["incident_id"]) == (first["channel"], first["ts"], INCIDENT["id"])
    update = dict(INCIDENT, status="monitoring")
    second = slack_lab["run"]({"template": "update", "incident": update, "state_path": str(state_path)})
    assert second["changed"] and second["notification"]["action"] == "update" and second["ts"] == first["ts"]
    third = slack_lab["run"]({"template": "update", "incident": update, "state_path": str(state_path)})
    assert not third["changed"] and third["notification"]["action"] == "unchanged"
    assert third["notification"]["delivered"] and third["notification"]["attempts"] == 0
    assert [(r["path"], r["body"].get("ts")) for r in slack_lab["sent"]()] == [
        ("/api/chat.postMessage", None), ("/api/chat.update", first["ts"])]
    assert by_ts(lab, first["channel"], first["ts"])["text"] == second["notification"]["summary"]
    assert "*Status*: MONITORING" in json.loads(state_path.read_text())["text"]


def test_state_path_of_another_incident_or_a_deleted_message_posts_anew(slack_lab, lab, tmp_path):
    state_path = tmp_path / "slack.json"
    state_path.write_text(json.dumps({"channel": slack_lab["info"]["slack_channel_id"], "ts": "1700000000.000001",
                                      "incident_id": "INC-OLD", "text": "old"}))
    other = slack_lab["run"]({"template": "outage", "incident": INCIDENT, "state_path": str(state_path)})
    assert other["notification"]["action"] == "post" and json.loads(state_path.read_text())["ts"] == other["ts"]
    state_path.write_text(json.dumps({"channel": slack_lab["info"]["slack_channel_id"], "ts": "1700000000.000001",
                                      "incident_id": INCIDENT["id"], "text": "old"}))
    gone = slack_lab["run"]({"template": "update", "incident": INCIDENT, "state_path": str(state_path)})
    assert gone["notification"]["action"] == "post" and gone["notification"]["delivered"]
    assert "is gone" in gone["msg"] and gone["ts"] != "1700000000.000001"
    assert [(r["path"], r["error"]) for r in slack_lab["sent"]()] == [
        ("/api/chat.postMessage", None), ("/api/chat.update", "message_not_found"), ("/api/chat.postMessage", None)]


def test_check_mode_says_what_it_would_send_and_sends_nothing(slack_lab, tmp_path):
    state_path = tmp_path / "slack.json"
    result = slack_lab["run"]({"template": "outage", "incident": INCIDENT, "state_path": str(state_path)}, check=True)
    assert not result["failed"] and result["changed"] and result["check_mode"]
    assert result["msg"].startswith("Would post the outage message") and "nothing was sent" in result["msg"]
    assert result["calls"] == [{"method": "chat.postMessage", "channel": slack_lab["info"]["slack_channel"]}]
    assert result["notification"]["delivered"] is False and "*P0 INCIDENT*" in result["notification"]["summary"]
    assert slack_lab["sent"]() == [] and not state_path.exists()


def test_slack_down_is_not_delivered_and_the_task_does_not_fail(slack_lab, lab):
    notify_server.break_notify_down(lab)
    down = slack_lab["run"]({"template": "outage", "incident": INCIDENT, "retries": 1})
    assert not down["failed"] and not down["changed"]
    assert down["notification"]["delivered"] is False and down["notification"]["attempts"] == 2
    assert down["notification"]["error"] == "Slack answered HTTP 503 after 2 attempts"
    assert "Traceback" not in down["_stdout"]
    assert [r["status"] for r in slack_lab["sent"]()] == [503, 503]
    refused = slack_lab["run"]({"text": "hello", "api_url": f"http://127.0.0.1:{free_port()}/api", "retries": 0})
    assert not refused["failed"] and refused["notification"]["delivered"] is False
    assert refused["notification"]["error"] == "Slack did not answer (connection refused) after 1 attempt"


def test_a_rate_limit_is_waited_out_as_retry_after_asks(slack_lab, lab):
    notify_server.control(lab, "slack", rate_limit=2, retry_after=1)
    result = slack_lab["run"]({"text": "rate limited hello"})
    assert result["notification"]["delivered"] and result["notification"]["attempts"] == 3
    sent = slack_lab["sent"]()
    assert [r["status"] for r in sent] == [429, 429, 200]
    times = [datetime.fromisoformat(r["time"]) for r in sent]
    assert all((later - earlier).total_seconds() >= 1 for earlier, later in itertools.pairwise(times))


def test_a_refused_token_is_reported_and_never_printed(slack_lab, lab):
    token = slack_lab["info"]["slack_token"]
    notify_server.control(lab, "slack", reject_token=True)
    result = slack_lab["run"]({"template": "resolved", "incident": INCIDENT})
    assert not result["failed"] and result["notification"]["delivered"] is False
    assert result["notification"]["error"] == "Slack refused the token (invalid_auth)"
    assert result["msg"] == "Slack refused the token (invalid_auth); not delivered, the run goes on."
    assert_not_printed(result, token)
    wrong = slack_lab["run"]({"text": "hi", "token": "xoxb-0000-wrong-token"})
    assert wrong["notification"]["error"] == "Slack refused the token (invalid_auth)"
    assert "xoxb-0000-wrong-token" not in wrong["_stdout"]


def test_the_token_comes_from_the_environment_and_never_leaks(slack_lab, lab):
    token = slack_lab["info"]["slack_token"]
    env = dict(os.environ, SLACK_BOT_TOKEN=token, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), SRE_LAB_DIR=str(lab.root))
    args = {"api_url": slack_lab["info"]["slack_api_url"], "channel": slack_lab["info"]["slack_channel"],
            "template": "degradation", "incident": {"title": "LLM provider outage", "workaround": "cached queries"}}
    done = subprocess.run([str(BIN / "ansible"), "localhost", "-m", "sre.runbooks.slack_notify", "-a", json.dumps(args),
                           "-v"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"delivered": true' in done.stdout and token not in done.stdout + done.stderr
    sent = slack_lab["sent"]()
    assert len(sent) == 1 and sent[0]["headers"]["Authorization"] == f"Bearer {token}"
    assert "*Workaround*: cached queries" in sent[0]["body"]["text"]


@pytest.mark.parametrize(("args", "option"), [
    ({"template": "outage", "channel": "  "}, "channel"),
    ({"template": "page-everyone"}, "template"),
    ({"text": ""}, "text"),
    ({"template": "outage", "text": "both"}, "template"),
    ({"text": "hi", "message_ts": "yesterday"}, "message_ts"),
])
def test_bad_input_fails_naming_the_option_and_sends_nothing(slack_lab, args, option):
    result = slack_lab["run"](args)
    assert result["failed"] and option in result["msg"] and "Traceback" not in result["_stdout"]
    assert slack_lab["sent"]() == []


def test_a_broken_state_file_fails_naming_state_path(slack_lab, tmp_path):
    state_path = tmp_path / "slack.json"
    state_path.write_text("{not json")
    result = slack_lab["run"]({"text": "hi", "state_path": str(state_path)})
    assert result["failed"] and "state_path" in result["msg"] and slack_lab["sent"]() == []


def test_ansible_doc_renders_slack_notify():
    done = subprocess.run([str(BIN / "ansible-doc"), "sre.runbooks.slack_notify"], cwd=REPO, capture_output=True,
                          text=True, env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg")), check=False)
    assert done.returncode == 0, done.stderr
    assert "chat.postMessage" in done.stdout and "state_path" in done.stdout and "notification" in done.stdout
