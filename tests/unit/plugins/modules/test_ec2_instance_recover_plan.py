"""What ec2_instance_recover does to one instance (decide), including the impaired checks the lab's moto never shows."""

import pytest

from ansible_collections.sre.runbooks.plugins.modules.ec2_instance_recover import decide

NA = "not-applicable"


@pytest.mark.parametrize(("state", "system", "checks", "action", "expected"), [
    ("stopped", NA, NA, "auto", ("start", "stopped")),
    ("stopped", NA, NA, "start", ("start", "stopped")),
    ("running", "ok", "ok", "auto", (None, "running, checks ok")),
    ("running", "ok", "ok", "start", (None, "running, checks ok")),
    ("running", "ok", "impaired", "auto", ("reboot", "running, instance status check impaired")),
    ("running", "impaired", "impaired", "auto", ("reboot", "running, system and instance status check impaired")),
    ("running", "impaired", "ok", "start",
     (None, "running, system status check impaired; action=start does not reboot")),
    ("running", "ok", "ok", "reboot", ("reboot", "running, action=reboot")),
    ("running", "ok", "impaired", "reboot", ("reboot", "running, instance status check impaired")),
    ("running", "initializing", "initializing", "auto",
     (None, "running, checks not passed yet (system initializing, instance initializing)")),
    ("pending", NA, NA, "auto", (None, "pending: already starting")),
    ("stopping", NA, NA, "auto", (None, "stopping: run again once it is stopped")),
    ("shutting-down", NA, NA, "start", (None, "shutting-down: it cannot be started")),
])
def test_decide(state, system, checks, action, expected):
    assert decide(state, system, checks, action) == expected


def test_stopped_instance_is_never_rebooted():
    what, reason = decide("stopped", NA, NA, "reboot")
    assert what is None and "action=start" in reason


@pytest.mark.parametrize("action", ["auto", "start", "reboot"])
@pytest.mark.parametrize("state", ["pending", "running", "stopping", "stopped", "shutting-down", "terminated"])
def test_never_more_than_start_or_reboot(state, action):
    assert decide(state, "impaired", "impaired", action)[0] in (None, "start", "reboot")
