"""The LLM providers as a lab service: a stand-in for OpenAI and Anthropic and their status pages.

No real LLM provider can be reached or paid for from the lab, so the lab runs lab/llm_server.py, which serves
OpenAI- and Anthropic-shaped APIs and Statuspage-shaped status JSON for both, and keeps which provider is broken
how in <lab>/llm/state.json. lab.json's "llm" service gives, per provider, what the application is configured
with: type, api_base, api_key (made up per lab), model and status_url. The faults only rewrite the state file:

- llm-outage: the OpenAI API answers 503, its status page shows the API component in major outage with an
  open incident, and the backend pods log "OpenAI API error: 503 Service Unavailable";
- llm-key-invalid: OpenAI no longer accepts the lab's key (401 invalid_api_key); its status page stays green.
"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

from lab import k8s
from lab.core import REPO_ROOT, Lab, free_port, http, write_json
from lab.llm_server import PROVIDERS, STARTED, now, read_state


def state_path(lab: Lab) -> Path:
    return lab.path("llm") / "state.json"


def healthy_state(keys: dict) -> dict:
    return {name: {"api": "ok", "component": "operational", "keys": [keys[name]], "rpm": spec["rpm"],
                   "latency_ms": 0, "incident": None, "updated_at": STARTED} for name, spec in PROVIDERS.items()}


def up(lab: Lab) -> dict:
    """Start the stand-in with every provider healthy; return lab.json's "llm" service."""
    if lab.alive("llm") and lab.service("llm"):
        return lab.service("llm")
    keys = {"openai": f"sk-lab-{secrets.token_hex(20)}", "anthropic": f"sk-ant-lab-{secrets.token_hex(20)}"}
    write_json(state_path(lab), healthy_state(keys))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    lab.spawn("llm", [sys.executable, "-m", "lab.llm_server", "--port", str(port),
                      "--state-file", str(state_path(lab))], env={"PYTHONPATH": str(REPO_ROOT)})
    lab.wait_started("llm", lambda: http(f"{url}/lab/state")[0] == 200, 15, f"the LLM provider stand-in at {url}")
    models = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-20241022"}
    providers = {name: {"type": name, "api_base": f"{url}/{name}/v1", "api_key": keys[name], "model": models[name],
                        "status_url": f"{url}/status/{name}/api/v2/summary.json"} for name in PROVIDERS}
    return {"url": url, "port": port, "state_file": str(state_path(lab)), "providers": providers}


def down(lab: Lab) -> None:
    lab.stop("llm")


def status(lab: Lab) -> str:
    info = lab.service("llm")
    if not info or not lab.alive("llm"):
        return "llm: stopped"
    code, body = http(f"{info['url']}/lab/state")
    if code != 200:
        return f"llm: not answering on {info['url']}"
    state = json.loads(body)
    parts = [f"{name} api {p['api']}, API component {p['component']}, "
             f"key {'accepted' if info['providers'][name]['api_key'] in p['keys'] else 'REJECTED'}"
             for name, p in state.items()]
    return f"llm: stand-in at {info['url']} (pid {lab.pid('llm')}): " + "; ".join(parts)


def update_provider(lab: Lab, name: str, **changes) -> dict:
    """Change one provider's state (what a fault does); returns the new provider state."""
    path = Path(lab.service("llm")["state_file"])
    state = read_state(path)
    state[name].update(changes, updated_at=now())
    write_json(path, state)
    return state[name]


# -- faults ------------------------------------------------------------------------------------------------
def break_outage(lab: Lab) -> None:
    incident = {"id": "lab-incident-1", "name": "Elevated error rates on the API", "status": "investigating",
                "impact": "major", "created_at": now(), "updated_at": now(), "shortlink": None,
                "incident_updates": [{"status": "investigating", "body": "We are investigating elevated error "
                                      "rates affecting API requests.", "created_at": now()}]}
    update_provider(lab, "openai", api="outage", component="major_outage", incident=incident)
    k8s.append_pod_logs(lab, "backend", [
        "ERROR app.llm OpenAI API error: 503 Service Unavailable (POST /v1/chat/completions)",
        "ERROR app.api query failed: OpenAI API error: 503 Service Unavailable"])


def heal_outage(lab: Lab) -> None:
    update_provider(lab, "openai", api="ok", component="operational", incident=None)


def break_key_invalid(lab: Lab) -> None:
    key = lab.service("llm")["providers"]["openai"]["api_key"]
    provider = read_state(Path(lab.service("llm")["state_file"]))["openai"]
    update_provider(lab, "openai", keys=[k for k in provider["keys"] if k != key])
    k8s.append_pod_logs(lab, "backend", [
        "ERROR app.llm OpenAI API error: 401 Unauthorized: Incorrect API key provided"])


def heal_key_invalid(lab: Lab) -> None:
    key = lab.service("llm")["providers"]["openai"]["api_key"]
    provider = read_state(Path(lab.service("llm")["state_file"]))["openai"]
    if key not in provider["keys"]:
        update_provider(lab, "openai", keys=[*provider["keys"], key])
