# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes readers shared by the k8s checks and remediations, through the official client.

Objects are read as the API's own JSON (camelCase dicts, what ``kubectl get -o json`` shows), so the pure
summaries of k8s_state.py (pod state, rollout state, revisions, HPA, PVCs) apply to them directly.
Client errors are turned into typed errors once, by ``api_errors``: HTTP 404 -> NotFound, API unreachable
(refused, timed out, DNS) -> BackendUnavailable, any other refusal -> RunbookError with ``status``.
"""

import json
from contextlib import contextmanager

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.sre.runbooks.plugins.module_utils.errors import BackendUnavailable, RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.findings import check_result, finding
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_client import HAS_K8S, K8S_IMPORT_ERROR, api_client
from ansible_collections.sre.runbooks.plugins.module_utils.k8s_state import (
    claim_names,
    controller_ref,
    hpa_summary,
    hpa_targeting,
    owner_workload,
    pvc_summary,
    revisions,
    selector_string,
)

try:
    import kubernetes.client
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError as Urllib3Error
    from urllib3.exceptions import MaxRetryError
except ImportError:
    class ApiException(Exception):
        """Stands in for the client's exception when the library is missing (connect() reports that)."""

    Urllib3Error = MaxRetryError = ApiException

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
# method suffix of the client's APIs per kind (read_namespaced_<suffix>, patch_namespaced_<suffix>, ...)
API_NAMES = {"Deployment": "deployment", "StatefulSet": "stateful_set", "DaemonSet": "daemon_set",
             "ReplicaSet": "replica_set"}


class NotFound(RunbookError):
    """The object asked for does not exist (HTTP 404)."""


def _describe(exc):
    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    return f"{type(exc).__name__}: {exc}"


def _api_message(exc):
    try:
        return json.loads(exc.body).get("message") or exc.reason
    except (TypeError, ValueError, AttributeError):
        return exc.reason


@contextmanager
def api_errors(what, not_found=None):
    """Turn the client's errors while doing ``what`` into typed errors (a context manager and a decorator)."""
    try:
        yield
    except ApiException as exc:
        message = _api_message(exc)
        if exc.status == 404:
            raise NotFound(not_found or f"Not found ({what}): {message}", status=404) from exc
        raise RunbookError(f"The Kubernetes API refused to {what}: HTTP {exc.status} {exc.reason}: {message}",
                           status=exc.status) from exc
    except (Urllib3Error, OSError) as exc:
        raise BackendUnavailable(f"Kubernetes API unreachable ({what}): {_describe(exc)}") from exc


class K8s:
    """The API groups of one client, with the namespace and request timeout of the module's options."""

    def __init__(self, client, namespace, request_timeout=10.0):
        self.client, self.namespace, self.timeout = client, namespace, request_timeout
        self.core = kubernetes.client.CoreV1Api(client)
        self.apps = kubernetes.client.AppsV1Api(client)
        self.autoscaling = kubernetes.client.AutoscalingV2Api(client)

    def call(self, method, *args, what, not_found=None, **kwargs):
        """The body (bytes) of one API call, errors typed."""
        with api_errors(what, not_found):
            return method(*args, _preload_content=False, _request_timeout=self.timeout, **kwargs).data

    def read(self, method, *args, what, not_found=None, **kwargs):
        """One API call's answer as the API's JSON."""
        body = self.call(method, *args, what=what, not_found=not_found, **kwargs)
        try:
            return json.loads(body or b"null")
        except ValueError as exc:
            raise RunbookError(f"The Kubernetes API answered something that is not JSON ({what})") from exc

    def list(self, method, *args, what, optional=False, **kwargs):
        """Every item of a list call, page by page; optional: an API that is not served lists nothing."""
        items, token = [], None
        while True:
            try:
                page = self.read(method, *args, what=what, limit=500, _continue=token, **kwargs)
            except NotFound:
                if optional:
                    return []
                raise
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items


def connect(params):
    """A K8s for the module's options (kubeconfig/context/in_cluster, namespace, request_timeout)."""
    if not HAS_K8S:
        raise RunbookError(missing_required_lib("kubernetes"), exception=K8S_IMPORT_ERROR)
    timeout = 10.0 if params.get("request_timeout") is None else params["request_timeout"]
    if timeout <= 0:
        raise RunbookError(f"request_timeout must be more than 0 seconds, not {timeout}", option="request_timeout")
    return K8s(api_client(params), params.get("namespace") or "default", timeout)


