"""The demo application as a lab service (see lab/demo_app.py for what it serves)."""

from __future__ import annotations

import json
import sys

from lab import k8s
from lab.core import REPO_ROOT, Lab, free_port, http


def config_path(lab: Lab):
    return lab.path("app") / "config.json"


def fault_file(lab: Lab):
    return lab.path("app") / "fault"


def write_config(lab: Lab, postgres: dict, redis_info: dict) -> None:
    """The app's config: its databases, the fault switch, the emulated backend's workloads.json and
    load.json and, when the lab runs them, the Qdrant and LLM stand-ins it depends on."""
    config = {
        "postgres": {k: postgres[k] for k in ("host", "port", "user", "password", "database")},
        "redis": {"nodes": [{"host": n["host"], "port": n["port"]} for n in redis_info["nodes"]],
                  "password": redis_info["password"], "keys": redis_info["app_keys"]},
        "fault_file": str(fault_file(lab)),
        "slow_seconds": 3,
        "workloads_file": str(k8s.workloads_file(lab)),
        "load_file": str(k8s.load_file(lab)),
    }
    qdrant = lab.service("qdrant")
    if qdrant.get("url"):
        config["qdrant"] = {"url": qdrant["url"], "api_key": qdrant.get("api_key", ""),
                            "collections": qdrant.get("collections", [])}
    llm = lab.service("llm")
    if llm.get("providers"):
        config["llm"] = {"providers": llm["providers"]}
    config_path(lab).write_text(json.dumps(config, indent=2))


def start(lab: Lab, port: int) -> None:
    lab.spawn("app", [sys.executable, "-m", "lab.demo_app", "--port", str(port), "--config", str(config_path(lab))],
              env={"PYTHONPATH": str(REPO_ROOT)})
    lab.wait_started("app", lambda: http(f"http://127.0.0.1:{port}/health")[0] is not None, 15,
                     "the demo application to answer")


def up(lab: Lab, postgres: dict, redis_info: dict) -> dict:
    write_config(lab, postgres, redis_info)
    fault_file(lab).write_text("")
    port = free_port()
    start(lab, port)
    return {"port": port, "url": f"http://127.0.0.1:{port}", "health_url": f"http://127.0.0.1:{port}/health",
            "log": str(lab.logfile("app"))}


def down(lab: Lab) -> None:
    lab.stop("app")


def status(lab: Lab) -> str:
    info = lab.service("app")
    if not info:
        return "app down"
    code, body = http(info["health_url"])
    if code is None:
        return f"app not answering on {info['url']}"
    return f"app {info['url']} /health {code} {body.strip()[:120]}"
