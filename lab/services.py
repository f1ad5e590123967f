"""Start, stop and describe the whole lab, in dependency order."""

from __future__ import annotations

from lab import (
    app,
    aws,
    aws_health_server,
    hosts,
    k8s,
    llm,
    monitoring,
    nginx,
    notify_server,
    postgres,
    qdrant,
    redis_pair,
)
from lab.core import Lab, LabError


def up(lab: Lab) -> dict:
    """Start every service that is not running yet; stop what was started if one fails."""
    state = lab.load()
    if state["services"].get("app") and lab.alive("app"):
        return state
    try:
        lab.set_service("postgres", postgres.up(lab))
        lab.set_service("redis", redis_pair.up(lab))
        lab.set_service("aws", aws.up(lab))
        lab.set_service("aws_health", aws_health_server.up(lab))
        lab.set_service("k8s", k8s.up(lab))
        lab.set_service("qdrant", qdrant.up(lab))
        lab.set_service("llm", llm.up(lab))
        lab.set_service("notify", notify_server.up(lab))
        lab.set_service("app", app.up(lab, lab.service("postgres"), lab.service("redis")))
        lab.set_service("hosts", hosts.up(lab, lab.service("postgres"), lab.service("redis")))
        lab.set_service("nginx", nginx.up(lab, lab.service("hosts")))
        lab.set_service("monitoring", monitoring.up(lab))  # scrapes the app, Qdrant and the exporters: last
    except Exception as exc:  # whatever failed (a client library's own error too), undo it all
        down(lab)
        raise LabError(f"lab up failed and was undone: {exc}") from exc
    return lab.load()


def down(lab: Lab) -> None:
    errors = []
    for stop in (monitoring.down, nginx.down, hosts.down, app.down, notify_server.down, llm.down, qdrant.down,
                 k8s.down, aws_health_server.down,
                 aws.down, redis_pair.down, postgres.down):
        try:
            stop(lab)
        except (LabError, OSError) as exc:
            errors.append(str(exc))
    # Whatever else the lab started (fault helpers, the RDS endpoint loop) goes too.
    for pidfile in sorted((lab.root / "run").glob("*.pid")):
        lab.stop(pidfile.stem)
    state = lab.load()
    state["services"], state["faults"] = {}, []
    state.pop("stopped_redis", None)
    lab.save(state)
    if errors:
        raise LabError("; ".join(errors))


def status(lab: Lab) -> list[str]:
    return [module.status(lab) for module in (postgres, redis_pair, aws, aws_health_server, k8s, qdrant, llm,
                                              notify_server, app, hosts, nginx, monitoring)]
