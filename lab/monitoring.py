"""Monitoring as a lab service: real Prometheus and Alertmanager (Debian's packages), with real exporters.

Nothing here is a stand-in. ``up`` writes their configuration under <lab>/monitoring/ and starts, on free
loopback ports, with a data directory of their own (emptied at every ``up``: the lab is throwaway), and returns
once every target has been scraped once (about 6 s: Prometheus hands new targets to its scrapers every 5 s):

- prometheus-redis-exporter (every Redis node of the lab, multi-target) and prometheus-postgres-exporter
  (the lab's PostgreSQL, as its superuser);
- Alertmanager (``prometheus-alertmanager``), no cluster gossip; every alert goes to the webhook of
  lab.json's ``services.eda.webhook_url`` when the lab has one, else to a receiver that sends nothing;
- Prometheus, which scrapes every second: ``app`` (the demo application's /metrics), ``qdrant`` (the Qdrant
  stand-in's /metrics, with its API key as Qdrant asks), ``redis``, ``postgres``, ``alertmanager`` and
  ``prometheus``; and evaluates, every second, the runbooks' alert rules of lab/monitoring/rules.yml.

Postinst scripts of the packages would start system instances where init allows it; the lab never uses them.
lab.json's service "monitoring" is ``{prometheus_url, alertmanager_url, rules, jobs, config_dir, webhook_url}``.
Start it after the app and Qdrant (it reads their ports from lab.json).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from lab.core import Lab, LabError, free_port, http

RULES = Path(__file__).resolve().parent / "monitoring" / "rules.yml"
HINT = "install Debian's prometheus, prometheus-alertmanager and exporter packages (make setup does)"
BINARIES = {"prometheus": "prometheus", "alertmanager": "prometheus-alertmanager",
            "redis-exporter": "prometheus-redis-exporter", "postgres-exporter": "prometheus-postgres-exporter"}
PROCESSES = ("prometheus", "alertmanager", "redis-exporter", "postgres-exporter")  # stopped in this order
SCRAPE_INTERVAL = "1s"
EXPORTER_INTERVAL = "2s"
START_TIMEOUT = 30


def binary(name: str) -> str:
    found = shutil.which(BINARIES[name])
    if not found:
        raise LabError(f"{BINARIES[name]} not found: {HINT}")
    return found


def config_dir(lab: Lab) -> Path:
    return lab.path("monitoring")


def rule_names() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule]


def _address(url: str) -> str:
    return url.split("://", 1)[-1].rstrip("/")


def prometheus_config(lab: Lab, ports: dict) -> dict:
    """prometheus.yml: the lab's scrape jobs and the runbooks' rules."""
    folder = config_dir(lab)
    jobs = [{"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{ports['prometheus']}"]}]},
            {"job_name": "alertmanager", "static_configs": [{"targets": [f"127.0.0.1:{ports['alertmanager']}"]}]}]
    app = lab.service("app")
    if app.get("url"):
        jobs.append({"job_name": "app", "static_configs": [{"targets": [_address(app["url"])],
                                                            "labels": {"service": "pynomaly"}}]})
    qdrant = lab.service("qdrant")
    if qdrant.get("url"):
        key_file = folder / "qdrant-api-key"
        key_file.touch(mode=0o600)
        key_file.write_text(qdrant.get("api_key", ""))
        job = {"job_name": "qdrant", "static_configs": [{"targets": [_address(qdrant["url"])]}]}
        if qdrant.get("api_key"):
            job["authorization"] = {"type": "Bearer", "credentials_file": str(key_file)}
        jobs.append(job)
    redis_info = lab.service("redis")
    if ports.get("redis-exporter"):
        jobs.append({"job_name": "redis", "scrape_interval": EXPORTER_INTERVAL, "scrape_timeout": EXPORTER_INTERVAL,
                     "metrics_path": "/scrape",
                     "static_configs": [{"targets": [f"redis://{n['host']}:{n['port']}"], "labels": {"node": n["name"]}}
                                        for n in redis_info["nodes"]],
                     "relabel_configs": [
                         {"source_labels": ["__address__"], "target_label": "__param_target"},
                         {"source_labels": ["__param_target"], "target_label": "instance"},
                         {"target_label": "__address__", "replacement": f"127.0.0.1:{ports['redis-exporter']}"}]})
    if ports.get("postgres-exporter"):
        jobs.append({"job_name": "postgres", "scrape_interval": EXPORTER_INTERVAL, "scrape_timeout": EXPORTER_INTERVAL,
                     "static_configs": [{"targets": [f"127.0.0.1:{ports['postgres-exporter']}"]}]})
    return {"global": {"scrape_interval": SCRAPE_INTERVAL, "scrape_timeout": SCRAPE_INTERVAL,
                       "evaluation_interval": SCRAPE_INTERVAL, "external_labels": {"environment": "lab"}},
            "rule_files": [str(RULES)],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{ports['alertmanager']}"]}]}]},
            "scrape_configs": jobs}


def alertmanager_config(webhook_url: str | None) -> dict:
    """alertmanager.yml: group fast (a drill lasts minutes), send to the lab's webhook when there is one."""
    receiver = {"name": "lab-webhook", "webhook_configs": [{"url": webhook_url, "send_resolved": True}]} \
        if webhook_url else {"name": "null"}
    return {"route": {"receiver": receiver["name"], "group_by": ["alertname"], "group_wait": "1s",
                      "group_interval": "5s", "repeat_interval": "1h"},
            "receivers": [receiver]}


