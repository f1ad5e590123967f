# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    """Waiting options of remediation modules (module_utils/common.py, waiting.py)."""

    DOCUMENTATION = r"""
options:
  wait:
    description: Confirm the new state before returning; the task fails if it does not arrive in time.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the new state when O(wait=true).
    type: int
    default: 60
  wait_sleep:
    description: Seconds between two looks at the state while waiting.
    type: float
    default: 0.5
"""
