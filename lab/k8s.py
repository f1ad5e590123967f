"""The lab's Kubernetes: the API stand-in (lab/k8s_emulator.py) seeded with pubsec-info-assistant,
and the controller loop (lab/k8s_controller.py) that plays the controllers and kubelets.

What is seeded: lab/k8s_seed.py. Pod logs: <lab>/k8s/logs/<namespace>/<pod>.log
(lab/k8s_logs.py). The controller loop writes <lab>/k8s/workloads.json after every pass; a fault may
write <lab>/k8s/load.json, the load the backend must serve (see load_file).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import kubernetes
import yaml

from lab import k8s_logs
from lab.core import REPO_ROOT, Lab, free_port, http, read_json

NAMESPACE = "pubsec-info-assistant"
CONTEXT = "lab"
NODES = ("node-1", "node-2", "node-3")
CRASHLOOP = "lab.sre-runbooks/crashloop"  # the fault marker, on a pod template or a pod
CAUSE = "kubernetes.io/change-cause"
REVISION = "deployment.kubernetes.io/revision"
ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # of generated names and hashes, as the API server's


def up(lab: Lab) -> dict:
    """Start the Kubernetes API stand-in, write its kubeconfig, seed it; return its info."""
    pythonpath = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    if lab.alive("k8s") and lab.service("k8s"):
        if not lab.alive("k8s-controller"):
            _start_controller(lab, lab.service("k8s"), pythonpath)
        return lab.service("k8s")
    port, home = free_port(), lab.path("k8s")
    load_file(lab).unlink(missing_ok=True)  # a freshly seeded cluster serves no extra load
    logs_dir = lab.path("k8s", "logs")
    url = f"http://127.0.0.1:{port}"
    lab.spawn("k8s", [sys.executable, "-m", "lab.k8s_emulator", "--port", str(port), "--logs-dir", str(logs_dir)],
              env={"PYTHONPATH": pythonpath})
    info = {"url": url, "kubeconfig": str(home / "kubeconfig"), "context": CONTEXT,
            "namespace": NAMESPACE, "logs_dir": str(logs_dir)}
    lab.wait_started("k8s", lambda: http(f"{url}/version", timeout=1)[0] == 200, 30,
                     f"the Kubernetes API stand-in at {url}")
    try:  # k8s.up is also used alone (tests): a failed seed leaves nothing running
        _write_kubeconfig(home / "kubeconfig", url)
        from lab.k8s_seed import seed  # the seed is written with this module's names

        with api(info) as client:
            seed(client, logs_dir / NAMESPACE)
        _start_controller(lab, info, pythonpath)
    except Exception:
        down(lab)
        raise
    lab.set_service("k8s", info)
    return info


def down(lab: Lab) -> None:
    lab.stop("k8s-controller")
    lab.stop("k8s")


def status(lab: Lab) -> str:
    info = lab.service("k8s")
    if not lab.alive("k8s"):
        return "k8s: stopped"
    controller = f"controller pid {lab.pid('k8s-controller')}" if lab.alive("k8s-controller") else "controller stopped"
    return (f"k8s: running at {info.get('url')} (pid {lab.pid('k8s')}, {controller}), context {CONTEXT}, "
            f"namespace {NAMESPACE}")


def workloads_file(lab: Lab) -> Path:
    """What the controller loop last saw of each workload (written after every pass)."""
    return lab.path("k8s") / "workloads.json"


def load_file(lab: Lab) -> Path:
    """{"backend_pods_needed": n}: the backend is overloaded (slow) with fewer ready pods; absent: no such load."""
    return lab.path("k8s") / "load.json"


def workloads(lab: Lab) -> dict:
    """The workloads of workloads.json ({} when there is none yet)."""
    return read_json(workloads_file(lab), {}).get("workloads", {})


def append_pod_logs(lab: Lab, app: str, lines: list[str]) -> list[str]:
    """Append timestamped lines to the logs of every pod labelled app=<app>; return the pods' names."""
    info = lab.service("k8s")
    with api(info) as client:
        pods = kubernetes.client.CoreV1Api(client).list_namespaced_pod(NAMESPACE, label_selector=f"app={app}").items
    names = sorted(p.metadata.name for p in pods)
    k8s_logs.append(Path(info["logs_dir"]) / NAMESPACE, names, lines)
    return names


def _start_controller(lab: Lab, info: dict, pythonpath: str) -> None:
    state = workloads_file(lab)
    state.unlink(missing_ok=True)
    lab.spawn("k8s-controller", [sys.executable, "-m", "lab.k8s_controller", "--kubeconfig", info["kubeconfig"],
                                 "--context", CONTEXT, "--namespace", NAMESPACE, "--logs-dir", info["logs_dir"],
                                 "--state", str(state)], env={"PYTHONPATH": pythonpath})
    lab.wait_started("k8s-controller", state.exists, 30, "the Kubernetes controller loop's first pass")


def api(info: dict) -> kubernetes.client.ApiClient:
    """An ApiClient for the lab's own use, loaded from the lab's kubeconfig."""
    return kubernetes.config.new_client_from_config(
        config_file=info["kubeconfig"], context=info["context"], persist_config=False)


def _write_kubeconfig(path: Path, url: str) -> None:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": CONTEXT,
        "clusters": [{"name": CONTEXT, "cluster": {"server": url}}],
        "users": [{"name": "lab-admin", "user": {"token": "lab-token"}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": "lab-admin", "namespace": NAMESPACE}}],
    }, sort_keys=False))


def normalized(obj):
    """obj without its empty values, so that two spellings of one object compare equal."""
    if isinstance(obj, dict):
        items = {k: normalized(v) for k, v in obj.items()}
        return {k: v for k, v in items.items() if v not in (None, {}, [])}
    if isinstance(obj, list):
        return [normalized(v) for v in obj]
    return obj


def template_hash(template: dict) -> str:
    """The revision hash of a pod template (StatefulSet and DaemonSet controller-revision-hash)."""
    return name_hash(normalized(template))


def name_hash(*parts) -> str:
    """A pod-template-hash style suffix (10 characters of the API server's alphabet)."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).digest()
    return "".join(ALPHABET[byte % len(ALPHABET)] for byte in digest[:10])


def digest(text: str) -> str:
    """sha256 hex digest of a text (image digests, container ids, pod IPs)."""
    return hashlib.sha256(text.encode()).hexdigest()


def raw(response) -> dict:
    """The object of an API call made with _preload_content=False, as the API served it."""
    return json.loads(response.data)


def metadata(obj: dict) -> dict:
    """An object's metadata (added, empty, when it has none)."""
    return obj.setdefault("metadata", {})


def owner_uid(obj: dict) -> str | None:
    """The uid of the object's controller (its ownerReference with controller: true)."""
    return next((ref.get("uid") for ref in metadata(obj).get("ownerReferences") or [] if ref.get("controller")), None)


def revision(rs: dict) -> int:
    """A ReplicaSet's deployment revision (0 when it has none)."""
    try:
        return int((metadata(rs).get("annotations") or {}).get(REVISION, 0))
    except ValueError:
        return 0
