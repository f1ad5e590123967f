"""The lab's LLM provider stand-in over HTTP: OpenAI- and Anthropic-shaped APIs, their status pages, its faults."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from kubernetes.client import CoreV1Api

from lab import faults, k8s, llm


def call(url: str, headers: dict | None = None) -> tuple[int, dict, dict]:
    """(status, lower-cased headers, JSON body) of one GET."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, json.loads(exc.read())


def openai_models(info: dict, key: str | None = None) -> tuple[int, dict, dict]:
    provider = info["providers"]["openai"]
    return call(f"{provider['api_base']}/models", {"Authorization": f"Bearer {key or provider['api_key']}"})


def anthropic_models(info: dict, key: str | None = None, version: str | None = "2023-06-01"):
    provider = info["providers"]["anthropic"]
    headers = {"x-api-key": key or provider["api_key"]} | ({"anthropic-version": version} if version else {})
    return call(f"{provider['api_base']}/models", headers)


def api_component(info: dict, name: str) -> tuple[str, str]:
    code, _, body = call(info["providers"][name]["status_url"])
    assert code == 200
    return body["status"]["indicator"], next(c["status"] for c in body["components"] if c["name"] == "API")


def backend_logs(lab) -> str:
    info = lab.service("k8s")
    with k8s.api(info) as client:
        core = CoreV1Api(client)
        pods = core.list_namespaced_pod(info["namespace"], label_selector="app=backend").items
        return "\n".join(core.read_namespaced_pod_log(p.metadata.name, info["namespace"]) for p in pods)


@pytest.fixture
def info(lab):
    info = lab.service("llm")
    yield info
    for name in ("llm-outage", "llm-key-invalid"):
        faults.heal(lab, name)


def test_lab_json_describes_both_providers(info):
    assert set(info["providers"]) == {"openai", "anthropic"}
    for name, provider in info["providers"].items():
        assert provider["type"] == name
        assert provider["api_base"] == f"{info['url']}/{name}/v1"
        assert provider["status_url"] == f"{info['url']}/status/{name}/api/v2/summary.json"
        assert provider["api_key"] and provider["model"]


def test_openai_models_answer_with_rate_limit_headers(info):
    code, headers, body = openai_models(info)
    assert code == 200 and body["object"] == "list"
    assert info["providers"]["openai"]["model"] in [m["id"] for m in body["data"]]
    assert int(headers["x-ratelimit-limit-requests"]) > int(headers["x-ratelimit-remaining-requests"]) >= 0
    assert headers["x-ratelimit-reset-requests"].endswith("s")


def test_openai_rejects_an_unknown_key_like_openai(info):
    code, _, body = openai_models(info, key="sk-not-a-lab-key-0000")
    assert code == 401
    assert body["error"]["type"] == "invalid_request_error" and body["error"]["code"] == "invalid_api_key"
    assert "sk-not-a-lab-key-0000" not in body["error"]["message"]


def test_anthropic_models_need_key_and_version(info):
    code, headers, body = anthropic_models(info)
    assert code == 200 and body["has_more"] is False and body["data"][0]["type"] == "model"
    assert int(headers["anthropic-ratelimit-requests-remaining"]) >= 0
    assert headers["anthropic-ratelimit-requests-reset"].endswith("Z")
    code, _, body = anthropic_models(info, key="sk-ant-wrong")
    assert code == 401 and body == {"type": "error", "error": {"type": "authentication_error",
                                                               "message": "invalid x-api-key"}}
    code, _, body = anthropic_models(info, version=None)
    assert code == 400 and body["error"]["type"] == "invalid_request_error"


def test_status_pages_are_statuspage_shaped(info):
    for name in ("openai", "anthropic"):
        assert api_component(info, name) == ("none", "operational")
        status_url = info["providers"][name]["status_url"].replace("summary.json", "status.json")
        code, _, body = call(status_url)
        assert code == 200 and body["status"] == {"indicator": "none", "description": "All Systems Operational"}


def test_over_the_rate_limit_answers_429(lab, info):
    llm.update_provider(lab, "anthropic", rpm=1)
    try:
        codes = [anthropic_models(info)[0] for _ in range(3)]
        code, headers, body = anthropic_models(info)
    finally:
        llm.update_provider(lab, "anthropic", rpm=4000)
    assert 429 in codes and code == 429
    assert body["error"]["type"] == "rate_limit_error"
    assert headers["anthropic-ratelimit-requests-remaining"] == "0" and int(headers["retry-after"]) >= 0


def test_llm_outage_breaks_openai_and_heals(lab, info):
    faults.inject(lab, "llm-outage")
    code, _, body = openai_models(info)
    assert code == 503 and body["error"]["type"] == "server_error"
    assert api_component(info, "openai") == ("major", "major_outage")
    _, _, summary = call(info["providers"]["openai"]["status_url"])
    assert summary["incidents"][0]["impact"] == "major"
    assert anthropic_models(info)[0] == 200
    assert "OpenAI API error: 503 Service Unavailable" in backend_logs(lab)
    assert "llm-outage" in lab.load()["faults"]
    faults.heal(lab, "llm-outage")
    assert openai_models(info)[0] == 200
    assert api_component(info, "openai") == ("none", "operational")
    assert call(f"{info['url']}/lab/state")[2]["openai"]["incident"] is None


def test_llm_key_invalid_rejects_the_lab_key_and_heals(lab, info):
    faults.inject(lab, "llm-key-invalid")
    code, _, body = openai_models(info)
    assert code == 401 and body["error"]["code"] == "invalid_api_key"
    assert info["providers"]["openai"]["api_key"] not in body["error"]["message"]
    assert api_component(info, "openai") == ("none", "operational")
    assert "openai api ok, API component operational, key REJECTED" in llm.status(lab)
    faults.heal(lab, "llm-key-invalid")
    assert openai_models(info)[0] == 200
    assert "REJECTED" not in llm.status(lab)
