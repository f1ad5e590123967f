# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    """Connection options shared by the Redis modules (module_utils/redis_client.py)."""

    DOCUMENTATION = r"""
options:
  password:
    description:
      - Password of the Redis nodes (C(AUTH)). Never printed.
      - Falls back to the environment variable E(REDIS_PASSWORD).
    type: str
  username:
    description: ACL user name, for Redis 6 ACLs. Default is the C(default) user.
    type: str
  tls:
    description: Connect with TLS.
    type: bool
    default: false
  validate_certs:
    description: Verify the server certificate when O(tls=true).
    type: bool
    default: true
  connect_timeout:
    description: Seconds to wait for a node to connect or answer; a node past it counts as unreachable.
    type: float
    default: 2.0
requirements:
  - redis (Python library)
"""
