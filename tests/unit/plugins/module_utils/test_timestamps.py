from datetime import UTC, datetime, timedelta

from ansible_collections.sre.runbooks.plugins.module_utils.timestamps import parse_time, seconds_since

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)


def test_the_zone_is_honoured_and_a_time_without_one_is_utc():
    assert parse_time("2026-11-27T13:00:00+01:00") == NOW
    assert parse_time("2026-11-27T12:00:00Z") == NOW
    assert parse_time("2026-11-27T12:00:00.123456Z") == NOW  # fractions (the API's microseconds) dropped
    assert parse_time("2026-11-27T12:00:00") == NOW  # Qdrant's snapshot creation_time has no zone


def test_seconds_since_is_negative_for_a_time_to_come():
    assert seconds_since("2026-11-27T11:55:00Z", NOW) == 300
    assert seconds_since((NOW + timedelta(seconds=30)).isoformat(), NOW) == -30


def test_unreadable_or_absent_times_are_none():
    assert parse_time("") is None and parse_time("yesterday") is None
    assert seconds_since(None, NOW) is None
