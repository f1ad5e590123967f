"""The triage role's catalog (roles/triage/vars/main.yml) and the checks incident_triage_info can run agree."""

from pathlib import Path

import yaml

from ansible_collections.sre.runbooks.plugins.modules.incident_triage_info import CHECKS

ROLE = Path(__file__).resolve().parents[3] / "roles" / "triage"
VARS = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
VERIFY = yaml.safe_load((ROLE.parent / "verify" / "defaults" / "main.yml").read_text())


def test_every_check_module_is_in_the_catalog_once_and_every_entry_can_be_switched_on():
    modules = [entry["module"] for entry in VARS["triage_catalog"].values() if not entry.get("delegated")]
    assert sorted(set(modules)) == sorted(CHECKS)
    assert len(modules) == len(set(modules))
    assert set(VARS["triage_enabled"]) == set(VARS["triage_catalog"])


def test_the_application_servers_are_checked_on_each_server_not_by_incident_triage_info():
    delegated = {name for name, entry in VARS["triage_catalog"].items() if entry.get("delegated")}
    assert delegated == set(VARS["triage_delegated_checks"]) == {"hosts"}
    assert VARS["triage_catalog"]["hosts"]["modules"] == ["service_info", "host_resources_info", "log_scan_info"]
    # on when the inventory has application servers: the group, absent by default
    assert "triage_app_servers" in VARS["triage_enabled"]["hosts"]
    assert "groups[app_servers_group]" in VARS["triage_app_servers"] and DEFAULTS["app_servers_group"] == "app_servers"


def test_every_check_is_off_with_the_roles_defaults():
    """Nothing is checked that the inventory does not name: each switch reads a setting that defaults to empty."""
    for name, switch in VARS["triage_enabled"].items():
        if name in VARS["triage_delegated_checks"]:
            continue  # the application servers: on with the inventory group (see the test above)
        names = [word for word in switch.replace("(", " ").replace(")", " ").split() if word in DEFAULTS]
        assert names, name
        assert all(DEFAULTS[word] in ("", [], {}) for word in names), (name, names)


def test_verification_looks_again_only_at_checks_triage_has():
    assert set(VERIFY["verify_aws_check_names"]) <= set(VARS["triage_catalog"])
