# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    """Connection options shared by the Qdrant modules (module_utils/qdrant_client.py)."""

    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of Qdrant's REST API, for example C(http://qdrant.pubsec-info-assistant.svc:6333).
      - User and password in the URL are never printed.
    type: str
    required: true
  api_key:
    description:
      - Qdrant API key, sent as the C(api-key) header. Never printed.
      - Falls back to the environment variable E(QDRANT_API_KEY). Not needed when Qdrant has no API key set.
    type: str
  timeout:
    description: Seconds to wait for one answer; a Qdrant past it counts as unreachable.
    type: float
    default: 10.0
  validate_certs:
    description: Verify the server certificate of an C(https) O(url).
    type: bool
    default: true
"""
