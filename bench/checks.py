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
    "rds_info": lambda lab: {**_aws(lab), "cluster_ids": [lab["aws"]["rds_cluster_id"]]},
    "elb_target_health_info": lambda lab: {**_aws(lab), "load_balancer_name": lab["aws"]["load_balancer_name"],
                                           "asg_name": lab["aws"]["asg_name"]},
    "elb_access_log_info": lambda lab: {**_aws(lab), "s3_bucket": lab["aws"]["access_log_bucket"],
                                        "s3_prefix": lab["aws"]["access_log_prefix"],
                                        "load_balancer_name": lab["aws"]["load_balancer_name"],
                                        "log_group_name": lab["aws"]["alb_log_group_name"], "window_minutes": 1440},
    "ec2_instance_info": lambda lab: {**_aws(lab), "asg_name": lab["aws"]["asg_name"]},
    "asg_info": lambda lab: {**_aws(lab), "asg_names": [lab["aws"]["asg_name"]]},
    "network_path_info": lambda lab: {**_aws(lab), "paths": [
        {"name": "alb-to-app", "source_load_balancer": lab["aws"]["load_balancer_name"],
         "destination_asg_name": lab["aws"]["asg_name"], "port": 8000}],
        "dns": ["localhost"], "connect": [f"{lab['postgres']['host']}:{lab['postgres']['port']}"]},
    "aws_health_info": lambda lab: {**_aws(lab), "endpoint_url": lab["aws_health"]["endpoint_url"],
                                    "regions": [lab["aws"]["region"]]},
    "route53_record_info": lambda lab: {**_aws(lab), "hosted_zone_id": lab["aws"]["hosted_zone_id"],
                                        "record_name": lab["aws"]["record_name"]},
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
    # Verification's monitoring checks (the verify role runs them, triage does not)
    "prometheus_query_info": lambda lab: {"url": lab["monitoring"]["prometheus_url"], "rate_window": "15s",
                                          "checks": ["targets_up", "error_rate_5xx", "latency_p95"]},
    "alertmanager_alerts_info": lambda lab: {"url": lab["monitoring"]["alertmanager_url"]},
    # The host tier: on an application server, over SSH (the triage role runs them on every server at once)
    "service_info": lambda lab: {"name": "pynomaly", "port": 8000},
    "host_resources_info": lambda lab: {"top": 5},
    "log_scan_info": lambda lab: {"paths": ["/var/log/pynomaly/application.log"], "unit": "pynomaly"},
}

# Checks the verify role runs on their own, outside incident_triage_info.
VERIFY_ONLY = {"prometheus_query_info", "alertmanager_alerts_info"}
# Checks that run on an application server, not in incident_triage_info: timed on the lab's first server.
ON_HOST = {"service_info", "host_resources_info", "log_scan_info"}


def target(name: str, lab: dict) -> str | None:
    """Where a check runs: the control node, or the lab's first application server (None: the lab has none)."""
    if name not in ON_HOST:
        return "localhost"
    tier = lab.get("hosts") or {}
    return min(tier["hosts"]) if tier.get("available") else None


def _aws(lab: dict) -> dict:
    return {key: lab["aws"][key] for key in ("region", "endpoint_url", "access_key", "secret_key")}


def _k8s(lab: dict) -> dict:
    return {key: lab["k8s"][key] for key in ("kubeconfig", "context", "namespace")}

AGGREGATE_ARGS = {
    "incident_triage_info": lambda singles: {"checks": {name.removesuffix("_info"): {"module": name, "args": args}
                                                        for name, args in singles.items()
                                                        if name not in VERIFY_ONLY | ON_HOST}},
}


def discover() -> list[str]:
    """The check modules of the collection (plugins/modules/*_info.py), by name."""
    return sorted(path.stem for path in MODULES.glob("*_info.py"))
