# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    """Connection options shared by the Prometheus and Alertmanager modules (module_utils/prometheus.py)."""

    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of the server, for example C(http://prometheus:9090) for Prometheus or C(http://alertmanager:9093)
        for Alertmanager.
    type: str
    required: true
  bearer_token:
    description: Token sent as C(Authorization) Bearer (a proxy in front of the server). Never printed.
    type: str
  username:
    description: User for basic auth; needs O(password). Exclusive with O(bearer_token).
    type: str
  password:
    description: Password for basic auth. Never printed.
    type: str
  timeout:
    description: Seconds before a request counts as unanswered.
    type: float
    default: 10.0
  validate_certs:
    description: Verify TLS certificates.
    type: bool
    default: true
"""
