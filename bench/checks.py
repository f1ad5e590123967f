"""The check modules the benchmark times one by one, and the arguments each needs from the lab.

Every module named *_info in plugins/modules/ is a check. A check is timed alone when CHECK_ARGS has a line
for it: a function from the lab's services (lab.json's "services") to the module's arguments. A new tier
adds its line here; a check without one is listed as not measured.

A module that runs several checks in one process (incident_triage_info) is timed too, with every single check
of CHECK_ARGS, but it is not a single check: AGGREGATE_ARGS builds its arguments from theirs.
"""

from __future__ import annotations

from pathlib import Path

MODULES = Path(__file__).resolve().parent.parent / "plugins" / "modules"

CHECK_ARGS = {
    "http_health_info": lambda lab: {"endpoints": [{"name": "api", "url": lab["app"]["health_url"]}]},
    "redis_info": lambda lab: {"nodes": lab["redis"]["nodes"], "password": lab["redis"]["password"]},
    "postgres_info": lambda lab: {"login_host": lab["postgres"]["host"], "login_port": lab["postgres"]["port"],
                                  "login_user": lab["postgres"]["admin_user"],
                                  "login_db": lab["postgres"]["database"]},
    "rds_info": lambda lab: {"cluster_ids": [lab["aws"]["rds_cluster_id"]], "region": lab["aws"]["region"],
                             "endpoint_url": lab["aws"]["endpoint_url"], "access_key": lab["aws"]["access_key"],
                             "secret_key": lab["aws"]["secret_key"]},
    "k8s_cluster_info": lambda lab: _k8s(lab),
    "k8s_workload_info": lambda lab: _k8s(lab),
    "k8s_pod_logs_info": lambda lab: {**_k8s(lab), "deployment": "backend", "patterns": {
        "qdrant_connection_error": "Qdrant connection error", "redis_connection_failed": "Redis connection failed",
        "openai_api_error": "OpenAI API error"}},
    "qdrant_info": lambda lab: {"url": lab["qdrant"]["url"], "api_key": lab["qdrant"]["api_key"],
                                "expected_collections": lab["qdrant"]["collections"]},
    "llm_provider_info": lambda lab: {"providers": [{"name": name, **provider}
                                                    for name, provider in lab["llm"]["providers"].items()],
                                      "primary": "openai", "fallback": "anthropic"},
}


def _k8s(lab: dict) -> dict:
    return {key: lab["k8s"][key] for key in ("kubeconfig", "context", "namespace")}

AGGREGATE_ARGS = {
    "incident_triage_info": lambda singles: {"checks": {name.removesuffix("_info"): {"module": name, "args": args}
                                                        for name, args in singles.items()}},
}


def discover() -> list[str]:
    """The check modules of the collection (plugins/modules/*_info.py), by name."""
    return sorted(path.stem for path in MODULES.glob("*_info.py"))
