# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one wait helper: poll with a deadline, return the last observed state."""

import time


def wait_for(observe, ready, timeout, sleep=0.5):
    """Call observe() until ready(state) is true or timeout seconds pass.

    Returns (ready, last_state, duration_seconds). observe() may raise; the
    exception is kept as the last state ({'error': str}) and polling goes on.
    """
    start = time.monotonic()
    deadline = start + timeout
    while True:
        try:
            state = observe()
        except Exception as exc:  # noqa: BLE001 -- any backend error is a state to report, not a crash
            state = {"error": str(exc)}
        if not (isinstance(state, dict) and "error" in state) and ready(state):
            return True, state, round(time.monotonic() - start, 3)
        if time.monotonic() >= deadline:
            return False, state, round(time.monotonic() - start, 3)
        time.sleep(min(sleep, max(0.0, deadline - time.monotonic())))
