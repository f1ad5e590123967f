from ansible_collections.sre.runbooks.plugins.callback.incident_record import redact


def test_secret_keys_are_masked():
    assert redact({"password": "s3cret", "nested": {"api_token": "t0k"}, "port": 1}) == {
        "password": "***", "nested": {"api_token": "***"}, "port": 1}


def test_secrets_in_text_are_masked():
    text = redact("connect http://ops:hunter2@db:5432 with password=abc123 and Authorization: Bearer xyz.abc")
    assert "hunter2" not in text and "abc123" not in text and "xyz.abc" not in text


def test_slack_tokens_are_masked():
    assert "xoxb-123-456" not in redact(["token is xoxb-123-456"])[0]
