"""Pod and node states of the lab's Kubernetes, as a scheduler and kubelets would report them.

Used by the controller loop (lab/k8s_controller.py): pure functions from objects (dicts as the
API serves them) to the status a pod should show next.
"""

from __future__ import annotations

import datetime

from lab.k8s import CRASHLOOP, digest

NO_SCHEDULE = ("NoSchedule", "NoExecute")


def now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(kind: str, ok: bool, when: str, reason: str | None = None, message: str | None = None) -> dict:
    found = {"type": kind, "status": "True" if ok else "False", "lastTransitionTime": when}
    return found | ({"reason": reason} if reason else {}) | ({"message": message} if message else {})


def node_ready(node: dict | None) -> bool:
    conditions = ((node or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def schedulable(node: dict) -> bool:
    spec = node.get("spec") or {}
    tainted = any(t.get("effect") in NO_SCHEDULE for t in spec.get("taints") or [])
    return node_ready(node) and not spec.get("unschedulable") and not tainted


def pod_ready(pod: dict) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def crashlooping(pod: dict) -> bool:
    return any(((s.get("state") or {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff"
               for s in (pod.get("status") or {}).get("containerStatuses") or [])


def marked_crashloop(obj: dict) -> bool:
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(CRASHLOOP) == "true"


def state(pod: dict) -> str:
    """pending, crashloop, ready or not-ready (Running but not Ready)."""
    status = pod.get("status") or {}
    if status.get("phase") in (None, "Pending"):
        return "pending"
    if crashlooping(pod):
        return "crashloop"
    return "ready" if pod_ready(pod) else "not-ready"


def _addresses(pod: dict, node: dict | None) -> dict:
    if not node:
        return {}
    host = next((a["address"] for a in (node.get("status") or {}).get("addresses") or []
                 if a.get("type") == "InternalIP"), None)
    cidr = (node.get("spec") or {}).get("podCIDR", "10.244.9.0/24")
    ip = f"{cidr.rsplit('.', 1)[0]}.{10 + int(digest(pod['metadata']['name'])[:6], 16) % 240}"
    return {"hostIP": host, "podIP": ip, "podIPs": [{"ip": ip}]}


def _containers(pod: dict, old: dict, ready: bool, **fields) -> list[dict]:
    previous = {s.get("name"): s for s in old.get("containerStatuses") or []}
    statuses = []
    for container in (pod.get("spec") or {}).get("containers") or []:
        image = container.get("image", "")
        before = previous.get(container["name"], {})
        entry = {"name": container["name"], "image": image, "imageID": f"{image.split(':')[0]}@sha256:{digest(image)}",
                 "containerID": f"containerd://{digest(pod['metadata']['name'] + str(before.get('restartCount')))}",
                 "ready": ready, "started": ready, "restartCount": before.get("restartCount", 0)}
        if before.get("lastState"):
            entry["lastState"] = before["lastState"]
        statuses.append(entry | fields)
    return statuses


def _not_ready(names: list[str], when: str) -> list[dict]:
    message = f"containers with unready status: [{' '.join(names)}]"
    return [condition("ContainersReady", False, when, "ContainersNotReady", message),
            condition("Ready", False, when, "ContainersNotReady", message)]


def pending(pod: dict, node: dict | None, reason: str = "") -> dict:
    """Scheduled and creating its containers, or (node None) not schedulable: `reason` says why."""
    when = now()
    names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    scheduled = condition("PodScheduled", True, when) if node else condition(
        "PodScheduled", False, when, "Unschedulable", reason)
    status = {"phase": "Pending", "qosClass": "Burstable", "conditions": [scheduled]}
    if node:
        status["conditions"] += [condition("Initialized", True, when)] + _not_ready(names, when)
        status["containerStatuses"] = _containers(pod, {}, False, state={"waiting": {"reason": "ContainerCreating"}})
        status |= _addresses(pod, node) | {"startTime": when}
    return status


def running(pod: dict, node: dict | None) -> dict:
    """Running and Ready; restarts and the last terminated state are kept."""
    old, when = pod.get("status") or {}, now()
    status = {k: v for k, v in old.items() if k not in ("conditions", "containerStatuses", "reason", "message")}
    status |= {"phase": "Running", "qosClass": "Burstable", "startTime": old.get("startTime", when)}
    status |= {k: v for k, v in _addresses(pod, node).items() if k not in old}
    status["conditions"] = [condition(kind, True, when) for kind in
                            ("PodScheduled", "Initialized", "ContainersReady", "Ready")]
    status["containerStatuses"] = _containers(pod, old, True, state={"running": {"startedAt": when}})
    return status


def crashing(pod: dict, node: dict | None) -> dict:
    """Phase Running, not Ready: the container exited with an error and waits in CrashLoopBackOff."""
    old, when = pod.get("status") or {}, now()
    status = running(pod, node)
    names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    status["conditions"] = status["conditions"][:2] + _not_ready(names, when)
    containers = []
    for entry in status["containerStatuses"]:
        restarts = entry["restartCount"] + 1
        started = ((old.get("containerStatuses") or [{}])[0].get("state") or {}).get("running", {}).get(
            "startedAt", when)
        containers.append(entry | {
            "ready": False, "started": False, "restartCount": restarts,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": (
                f"back-off {min(10 * 2 ** (restarts - 1), 300)}s restarting failed container={entry['name']} "
                f"pod={pod['metadata']['name']}_{pod['metadata'].get('namespace')}({pod['metadata'].get('uid')})")}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": started,
                                         "finishedAt": when}}})
    status["containerStatuses"] = containers
    return status


def node_lost(pod: dict) -> dict:
    """The node stopped reporting: the pod is marked not Ready (its containers too)."""
    status, when = dict(pod.get("status") or {}), now()
    status["conditions"] = [c | ({"status": "False", "lastTransitionTime": when, "reason": "NodeNotReady"}
                                 if c.get("type") in ("Ready", "ContainersReady") else {})
                            for c in status.get("conditions") or []]
    status["containerStatuses"] = [s | {"ready": False} for s in status.get("containerStatuses") or []]
    return status
