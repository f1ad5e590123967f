# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    """Connection options shared by the Kubernetes modules (module_utils/k8s_client.py)."""

    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path of the kubeconfig file.
      - Falls back to E(K8S_AUTH_KUBECONFIG), then E(KUBECONFIG), then C(~/.kube/config).
    type: path
  context:
    description: Context of the kubeconfig to use. Falls back to E(K8S_AUTH_CONTEXT), then the current context.
    type: str
  in_cluster:
    description: Use the service account of the pod this runs in instead of a kubeconfig.
    type: bool
    default: false
  namespace:
    description: Namespace of the workloads.
    type: str
    default: default
  request_timeout:
    description: Timeout of one API request, in seconds.
    type: float
    default: 10.0
requirements:
  - kubernetes (Python library)
"""