def _write(path: Path, data: dict) -> None:
    path.touch(mode=0o600)  # the webhook URL and the API key file path are nobody else's business
    path.write_text("# Written by lab/monitoring.py at `lab up`; rewritten at the next one.\n"
                    + yaml.safe_dump(data, sort_keys=False))


def _ready(url: str) -> bool:
    return http(f"{url}/-/ready", timeout=1)[0] == 200


def _scraped(url: str) -> bool:
    code, body = http(f"{url}/api/v1/targets?state=active", timeout=1)
    targets = json.loads(body)["data"]["activeTargets"] if code == 200 else []
    return bool(targets) and all(t["health"] != "unknown" for t in targets)


def _exporters(lab: Lab, ports: dict) -> None:
    redis_info, postgres = lab.service("redis"), lab.service("postgres")
    if redis_info.get("nodes"):
        ports["redis-exporter"] = free_port()
        # An empty -redis.addr: the exporter only scrapes the targets Prometheus names (/scrape?target=).
        lab.spawn("redis-exporter", [binary("redis-exporter"), "-web.listen-address",
                                     f"127.0.0.1:{ports['redis-exporter']}", "-redis.addr", ""],
                  env={"REDIS_PASSWORD": redis_info.get("password", "")})
    if postgres.get("port"):
        ports["postgres-exporter"] = free_port()
        dsn = (f"postgresql://{postgres.get('admin_user', 'postgres')}@{postgres['host']}:{postgres['port']}/postgres"
               "?sslmode=disable&application_name=postgres_exporter")
        lab.spawn("postgres-exporter", [binary("postgres-exporter"),
                                        f"--web.listen-address=127.0.0.1:{ports['postgres-exporter']}"],
                  env={"DATA_SOURCE_NAME": dsn})
    for name in ("redis-exporter", "postgres-exporter"):
        if name in ports:
            url = f"http://127.0.0.1:{ports[name]}/metrics"
            lab.wait_started(name, lambda u=url: http(u, timeout=1)[0] == 200, START_TIMEOUT, f"{name} at {url}")


