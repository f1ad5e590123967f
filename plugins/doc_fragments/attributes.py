# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    """attributes: check mode, diff mode and idempotence, stated the same way in every module."""

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return what it would change, without changing it.
  diff_mode:
    description: Returns details on what has changed (or would change in check mode) when run with C(--diff).
  idempotent:
    description: A second run with the same arguments, once the wanted state holds, changes nothing.
"""

    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details: A read-only check; it runs the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Never changes anything.
"""
