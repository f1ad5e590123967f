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
