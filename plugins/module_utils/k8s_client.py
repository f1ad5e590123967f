# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes client factory: kubeconfig and context, or in-cluster, handled once."""

import traceback

from ansible.module_utils.basic import env_fallback

from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError

K8S_IMPORT_ERROR = None
try:
    import kubernetes
    import kubernetes.config
    HAS_K8S = True
except ImportError:
    HAS_K8S = False
    K8S_IMPORT_ERROR = traceback.format_exc()


def k8s_argument_spec():
    """Options of doc fragment sre.runbooks.k8s."""
    return {
        "kubeconfig": {"type": "path", "fallback": (env_fallback, ["K8S_AUTH_KUBECONFIG", "KUBECONFIG"])},
        "context": {"type": "str", "fallback": (env_fallback, ["K8S_AUTH_CONTEXT"])},
        "in_cluster": {"type": "bool", "default": False},
        "namespace": {"type": "str", "default": "default"},
        "request_timeout": {"type": "float", "default": 10.0},
    }


def api_client(params):
    """An ApiClient from in-cluster config, or from a kubeconfig file and context.

    urllib3's retries are off: an API server that does not answer costs one request_timeout, not four.
    """
    configuration = kubernetes.client.Configuration()
    try:
        if params.get("in_cluster"):
            kubernetes.config.load_incluster_config(client_configuration=configuration)
        else:
            kubernetes.config.load_kube_config(config_file=params.get("kubeconfig"), context=params.get("context"),
                                               client_configuration=configuration, persist_config=False)
    except kubernetes.config.ConfigException as exc:
        raise RunbookError(
            f"Kubernetes configuration unusable (options kubeconfig/context/in_cluster): {exc}") from exc
    configuration.retries = False
    return kubernetes.client.ApiClient(configuration)
