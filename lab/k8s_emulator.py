"""The lab's Kubernetes API: a stand-in, not a Kubernetes cluster.

No real kube-apiserver can be had on this machine, so the lab serves the part
of the Kubernetes API the runbooks use with kmock's in-memory
KubernetesEmulator, over plain HTTP on 127.0.0.1, until SIGTERM:

    python -m lab.k8s_emulator --port PORT --logs-dir DIR

What it serves, with discovery (/api, /apis, /api/v1, /apis/apps/v1,
/apis/autoscaling/v2, /version):
- namespaces, nodes, pods, services, persistentvolumeclaims, events (v1);
  deployments, replicasets, statefulsets, daemonsets (apps/v1); horizontalpodautoscalers
  (autoscaling/v2): create, get, list and watch (labelSelector, fieldSelector),
  delete, patch (strategic merge, merge, JSON patch) and replace (PUT); every
  write stamps uid, resourceVersion, creationTimestamp and generation;
- the /status subresource of each; /scale of deployments, replicasets and
  statefulsets;
- pod logs (pods/NAME/log): the text of DIR/<namespace>/<pod>.log
  (<pod>.previous.log with previous=true), honouring tailLines; a pod without
  a file has empty logs.

What it does not do: no controllers (nothing makes pods for a Deployment or
rolls it out; the lab's controller loop plays that part), no garbage
collection of owned objects, no watch guarantees (resourceVersion and
bookmarks are ignored), no admission or validation (objects are stored as
sent, status included on create), no authentication or authorization (any
token passes), no deletecollection, exec, attach or port-forward; strategic
merge knows only lists keyed by "name" or "type". State lives in memory only.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import datetime
import re
import signal
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import jsonpatch
import jsonpointer
import kmock
from kmock._internal import dicts, parsing

# resource: (kind, namespaced, subresources, short names)
RESOURCES = {
    "v1/namespaces": ("Namespace", False, {"status"}, {"ns"}),
    "v1/nodes": ("Node", False, {"status"}, {"no"}),
    "v1/pods": ("Pod", True, {"status", "log"}, {"po"}),
    "v1/services": ("Service", True, {"status"}, {"svc"}),
    "v1/persistentvolumeclaims": ("PersistentVolumeClaim", True, {"status"}, {"pvc"}),
    "v1/events": ("Event", True, set(), {"ev"}),
    "apps/v1/deployments": ("Deployment", True, {"status", "scale"}, {"deploy"}),
    "apps/v1/replicasets": ("ReplicaSet", True, {"status", "scale"}, {"rs"}),
    "apps/v1/statefulsets": ("StatefulSet", True, {"status", "scale"}, {"sts"}),
    "apps/v1/daemonsets": ("DaemonSet", True, {"status"}, {"ds"}),
    "autoscaling/v2/horizontalpodautoscalers": ("HorizontalPodAutoscaler", True, {"status"}, {"hpa"}),
}
VERBS = {"create", "delete", "get", "list", "patch", "update", "watch"}
HISTORY_KEPT = 5  # versions of one object kept in memory
REQUESTS_KEPT = 32  # served requests kept in memory (kmock matches each request against them all)
REASONS = {400: "BadRequest", 404: "NotFound", 405: "MethodNotAllowed", 409: "AlreadyExists", 422: "Invalid"}
_kmock_parse_path = parsing.parse_path


def _parse_path(path: str) -> parsing.ParsedPath:
    """Read /api/v1/namespaces[/NAME[/status]] as the namespaces resource, not as a namespace prefix."""
    parts = path.strip("/").split("/")
    if parts[:3] == ["api", "v1", "namespaces"] and (len(parts) <= 4 or parts[4:] in (["status"], ["finalize"])):
        return parsing.ParsedPath("", "v1", "namespaces", None, (parts[3:4] or [None])[0], (parts[4:5] or [None])[0])
    return _kmock_parse_path(path)


parsing.parse_path = _parse_path


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _api_error(status: int, message: str, **details: Any) -> kmock.KubernetesError:
    return kmock.KubernetesError(status=status, reason=REASONS.get(status), message=message, details=details)


def _qualified(resource: kmock.resource) -> str:
    return f"{resource.plural}.{resource.group}".rstrip(".")


# selectors -----------------------------------------------------------------
_LABEL_TERM = re.compile(r"^\s*(!?)\s*([\w./-]+)\s*(?:(==|=|!=)\s*([\w./-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")
_FIELD_TERM = re.compile(r"^\s*([\w.]+)\s*(==|=|!=)\s*(.*?)\s*$")
_LABEL_OPS: dict[str, Callable[[dict, str, Any], bool]] = {
    "exists": lambda labels, key, _: key in labels,
    "!": lambda labels, key, _: key not in labels,
    "=": lambda labels, key, value: labels.get(key) == value,
    "==": lambda labels, key, value: labels.get(key) == value,
    "!=": lambda labels, key, value: labels.get(key) != value,
    "in": lambda labels, key, values: labels.get(key) in values,
    "notin": lambda labels, key, values: labels.get(key) not in values,
}


def _terms(selector: str) -> list[str]:
    return [term for term in re.split(r",(?![^()]*\))", selector) if term.strip()]


def _label_term(term: str) -> tuple[str, str, Any]:
    match = _LABEL_TERM.match(term)
    if not match or (match[1] and (match[3] or match[5])):
        raise _api_error(400, f"unable to parse requirement: {term!r}")
    if match[5]:
        return match[5], match[2], {value.strip() for value in match[6].split(",")}
    return match[3] or match[1] or "exists", match[2], match[4]


def _field(obj: Any, path: str) -> str:
    for part in path.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return "" if obj is None else str(obj)


def _selector(params: dict) -> Callable[[dict], bool]:
    """A predicate on objects from the labelSelector and fieldSelector query parameters."""
    labels = [_label_term(term) for term in _terms(params.get("labelSelector", ""))]
    fields = [_FIELD_TERM.match(term) for term in _terms(params.get("fieldSelector", ""))]
    if not all(fields):
        raise _api_error(400, f"invalid field selector: {params.get('fieldSelector')!r}")

    def selected(obj: dict) -> bool:
        obj_labels = obj.get("metadata", {}).get("labels") or {}
        return all(_LABEL_OPS[op](obj_labels, key, value) for op, key, value in labels) and all(
            (_field(obj, path) == value) != (op == "!=") for path, op, value in (f.groups() for f in fields))

    return selected


# patches -------------------------------------------------------------------
def _strategic_merge(current: Any, patch: Any) -> Any:
    """Strategic merge patch; lists of objects merge by "name" (containers, env) or "type" (conditions)."""
    if isinstance(patch, dict):
        merged = dict(current) if isinstance(current, dict) else {}
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            elif not key.startswith("$"):
                merged[key] = _strategic_merge(merged.get(key), value)
        return merged
    keys = [k for k in ("name", "type") if isinstance(current, list) and isinstance(patch, list) and patch
            and all(isinstance(item, dict) and k in item for item in current + patch)]
    if not keys:
        return patch
    merged_list = list(current)
    for item in patch:
        same = [n for n, old in enumerate(merged_list) if old[keys[0]] == item[keys[0]]]
        if item.get("$patch") == "delete":
            merged_list = [old for old in merged_list if old[keys[0]] != item[keys[0]]]
        elif same:
            merged_list[same[0]] = _strategic_merge(merged_list[same[0]], item)
        else:
            merged_list.append(_strategic_merge({}, item))
    return merged_list


def _apply_patch(current: dict, patch: Any, content_type: str) -> dict:
    try:
        if "json-patch" in content_type:
            return jsonpatch.apply_patch(current, patch, in_place=False)
        if "merge-patch" in content_type and "strategic" not in content_type:
            return dicts.merge_patch_dict(current, patch)
        return _strategic_merge(current, patch)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, ValueError, TypeError) as exc:
        raise _api_error(422, f"the patch could not be applied: {exc}") from exc


def _scale_of(obj: dict) -> dict:
    meta, spec = obj["metadata"], obj.get("spec", {})
    selector = ",".join(f"{k}={v}" for k, v in spec.get("selector", {}).get("matchLabels", {}).items())
    return {
        "apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in meta},
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {"replicas": obj.get("status", {}).get("replicas", 0), "selector": selector},
    }


@attrs.define(kw_only=True)
class LabCluster(kmock.KubernetesEmulator):
    """kmock's emulator with the API server behaviour the runbooks rely on."""

    logs_dir: Path = attrs.field(converter=Path)
    last_version: int = attrs.field(default=0, init=False)

    def declare(self) -> None:
        for resource, (kind, namespaced, subresources, shortnames) in RESOURCES.items():
            self.resources[resource] = kmock.ResourceInfo(
                kind=kind, singular=kind.lower(), namespaced=namespaced,
                verbs=VERBS, subresources=subresources, shortnames=shortnames)

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        for view in (self, *self._payloads):
            del view._requests[:-REQUESTS_KEPT]
        if request.resource is None or request.resource.plural is None:
            return await super()._handle(request)
        if request.subresource == "log":
            return self._serve_log(request)
        if request.name and request.method in (kmock.method.PATCH, kmock.method.PUT):
            return await self._serve_write(request)
        if request.subresource == "scale" and request.method == kmock.method.GET:
            return aiohttp.web.json_response(_scale_of(self._scalable(request).raw))
        if request.subresource and (request.subresource != "status" or request.method != kmock.method.GET):
            raise _api_error(405, f"{request.method.value} is not supported on {request.subresource}")
        if request.action == kmock.action.CREATE and isinstance(request.data, dict):
            self._stamp_new(request)
        elif request.name and request.action in (kmock.action.FETCH, kmock.action.DELETE):
            self._existing(request)
        return await super()._handle(request)

    def _info(self, request: kmock.Request) -> tuple[str, bool, set, set]:
        for resource, info in RESOURCES.items():
            if request.resource == resource:
                return info
        raise _api_error(404, "the server could not find the requested resource")

    def _existing(self, request: kmock.Request) -> kmock.Object:
        key = (request.resource, request.namespace, request.name)
        if key not in self.objects or self.objects[key].deleted:
            resource = request.resource
            raise _api_error(404, f'{_qualified(resource)} "{request.name}" not found',
                             name=request.name, group=resource.group, kind=resource.plural)
        return self.objects[key]

    def _scalable(self, request: kmock.Request) -> kmock.Object:
        if "scale" not in self._info(request)[2]:
            raise _api_error(404, "the server could not find the requested resource")
        return self._existing(request)

    def _next_version(self) -> str:
        self.last_version += 1
        return str(self.last_version)

    def _stamp_new(self, request: kmock.Request) -> None:
        kind, namespaced, _, _ = self._info(request)
        resource, obj = request.resource, request.data
        obj.setdefault("apiVersion", f"{resource.group}/{resource.version}".lstrip("/"))
        obj.setdefault("kind", kind)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        key = (resource, request.namespace, meta.get("name"))
        if key in self.objects and not self.objects[key].deleted:
            raise _api_error(409, f'{_qualified(resource)} "{meta["name"]}" already exists',
                             name=meta["name"], group=resource.group, kind=resource.plural)
        if namespaced:
            meta["namespace"] = request.namespace
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1,
                    resourceVersion=self._next_version())

    async def _serve_write(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        """PATCH or PUT of an object, its /status or its /scale."""
        patching = request.method == kmock.method.PATCH
        if request.subresource not in (None, "status", "scale") or not (
                isinstance(request.data, dict) or (patching and isinstance(request.data, list))):
            raise _api_error(405, f"{request.method.value} is not supported here")
        content_type = request.headers.get("Content-Type", "")
        async with self._lock:
            obj = self._scalable(request) if request.subresource == "scale" else self._existing(request)
            current = copy.deepcopy(obj.raw)
            if request.subresource == "scale":
                scale = _apply_patch(_scale_of(current), request.data, content_type) if patching else request.data
                new = self._scaled(current, (scale.get("spec") or {}).get("replicas"))
            elif patching:
                new = _apply_patch(current, request.data, content_type)
            else:
                new = self._replacement(current, request.data)
            has_status = "status" in self._info(request)[2]
            if has_status and request.subresource == "status":
                new = {**current, "status": new.get("status")}
            elif has_status:
                new["status"] = current.get("status")
            await self._store(request, obj, current, {k: v for k, v in new.items() if v is not None})
        return aiohttp.web.json_response(_scale_of(obj.last.raw) if request.subresource == "scale" else obj.last.raw)

    @staticmethod
    def _scaled(current: dict, replicas: Any) -> dict:
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise _api_error(422, f"spec.replicas: Invalid value: {replicas!r}: must be a non-negative integer")
        new = copy.deepcopy(current)
        new.setdefault("spec", {})["replicas"] = replicas
        return new

    @staticmethod
    def _replacement(current: dict, sent: dict) -> dict:
        sent_version = (sent.get("metadata") or {}).get("resourceVersion")
        if sent_version and sent_version != current["metadata"].get("resourceVersion"):
            raise _api_error(409, "the object has been modified; please apply your changes to the latest version")
        return copy.deepcopy(sent)

    async def _store(self, request: kmock.Request, obj: kmock.Object, current: dict, new: dict) -> None:
        """Keep the new version (identity kept, generation bumped on spec change) and tell the watchers."""
        meta = new["metadata"] = dict(new.get("metadata") or {})
        old_meta = current["metadata"]
        meta.update({k: old_meta[k] for k in ("name", "namespace", "uid", "creationTimestamp") if k in old_meta})
        meta["generation"] = old_meta.get("generation", 1) + (new.get("spec") != current.get("spec"))
        meta["resourceVersion"] = self._next_version()
        obj.history.append(new)
        del obj.history[:-HISTORY_KEPT]
        released = meta.get("deletionTimestamp") and not meta.get("finalizers")
        if released:
            obj.delete()
        await self._buses[request.resource].put({"type": "DELETED" if released else "MODIFIED", "object": new})

    def _serve_log(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        if request.method != kmock.method.GET or request.resource != "v1/pods":
            raise _api_error(405, "logs are only read, and only from pods")
        self._existing(request)
        suffix = ".previous.log" if request.params.get("previous") == "true" else ".log"
        path = (self.logs_dir / request.namespace / f"{request.name}{suffix}").resolve()
        inside = path.is_relative_to(self.logs_dir.resolve())
        lines = path.read_text(errors="replace").splitlines(keepends=True) if inside and path.is_file() else []
        tail = request.params.get("tailLines")
        if tail is not None and not tail.isdigit():
            raise _api_error(400, f"tailLines: Invalid value: {tail!r}")
        if tail is not None:
            lines = lines[max(len(lines) - int(tail), 0):]
        return aiohttp.web.Response(text="".join(lines), content_type="text/plain")

    async def _serve_version(self, request: kmock.Request) -> dict:
        listing = await super()._serve_version(request)
        listing["groupVersion"] = listing["groupVersion"].lstrip("/")
        return listing

    async def _serve_list(self, request: kmock.Request) -> dict:
        kind = self._info(request)[0]
        selected = _selector(request.params)
        async with self._lock:
            items = [obj.raw for (resource, namespace, _), obj in self.objects.items()
                     if resource == request.resource and not obj.deleted
                     and request.namespace in (None, namespace) and selected(obj.raw)]
        resource = request.resource
        return {"apiVersion": f"{resource.group}/{resource.version}".lstrip("/"), "kind": f"{kind}List",
                "metadata": {"resourceVersion": str(self.last_version)}, "items": items}

    async def _serve_watch(self, request: kmock.Request):
        selected = _selector(request.params)
        async for event in super()._serve_watch(request):
            if not isinstance(event, dict) or selected(event.get("object") or {}):
                yield event

    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        """Answer with a Kubernetes Status; kmock's own errors get the API server's wording."""
        self.errors.clear()
        if not isinstance(exc, kmock.KubernetesError):
            traceback.print_exception(exc)
            exc = kmock.KubernetesError(status=500, reason="InternalError", message=repr(exc))
        elif type(exc) is not kmock.KubernetesError:
            exc = _api_error(exc.status, "the server could not find the requested resource")
        body = {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure", "code": exc.status,
                "reason": exc.reason, "message": exc.message, "details": exc.details or {}}
        return aiohttp.web.json_response(body, status=exc.status)


async def serve(port: int, logs_dir: Path) -> None:
    cluster = LabCluster(logs_dir=logs_dir)
    cluster.declare()
    stopped = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stopped.set)
    async with cluster, kmock.Server(cluster, host="127.0.0.1", port=port):
        print(f"Kubernetes API stand-in serving http://127.0.0.1:{port} (pod logs from {logs_dir})", flush=True)
        await stopped.wait()
    print("Kubernetes API stand-in stopped", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.k8s_emulator", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--logs-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.logs_dir))


if __name__ == "__main__":
    main()
