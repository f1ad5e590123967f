# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors raised by helpers; a module's main() catches them once and fails once."""


class RunbookError(Exception):
    """A step could not be done; the message says why in words a person can act on."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


class BackendUnavailable(RunbookError):
    """The backend did not answer (refused, timed out, DNS)."""


class GuardRefused(RunbookError):
    """A precondition of a remediation does not hold; nothing was changed."""


class NotConfirmed(RunbookError):
    """A change was made (or requested), but its result did not show in time, or a later part of it failed.

    The task fails with changed=true (changed=False when, after all, nothing was changed); details are the
    result so far, as the module would have returned it (its own msg and changed are left out).
    """

    def __init__(self, msg, /, changed=True, **details):  # msg positional-only: details may hold the result's own
        details.pop("msg", None)
        super().__init__(msg, **details)
        self.changed = changed
