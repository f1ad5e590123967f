# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one guard helper: a refused guard fails with what was found and how to override."""

from ansible_collections.sre.runbooks.plugins.module_utils.errors import GuardRefused


def require(condition, guard, found, override=None):
    """Raise GuardRefused unless condition holds.

    guard: short name of the precondition (returned as ``guard``).
    found: what was observed, as a sentence.
    override: how a person can override, when overriding is allowed.
    """
    if condition:
        return
    msg = f"Refused ({guard}): {found}"
    if override:
        msg += f" To override: {override}."
    else:
        msg += " Nothing was changed."
    raise GuardRefused(msg, guard=guard)
