"""nginx (Debian's package) in front of the lab's application servers, as in production.

It balances across app-1 and app-2 on port 8000, passes a request on to the other server when one does not
answer, and writes the access and error logs that the runbook greps (Verification: 5xx in access.log;
Evidence: error.log). The lab's public `web` health endpoint goes through it.
"""

from __future__ import annotations

import shutil

from lab.core import Lab, LabError, free_port, http

SERVICE = "nginx"


def config(lab: Lab, port: int, servers: list[str]) -> str:
    folder = lab.path(SERVICE)
    temp = lab.path(SERVICE, "tmp")
    upstream = "\n".join(f"    server {server} max_fails=1 fail_timeout=5s;" for server in servers)
    return f"""# Written by the lab (lab/nginx.py)
worker_processes 1;
user root;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 512; }}
http {{
  access_log {folder}/access.log combined;
  client_body_temp_path {temp}/body;
  proxy_temp_path {temp}/proxy;
  fastcgi_temp_path {temp}/fastcgi;
  uwsgi_temp_path {temp}/uwsgi;
  scgi_temp_path {temp}/scgi;
  upstream pynomaly {{
{upstream}
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://pynomaly;
      proxy_connect_timeout 1s;
      proxy_read_timeout 10s;
      proxy_next_upstream error timeout http_502 http_503 http_504;
    }}
  }}
}}
"""


def up(lab: Lab, hosts: dict) -> dict:
    """Start nginx over the hosts' application ports; {} when the host tier is not there."""
    if not hosts.get("available"):
        return {}
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not shutil.which(binary):
        raise LabError("nginx is not installed (Debian package nginx)")
    port = free_port()
    servers = [f"{h['address']}:{hosts['app_port']}" for h in hosts["hosts"].values()]
    conf = lab.path(SERVICE) / "nginx.conf"
    conf.write_text(config(lab, port, servers))
    lab.spawn(SERVICE, [binary, "-c", str(conf), "-p", str(lab.path(SERVICE)), "-g", "daemon off;"])
    url = f"http://127.0.0.1:{port}"
    lab.wait_started(SERVICE, lambda: http(f"{url}/health", timeout=2)[0] is not None, 15, "nginx to answer")
    folder = lab.path(SERVICE)
    return {"url": url, "health_url": f"{url}/health", "access_log": str(folder / "access.log"),
            "error_log": str(folder / "error.log"), "upstreams": servers}


def down(lab: Lab) -> None:
    lab.stop(SERVICE)


def status(lab: Lab) -> str:
    info = lab.service(SERVICE)
    if not info:
        return "nginx down"
    code, _ = http(info["health_url"], timeout=3)
    return f"nginx {info['url']} -> {', '.join(info['upstreams'])} /health {code}"