def up(lab: Lab) -> dict:
    """Start the exporters, Alertmanager, then Prometheus; return lab.json's "monitoring" service."""
    if lab.alive("prometheus") and lab.service("monitoring"):
        return lab.service("monitoring")
    folder = config_dir(lab)
    for data in ("prometheus-data", "alertmanager-data"):
        shutil.rmtree(folder / data, ignore_errors=True)
    ports = {"prometheus": free_port(), "alertmanager": free_port()}
    webhook = (lab.service("eda") or {}).get("webhook_url")
    try:
        _exporters(lab, ports)
        _write(folder / "alertmanager.yml", alertmanager_config(webhook))
        _write(folder / "prometheus.yml", prometheus_config(lab, ports))
        am_url, prom_url = (f"http://127.0.0.1:{ports[n]}" for n in ("alertmanager", "prometheus"))
        lab.spawn("alertmanager", [binary("alertmanager"), f"--config.file={folder / 'alertmanager.yml'}",
                                   f"--storage.path={lab.path('monitoring', 'alertmanager-data')}",
                                   f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
                                   "--cluster.listen-address=", "--log.level=warn"])
        lab.wait_started("alertmanager", lambda: _ready(am_url), START_TIMEOUT, f"Alertmanager at {am_url}")
        lab.spawn("prometheus", [binary("prometheus"), f"--config.file={folder / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={lab.path('monitoring', 'prometheus-data')}",
                                 f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
                                 "--storage.tsdb.retention.time=1d", "--web.enable-lifecycle",
                                 "--rules.alert.resend-delay=2s", "--log.level=warn"])
        lab.wait_started("prometheus", lambda: _ready(prom_url), START_TIMEOUT, f"Prometheus at {prom_url}")
        # Prometheus hands new targets to its scrapers after up to 5 s; wait for the first scrape of each.
        lab.wait_started("prometheus", lambda: _scraped(prom_url), START_TIMEOUT, "the first scrape of every target")
    except Exception:
        down(lab)
        raise
    jobs = [job["job_name"] for job in yaml.safe_load((folder / "prometheus.yml").read_text())["scrape_configs"]]
    return {"prometheus_url": prom_url, "alertmanager_url": am_url, "rules": rule_names(), "jobs": jobs,
            "config_dir": str(folder), "webhook_url": webhook,
            "exporters": {name: f"http://127.0.0.1:{ports[name]}" for name in ("redis-exporter", "postgres-exporter")
                          if name in ports}}


def set_webhook(lab: Lab, url: str | None) -> None:
    """Send the alerts to another webhook (or nowhere), for a service started after monitoring; reloads."""
    info = lab.service("monitoring")
    if not info:
        raise LabError("monitoring is not running")
    _write(Path(info["config_dir"]) / "alertmanager.yml", alertmanager_config(url))
    code, body = http(f"{info['alertmanager_url']}/-/reload", "POST", timeout=5)
    if code != 200:
        raise LabError(f"Alertmanager did not reload its configuration ({code}): {body.strip()[:200]}")
    lab.set_service("monitoring", dict(info, webhook_url=url))


def down(lab: Lab) -> None:
    for name in PROCESSES:
        lab.stop(name)


def status(lab: Lab) -> str:
    info = lab.service("monitoring")
    if not info or not lab.alive("prometheus"):
        return "monitoring: stopped"
    code, body = http(f"{info['prometheus_url']}/api/v1/targets?state=active", timeout=2)
    if code != 200:
        return f"monitoring: Prometheus at {info['prometheus_url']} not answering ({body.strip()[:80]})"
    targets = json.loads(body)["data"]["activeTargets"]
    healthy = sum(t["health"] == "up" for t in targets)
    down_jobs = sorted({t["labels"].get("job", "?") for t in targets if t["health"] != "up"})
    code, body = http(f"{info['alertmanager_url']}/api/v2/alerts?silenced=false&inhibited=false", timeout=2)
    alerts = sorted({a["labels"].get("alertname", "?") for a in json.loads(body)}) if code == 200 else None
    prometheus = (f"Prometheus {info['prometheus_url']} ({healthy}/{len(targets)} targets up"
                  + (f"; down: {', '.join(down_jobs)})" if down_jobs else ")"))
    firing = "not answering" if alerts is None else f"firing: {', '.join(alerts) or 'none'}"
    return f"monitoring: {prometheus}, Alertmanager {info['alertmanager_url']} ({firing})"
