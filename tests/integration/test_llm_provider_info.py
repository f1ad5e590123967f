"""sre.runbooks.llm_provider_info against the lab's LLM provider stand-in (OpenAI- and Anthropic-shaped)."""

from __future__ import annotations

import json

import pytest

from lab import faults, llm
from lab.core import free_port


def providers(lab, **changes) -> list[dict]:
    """The module's providers option for the lab; changes: {name: {option: value}}."""
    configured = lab.service("llm")["providers"]
    return [dict(name=name, **configured[name]) | changes.get(name, {}) for name in ("openai", "anthropic")]


def ids(result) -> list[str]:
    return sorted(f["id"] for f in result["findings"])


def one(result, finding_id) -> dict:
    found = [f for f in result["findings"] if f["id"] == finding_id]
    assert len(found) == 1, result["findings"]
    return found[0]


def keys(lab) -> list[str]:
    return [p["api_key"] for p in lab.service("llm")["providers"].values()]


@pytest.fixture
def llm_lab(lab):
    yield lab
    for name in ("llm-outage", "llm-key-invalid"):
        faults.heal(lab, name)
    for name, rpm in (("openai", 5000), ("anthropic", 4000)):
        llm.update_provider(lab, name, api="ok", component="operational", latency_ms=0, rpm=rpm)


def test_healthy_providers_with_fallback_are_ok(llm_lab, ansible_module):
    result = ansible_module("llm_provider_info", {"providers": providers(llm_lab), "fallback": "anthropic"})
    assert not result["failed"] and not result["changed"]
    assert result["status"] == "ok" and result["findings"] == []
    assert (result["primary"], result["fallback"], result["fallback_healthy"]) == ("openai", "anthropic", True)
    for provider in result["providers"]:
        assert provider["healthy"] and provider["key_valid"] and provider["api_status"] == 200
        assert (provider["status_indicator"], provider["api_component_status"]) == ("none", "operational")
        assert provider["rate_limit"]["remaining"] < provider["rate_limit"]["limit"]
        assert provider["model_listed"] is True
    assert not any(key in result["_stdout"] for key in keys(llm_lab))


def test_llm_outage_takes_the_primary_down_and_heals(llm_lab, ansible_module):
    args = {"providers": providers(llm_lab), "primary": "openai", "fallback": "anthropic"}
    faults.inject(llm_lab, "llm-outage")
    result = ansible_module("llm_provider_info", args)
    assert result["status"] == "down" and ids(result) == ["llm.provider_outage"]
    outage = one(result, "llm.provider_outage")
    assert outage["severity"] == "critical"
    expected = {"provider": "openai", "primary": True, "api_status": 503, "indicator": "major",
                "component_status": "major_outage"}
    assert outage["evidence"].items() >= expected.items()
    assert result["fallback_healthy"] is True
    faults.heal(llm_lab, "llm-outage")
    healed = ansible_module("llm_provider_info", args)
    assert healed["status"] == "ok" and healed["findings"] == []


def test_llm_key_invalid_is_found_and_the_key_never_printed(llm_lab, ansible_module):
    args = {"providers": providers(llm_lab), "fallback": "anthropic"}
    faults.inject(llm_lab, "llm-key-invalid")
    result = ansible_module("llm_provider_info", args)
    assert result["status"] == "down" and ids(result) == ["llm.key_invalid"]
    invalid = one(result, "llm.key_invalid")
    assert invalid["evidence"]["provider"] == "openai" and invalid["evidence"]["http_status"] == 401
    assert result["providers"][0]["key_valid"] is False
    assert result["providers"][0]["status_indicator"] == "none"
    assert not any(key in result["_stdout"] for key in keys(llm_lab))
    faults.heal(llm_lab, "llm-key-invalid")
    assert ansible_module("llm_provider_info", args)["status"] == "ok"


def test_a_wrong_key_never_reaches_output_alone_or_in_triage(llm_lab, ansible_module):
    wrong = "sk-wrong-key-that-must-not-leak-0123456789"
    args = {"providers": providers(llm_lab, openai={"api_key": wrong})}
    alone = ansible_module("llm_provider_info", args)
    assert ids(alone) == ["llm.fallback_unavailable", "llm.key_invalid"]
    triage = ansible_module("incident_triage_info", {"checks": {"llm": {"module": "llm_provider_info", "args": args}}})
    assert ids(triage["checks"]["llm"]) == ["llm.fallback_unavailable", "llm.key_invalid"]
    for result in (alone, triage):
        assert wrong not in result["_stdout"] and wrong not in json.dumps(result)


