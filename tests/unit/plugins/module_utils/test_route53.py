import pytest

from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.route53 import (
    alarm_verdict,
    checkers_verdict,
    combine,
    fqdn,
    record_name_in_zone,
    record_sets,
    takes_traffic,
)


class FakeRoute53:
    def __init__(self, statuses=(), pages=()):
        self.statuses, self.pages, self.calls = list(statuses), list(pages), []

    def get_health_check_status(self, HealthCheckId):
        return {"HealthCheckObservations": [{"StatusReport": {"Status": s}} for s in self.statuses]}

    def list_resource_record_sets(self, **kwargs):
        self.calls.append(kwargs)
        return self.pages.pop(0)


class FakeCloudWatch:
    def __init__(self, alarms):
        self.alarms = alarms

    def describe_alarms_for_metric(self, **kwargs):
        return {"MetricAlarms": self.alarms}


def test_names_are_compared_as_route53_lists_them():
    assert fqdn(" API.Example.com ") == "api.example.com." == fqdn("api.example.com.")
    assert record_name_in_zone("api.example.com", "example.com.") == "api.example.com."
    assert record_name_in_zone("example.com", "example.com.") == "example.com."
    with pytest.raises(RunbookError) as raised:
        record_name_in_zone("api.badexample.com", "example.com.")
    assert raised.value.details["option"] == "record_name"


def test_checkers_follow_the_18_percent_rule_and_inversion():
    ok, bad = "Success: HTTP Status Code 200", "Failure: Connection timed out"
    assert checkers_verdict(FakeRoute53([ok] + [bad] * 4), "hc", {"Type": "HTTP"})[0] == "healthy"  # 20%
    verdict, reason = checkers_verdict(FakeRoute53([ok] + [bad] * 5), "hc", {"Type": "HTTP"})  # 16.7%
    assert verdict == "unhealthy" and "1 of 6" in reason and "Connection timed out" in reason
    assert checkers_verdict(FakeRoute53([ok]), "hc", {"Type": "HTTP", "Inverted": True})[0] == "unhealthy"
    assert checkers_verdict(FakeRoute53([]), "hc", {"Type": "HTTP"})[0] is None
    assert checkers_verdict(FakeRoute53([ok]), "hc", {"Type": "CALCULATED"})[0] is None


def test_alarms_of_other_health_checks_are_ignored():
    mine = [{"Name": "HealthCheckId", "Value": "hc"}]
    other = [{"Name": "HealthCheckId", "Value": "other"}]
    alarms = [{"AlarmName": "o", "StateValue": "ALARM", "Dimensions": other},
              {"AlarmName": "m", "StateValue": "OK", "Dimensions": mine}]
    assert alarm_verdict(FakeCloudWatch(alarms), "hc") == ("healthy", "alarm m OK")
    alarms[1]["StateValue"] = "ALARM"
    assert alarm_verdict(FakeCloudWatch(alarms), "hc")[0] == "unhealthy"
    assert alarm_verdict(FakeCloudWatch(alarms[:1]), "hc")[0] is None


def test_unhealthy_wins_and_names_its_source():
    verdicts = [("cloudwatch_alarm", "unhealthy", "a"), ("cloudwatch_metric", None, "b"), ("checkers", "healthy", "c")]
    assert combine(verdicts) == {"health": "unhealthy", "source": "cloudwatch_alarm",
                                 "reasons": ["cloudwatch_alarm: a", "cloudwatch_metric: b", "checkers: c"]}
    assert combine(verdicts[1:])["health"] == "healthy"
    assert combine(verdicts[1:2]) == {"health": "unknown", "source": None, "reasons": ["cloudwatch_metric: b"]}


def test_record_sets_read_every_page_once_and_stop_at_the_next_name():
    a = {"Name": "api.example.com.", "Type": "A"}
    pages = [{"ResourceRecordSets": [dict(a, SetIdentifier="p")], "IsTruncated": True,
              "NextRecordName": "api.example.com.", "NextRecordType": "A", "NextRecordIdentifier": "s"},
             {"ResourceRecordSets": [dict(a, SetIdentifier="p"), dict(a, SetIdentifier="s"),
                                     {"Name": "www.example.com.", "Type": "A"}], "IsTruncated": True,
              "NextRecordName": "x.example.com.", "NextRecordType": "A"}]
    route53 = FakeRoute53(pages=pages)
    found = record_sets(route53, "Z1", "api.example.com.", "A")
    assert [r["SetIdentifier"] for r in found] == ["p", "s"]
    assert route53.calls[1]["StartRecordIdentifier"] == "s" and len(route53.calls) == 2


def test_takes_traffic():
    assert takes_traffic({"weight": 1, "failover": None}) and not takes_traffic({"weight": 0, "failover": None})
    assert takes_traffic({"weight": None, "failover": "PRIMARY"})
    assert not takes_traffic({"weight": None, "failover": "SECONDARY"})
    assert takes_traffic({"weight": None, "failover": None})