def unreachable_result(exc, **data):
    """What a check returns when the API does not answer: status unknown, finding k8s.api_unreachable."""
    return check_result([finding("k8s.api_unreachable", "critical", exc.msg, {"error": exc.msg})],
                        status="unknown", **data)


# reading ---------------------------------------------------------------------------------------------
def get_workload(k8s, kind, name):
    """A Deployment, StatefulSet or DaemonSet by name; NotFound names it."""
    if kind not in WORKLOAD_KINDS:
        raise RunbookError(f"kind must be one of {', '.join(WORKLOAD_KINDS)}, not {kind!r}")
    method = getattr(k8s.apps, f"read_namespaced_{API_NAMES[kind]}")
    obj = k8s.read(method, name, k8s.namespace, what=f"read {kind} {name}",
                   not_found=f"{kind} {name} not found in namespace {k8s.namespace}")
    return dict(obj, kind=kind)


def list_workloads(k8s, kinds=("Deployment", "StatefulSet")):
    """The workloads of these kinds in the namespace, each with its ``kind`` set."""
    found = []
    for kind in kinds:
        method = getattr(k8s.apps, f"list_namespaced_{API_NAMES[kind]}")
        found += [dict(item, kind=kind) for item in k8s.list(method, k8s.namespace, what=f"list {kind}s",
                                                             optional=kind == "DaemonSet")]
    return found


def list_pods(k8s, label_selector=None):
    what = f"list pods matching label selector {label_selector!r}" if label_selector else "list pods"
    return k8s.list(k8s.core.list_namespaced_pod, k8s.namespace, what=what, label_selector=label_selector)


def list_replicasets(k8s, label_selector=None):
    return k8s.list(k8s.apps.list_namespaced_replica_set, k8s.namespace, what="list ReplicaSets",
                    label_selector=label_selector)


def list_hpas(k8s):
    return k8s.list(k8s.autoscaling.list_namespaced_horizontal_pod_autoscaler, k8s.namespace,
                    what="list HorizontalPodAutoscalers", optional=True)


def list_pvcs(k8s):
    return k8s.list(k8s.core.list_namespaced_persistent_volume_claim, k8s.namespace,
                    what="list PersistentVolumeClaims")


def workload_pods(k8s, workload):
    """The pods the workload's selector matches."""
    return list_pods(k8s, selector_string((workload.get("spec") or {}).get("selector")))


def pod_owner(k8s, pod):
    """The workload that owns a pod ({kind, name}): a ReplicaSet's pods belong to its Deployment."""
    ref = controller_ref(pod)
    if ref and ref.get("kind") == "ReplicaSet":
        try:
            replicaset = k8s.read(k8s.apps.read_namespaced_replica_set, ref["name"], k8s.namespace,
                                  what=f"read ReplicaSet {ref['name']}")
        except NotFound:
            return {"kind": "ReplicaSet", "name": ref["name"]}
        return owner_workload(pod, [replicaset])
    return owner_workload(pod, [])


def deployment_revisions(k8s, deployment):
    """The Deployment's ReplicaSets as revisions, oldest first (what ``kubectl rollout history`` shows)."""
    replicasets = list_replicasets(k8s, selector_string((deployment.get("spec") or {}).get("selector")))
    return revisions(deployment, replicasets)


def workload_hpa(k8s, kind, name):
    """The summary of the HPA that targets the workload, or None."""
    hpa = hpa_targeting(list_hpas(k8s), kind, name)
    return hpa_summary(hpa) if hpa else None


def workload_pvcs(k8s, workload, pods=None):
    """The PVCs the workload mounts (volumeClaimTemplates and pod volumes), each summarised."""
    pvcs = {p["metadata"]["name"]: p for p in list_pvcs(k8s)}
    pods = workload_pods(k8s, workload) if pods is None else pods
    return [pvc_summary(name, pvcs.get(name)) for name in claim_names(workload, pods, pvcs.values())]