def test_no_fallback_configured_is_reported(llm_lab, ansible_module):
    args = {"providers": providers(llm_lab)[:1]}
    result = ansible_module("llm_provider_info", args)
    assert result["status"] == "ok" and result["fallback"] is None and result["fallback_healthy"] is None
    missing = one(result, "llm.fallback_unavailable")
    assert missing["severity"] == "info"
    assert missing["evidence"] == {"provider": "openai", "fallback": None, "fallback_configured": False,
                                   "why": "no fallback provider is configured"}
    faults.inject(llm_lab, "llm-outage")
    result = ansible_module("llm_provider_info", args)
    assert result["status"] == "down" and ids(result) == ["llm.fallback_unavailable", "llm.provider_outage"]
    assert one(result, "llm.fallback_unavailable")["severity"] == "critical"


def test_unhealthy_fallback_is_reported_with_why(llm_lab, ansible_module):
    args = {"providers": providers(llm_lab, anthropic={"api_key": "sk-ant-revoked"}), "fallback": "anthropic"}
    result = ansible_module("llm_provider_info", args)
    assert result["status"] == "degraded" and result["fallback_healthy"] is False
    assert ids(result) == ["llm.fallback_unavailable", "llm.key_invalid"]
    assert one(result, "llm.key_invalid")["severity"] == "warning"
    unavailable = one(result, "llm.fallback_unavailable")
    assert unavailable["severity"] == "warning" and unavailable["evidence"]["fallback"] == "anthropic"
    assert "anthropic rejects the API key (401)" in unavailable["evidence"]["why"]
    assert "sk-ant-revoked" not in result["_stdout"]


def test_rate_limit_latency_and_status_page_degradation(llm_lab, ansible_module):
    llm.update_provider(llm_lab, "anthropic", api="rate_limited")
    llm.update_provider(llm_lab, "openai", latency_ms=300, component="degraded_performance")
    args = {"providers": providers(llm_lab), "fallback": "anthropic", "max_latency_ms": 100}
    result = ansible_module("llm_provider_info", args)
    assert ids(result) == ["llm.fallback_unavailable", "llm.provider_degraded", "llm.rate_limited"]
    assert result["status"] == "degraded"
    limited = one(result, "llm.rate_limited")["evidence"]
    assert (limited["provider"], limited["http_status"], limited["remaining"]) == ("anthropic", 429, 0)
    assert limited["retry_after"] >= 0
    why = one(result, "llm.provider_degraded")["evidence"]["why"]
    assert "minor (API component degraded_performance)" in why and "threshold 100 ms" in why


def test_unreachable_api_base_is_a_finding_not_a_failure(llm_lab, ansible_module):
    closed = f"http://127.0.0.1:{free_port()}/v1"
    result = ansible_module("llm_provider_info", {"providers": providers(llm_lab, anthropic={"api_base": closed}),
                                                  "fallback": "anthropic", "timeout": 3})
    assert not result["failed"] and "Traceback" not in result["_stdout"]
    unreachable = one(result, "llm.provider_unreachable")
    expected = {"provider": "anthropic", "target": "api", "api_status": None, "error": "connection refused"}
    assert unreachable["evidence"].items() >= expected.items()
    assert "llm.fallback_unavailable" in ids(result) and result["status"] == "degraded"
    primary_gone = ansible_module("llm_provider_info", {"providers": providers(llm_lab, openai={"api_base": closed})})
    assert primary_gone["status"] == "down"
    assert one(primary_gone, "llm.provider_outage")["evidence"]["api_status"] is None


@pytest.mark.parametrize(("change", "message"), [
    ({"primary": "gemini"}, "primary 'gemini' is not one of the providers (openai, anthropic)"),
    ({"fallback": "openai"}, "fallback 'openai' is the primary provider"),
    ({"providers": [{"name": "x", "type": "gemini", "api_base": "http://h/v1", "api_key": "k"}]}, "type"),
    ({"providers": [{"name": "x", "api_base": "ftp://h/v1", "api_key": "k"}]}, "providers[0].api_base must start"),
    ({"providers": [{"name": "x", "api_base": "http://h/v1"}]}, "api_key"),
    ({"providers": [{"name": "x", "api_base": "http://h/v1", "api_key": "sk-pasted\n"}]},
     "providers[0].api_key contains whitespace"),
])
def test_bad_arguments_fail_naming_the_option(llm_lab, ansible_module, change, message):
    result = ansible_module("llm_provider_info", {"providers": providers(llm_lab)} | change)
    assert result["failed"] and message in result["msg"]
    assert "Traceback" not in result["_stdout"]
