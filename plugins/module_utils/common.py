# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The thin base class every sre.runbooks module uses.

It merges the shared option groups (each kept in sync with its doc fragment),
reports a missing Python library once, turns the typed errors of
``errors.py`` into one ``fail_json``, and gives checks and remediations the
same result shape.
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.sre.runbooks.plugins.module_utils.errors import NotConfirmed, RunbookError


def check_bounds(params, bounds):
    """Raise RunbookError naming the option when a number is outside its bounds.

    bounds: {option: (low, high)}; None leaves that side open. Options that are None are not checked.
    """
    for option, (low, high) in bounds.items():
        value = params.get(option)
        if value is None or ((low is None or value >= low) and (high is None or value <= high)):
            continue
        wanted = (f"between {low} and {high}" if low is not None and high is not None
                  else f"{low} or more" if low is not None else f"at most {high}")
        raise RunbookError(f"{option} must be {wanted}, not {value}", option=option)


def wait_argument_spec(default_timeout=60):
    """Options of doc fragment sre.runbooks.wait."""
    return {
        "wait": {"type": "bool", "default": True},
        "wait_timeout": {"type": "int", "default": default_timeout},
        "wait_sleep": {"type": "float", "default": 0.5},
    }


class RunbookModule(AnsibleModule):
    """AnsibleModule with the shared option groups merged in."""

    def __init__(self, argument_spec, shared=(), bounds=None, **kwargs):
        spec = {}
        for group in shared:
            spec.update(group())
        spec.update(argument_spec)
        super().__init__(argument_spec=spec, **kwargs)
        if bounds:
            self.run(lambda module: check_bounds(module.params, bounds))

    def require_library(self, name, imported, import_error):
        if not imported:
            self.fail_json(msg=missing_required_lib(name), exception=import_error)

    def run(self, action):
        """Call action(self) and fail once, cleanly, on a typed error."""
        try:
            return action(self)
        except NotConfirmed as exc:
            self.fail_json(msg=exc.msg, changed=exc.changed, check_mode=False, **exc.details)
        except RunbookError as exc:
            details = dict(exc.details)
            self.fail_json(msg=exc.msg, changed=False, **details)
        except Exception as exc:  # noqa: BLE001 -- last resort: a bug, reported with its traceback
            self.fail_json(msg=f"Unexpected error: {exc}", exception=traceback.format_exc(), changed=False)

    def exit_change(self, result):
        """Exit with a remediation's result: changed from its actions (unless set), check_mode, and the
        before/after diff when --diff is asked for."""
        result.setdefault("changed", bool(result.get("actions")))
        result["check_mode"] = self.check_mode
        if self._diff:
            result["diff"] = {"before": result.get("before"), "after": result.get("after")}
        self.exit_json(**result)

    def run_change(self, change):
        """Exit with change(module)'s result (see exit_change); a NotConfirmed fails with changed=true."""
        self.run(lambda module: module.exit_change(change(module)))

    def run_check(self, check):
        """Exit with check(params) (a module_utils.checks run function); a typed error fails once."""
        result = self.run(lambda module: check(module.params))
        self.exit_json(changed=False, **result)
