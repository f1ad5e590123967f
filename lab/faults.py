"""Faults the lab can inject and undo, one at a time, so a run shows detection,
diagnosis, remediation and recovery against real services."""

from __future__ import annotations

from lab import (
    app,
    asg_faults,
    aws_health_server,
    db_faults,
    dns_faults,
    elb_faults,
    host_faults,
    k8s_faults,
    llm,
    network_faults,
    notify_server,
    qdrant,
    rds_link,
    redis_pair,
)
from lab.core import Lab, LabError


def _break_app_down(lab: Lab) -> None:
    app.down(lab)


def _heal_app_down(lab: Lab) -> None:
    if not lab.alive("app"):
        app.start(lab, lab.service("app")["port"])


def _break_app_5xx(lab: Lab) -> None:
    app.fault_file(lab).write_text("5xx")


def _break_app_slow(lab: Lab) -> None:
    app.fault_file(lab).write_text("slow")


def _heal_app_switch(lab: Lab) -> None:
    app.fault_file(lab).write_text("")


def _break_redis_primary(lab: Lab) -> None:
    info = lab.service("redis")
    port = redis_pair.master_port(info)
    if port is None:
        raise LabError("no Redis node answers as master: nothing to take down")
    name = next(n["name"] for n in info["nodes"] if n["port"] == port)
    lab.stop(name)
    state = lab.load()
    state.setdefault("stopped_redis", []).append(name)
    lab.save(state)


def _heal_redis_primary(lab: Lab) -> None:
    state = lab.load()
    for name in state.pop("stopped_redis", []):
        if not lab.alive(name):
            redis_pair.restart_as_replica(lab, name)
    lab.save(state)


FAULTS = {
    "app-down": ("the demo application process is stopped", _break_app_down, _heal_app_down),
    "app-5xx": ("the demo application answers 500 to every request", _break_app_5xx, _heal_app_switch),
    "app-slow": ("the demo application answers every request 3 s late", _break_app_slow, _heal_app_switch),
    "redis-primary-down": ("the Redis master is stopped; the replica keeps the data",
                           _break_redis_primary, _heal_redis_primary),
    "redis-down": ("every Redis node is stopped and the cache is gone; no replica is left to promote",
                   redis_pair.stop_all, redis_pair.start_all),
    "db-connection-leak": ("the application's sessions are left idle in transaction until PostgreSQL is full",
                           db_faults.break_connection_leak, db_faults.heal_connection_leak),
    "rds-writer-down": ("the Aurora writer is stopped and the database it serves is down until a failover",
                        rds_link.break_writer_down, rds_link.heal_writer_down),
    "db-lock-pileup": ("a batch session holds an exclusive lock on detections; the application's queries wait",
                       db_faults.break_lock_pileup, db_faults.heal_lock_pileup),
    "bad-deploy": ("backend release 1.5.0 is rolled out and its pods crash-loop; the backend has no ready pod",
                   k8s_faults.break_bad_deploy, k8s_faults.heal_bad_deploy),
    "backend-crashloop": ("the backend's pods crash-loop on a deadlock; its template is fine (a restart fixes it)",
                          k8s_faults.break_backend_crashloop, k8s_faults.heal_backend_crashloop),
    "node-not-ready": ("node-2 stops reporting (NotReady, unreachable taints); its pods are not Ready",
                       k8s_faults.break_node_not_ready, k8s_faults.heal_node_not_ready),
    "redis-pod-down": ("pod redis-0 crash-loops; the backend logs \"Redis connection failed\"",
                       k8s_faults.break_redis_pod_down, k8s_faults.heal_redis_pod_down),
    "backend-at-capacity": ("the backend's HPA is capped at 4 replicas and at it; the load needs 6: it answers slowly",
                            k8s_faults.break_backend_at_capacity, k8s_faults.heal_backend_at_capacity),
    "qdrant-down": ("every qdrant pod crash-loops; Qdrant stops answering; backend logs \"Qdrant connection error\"",
                    qdrant.break_down, qdrant.heal_down),
    "qdrant-data-lost": ("Qdrant's collection documents is deleted; its snapshot files stay on the node",
                         qdrant.break_data_lost, qdrant.heal_data_lost),
    "llm-outage": ("the OpenAI API answers 503, its status page shows the API in major outage, backend logs errors",
                   llm.break_outage, llm.heal_outage),
    "llm-key-invalid": ("OpenAI rejects the lab's API key (401 invalid_api_key); its status page stays operational",
                        llm.break_key_invalid, llm.heal_key_invalid),
    "targets-unhealthy": ("the load balancer has no healthy target: 2 of the 3 app instances deregistered, 1 stopped",
                          elb_faults.break_targets_unhealthy, elb_faults.heal_targets_unhealthy),
    "region-primary-down": ("the primary region fails its Route 53 health check while it takes all the traffic",
                            dns_faults.break_region_primary_down, dns_faults.heal_region_primary_down),
    "sg-blocks-app-port": ("security group pynomaly-app loses its ingress rule tcp 8000 from the VPC",
                           network_faults.break_sg_blocks_app_port, network_faults.heal_sg_blocks_app_port),
    "nacl-deny": ("entry 50 of the pynomaly network ACL denies tcp 8000 inbound, before the allow-all entry 100",
                  network_faults.break_nacl_deny, network_faults.heal_nacl_deny),
    "asg-capacity-lost": ("pynomaly-asg has 2 of its 3 desired instances in service: a replacement launch failed",
                          asg_faults.break_asg_capacity_lost, asg_faults.heal_asg_capacity_lost),
    "asg-at-max": ("pynomaly-asg's maximum is lowered to its desired capacity (3): it cannot scale out",
                   asg_faults.break_asg_at_max, asg_faults.heal_asg_at_max),
    "aws-event": ("AWS Health shows an open EC2 operational issue in us-east-1",
                  aws_health_server.break_aws_event, aws_health_server.heal_aws_event),
    "notify-down": ("Slack and Statuspage both answer 503 (Service Unavailable): messages are not delivered",
                    notify_server.break_notify_down, notify_server.heal_notify_down),
    **host_faults.FAULTS,
}


def inject(lab: Lab, name: str) -> str:
    description, do_break, _ = _lookup(name)
    do_break(lab)
    state = lab.load()
    if name not in state.setdefault("faults", []):
        state["faults"].append(name)
    lab.save(state)
    return description


def heal(lab: Lab, name: str) -> None:
    _, _, do_heal = _lookup(name)
    do_heal(lab)
    state = lab.load()
    state["faults"] = [f for f in state.get("faults", []) if f != name]
    lab.save(state)


def _lookup(name: str):
    if name not in FAULTS:
        raise LabError(f"unknown fault {name!r}; known: {', '.join(sorted(FAULTS))}")
    return FAULTS[name]
