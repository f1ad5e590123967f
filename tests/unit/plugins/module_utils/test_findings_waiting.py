import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.findings import finding, status_from, worst_status
from ansible_collections.sre.runbooks.plugins.module_utils.http_client import redact_url
from ansible_collections.sre.runbooks.plugins.module_utils.waiting import wait_for


def test_status_from_findings():
    assert status_from([]) == "ok"
    assert status_from([finding("a.b", "warning", "x")]) == "degraded"
    assert status_from([finding("a.down", "critical", "x")], down_ids=("a.down",)) == "down"
    assert status_from([finding("a.b", "info", "x")]) == "ok"


def test_bad_severity_is_refused():
    with pytest.raises(ValueError):
        finding("a.b", "catastrophic", "x")


def test_worst_status():
    assert worst_status("ok", "degraded", "down") == "down"
    assert worst_status("ok", "unknown") == "unknown"


def test_wait_for_returns_last_state_on_timeout():
    states = iter(range(100))
    ok, last, duration = wait_for(lambda: next(states), lambda s: s > 1000, timeout=0.2, sleep=0.01)
    assert ok is False and isinstance(last, int) and duration >= 0.2


def test_wait_for_keeps_polling_through_errors():
    calls = {"n": 0}

    def observe():
        calls["n"] += 1
        if calls["n"] < 3:
            raise ConnectionError("not yet")
        return "master"

    ok, last = wait_for(observe, lambda s: s == "master", timeout=5, sleep=0.01)[:2]
    assert ok is True and last == "master" and calls["n"] == 3


def test_redact_url():
    assert redact_url("https://u:p4ss@h.example:8443/health?x=1") == "https://***@h.example:8443/health?x=1"
    assert redact_url("http://h/health") == "http://h/health"


@pytest.mark.parametrize("bounds, value, message", [
    ({"n": (1, 5)}, 0, "n must be between 1 and 5, not 0"),
    ({"n": (0, None)}, -1, "n must be 0 or more, not -1"),
    ({"n": (None, 10)}, 11, "n must be at most 10, not 11"),
])
def test_check_bounds_names_the_option_and_the_range(bounds, value, message):
    from ansible_collections.sre.runbooks.plugins.module_utils.common import check_bounds
    from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError
    with pytest.raises(RunbookError) as raised:
        check_bounds({"n": value}, bounds)
    assert raised.value.msg == message and raised.value.details == {"option": "n"}


def test_check_bounds_lets_values_within_and_unset_options_pass():
    from ansible_collections.sre.runbooks.plugins.module_utils.common import check_bounds
    check_bounds({"n": 1, "m": None}, {"n": (1, 5), "m": (0, None), "absent": (0, None)})
