#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: incident_diagnose
short_description: Map triage findings to runbook scenarios and decide each remediation step
version_added: 1.0.0
description:
  - Ordered rules match finding ids (for example C(redis.primary_unreachable)) to the runbook scenario that
    applies, with the findings that matched as evidence.
  - Each scenario's steps get a decision from O(remediation_mode), check mode and O(approved_steps)
    C(plan), C(manual), C(run) or C(needs_approval).
  - Findings a scenario matched or explains are not matched again by a later rule, so one outage
    is one scenario even when it breaks several checks.
  - Pure logic; reads and changes nothing outside its arguments.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.attributes
  - sre.runbooks.attributes.INFO_MODULE
options:
  findings:
    description: Every finding of the triage (C(id), C(severity), C(summary), C(evidence)).
    type: list
    elements: dict
    required: true
  rules:
    description:
      - Ordered diagnosis rules. Keys C(id), C(title), C(runbook), C(match_all), C(match_any), C(explains), C(steps).
      - Each step has C(id), C(description), C(risk) (C(low) or C(high)), C(auto) (a high-risk step that
        C(auto) mode may run because its module guards it) and C(automated) (false for a step a person does).
    type: list
    elements: dict
    required: true
  remediation_mode:
    description:
      - C(plan) reports only; C(approve) runs the steps listed in O(approved_steps);
        C(auto) runs low-risk steps and the high-risk steps marked C(auto).
      - Check mode always means C(plan).
    type: str
    choices: [plan, approve, auto]
    default: plan
  approved_steps:
    description: Step ids a person has approved (for example C(redis.promote_replica)).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Diagnose which runbook scenario applies
  sre.runbooks.incident_diagnose:
    findings: "{{ incident_findings }}"
    rules: "{{ diagnosis_rules }}"
    remediation_mode: "{{ remediation_mode }}"
    approved_steps: "{{ approved_steps }}"
  register: diagnosis
"""

RETURN = r"""
scenarios:
  description:
    - The scenarios that apply, in rule order, each with the C(matched) findings, the C(explained) findings
      (those its C(explains) accounted for) and the decided C(steps).
  returned: always
  type: list
  elements: dict
  sample:
    - id: redis-failure
      title: "Redis primary down (P0-3 Redis Cache Failure)"
      runbook: "p0-kubernetes-llm.md, P0-3 Redis Cache Failure"
      matched: [{id: redis.primary_unreachable, severity: critical, summary: "...", evidence: {}}]
      explained: [{id: http.endpoint_error, severity: critical, summary: "...", evidence: {name: api}}]
      steps: [{id: redis.promote_replica, risk: high, decision: run, scenario: redis-failure}]
steps:
  description: Every step of every scenario, flat, with its C(decision).
  returned: always
  type: list
  elements: dict
  sample: [{id: redis.promote_replica, decision: run, risk: high, scenario: redis-failure}]
run_steps:
  description: Ids of the steps to carry out now.
  returned: always
  type: list
  elements: str
  sample: [redis.promote_replica]
unexplained:
  description: Findings no scenario accounts for.
  returned: always
  type: list
  elements: dict
  sample: []
summary:
  description: One sentence for the person on call.
  returned: always
  type: str
  sample: "Diagnosis: Redis primary down (P0-3 Redis Cache Failure)"
"""

from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.diagnosis import diagnose, summarize
from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError


def validate(rules, findings):
    for index, rule in enumerate(rules):
        for key in ("id", "title"):
            if not rule.get(key):
                raise RunbookError(f"rules[{index}] has no {key}")
        for step in rule.get("steps") or []:
            if not step.get("id"):
                raise RunbookError(f"rules[{index}] ({rule['id']}) has a step without an id")
            if step.get("risk", "high") not in ("low", "high"):
                raise RunbookError(f"rules[{index}] step {step['id']}: risk must be low or high")
    for index, item in enumerate(findings):
        if "id" not in item:
            raise RunbookError(f"findings[{index}] has no id")


def run(module):
    params = module.params
    validate(params["rules"], params["findings"])
    scenarios, unexplained = diagnose(params["findings"], params["rules"], params["remediation_mode"],
                                      module.check_mode, params["approved_steps"])
    steps = [step for scenario in scenarios for step in scenario["steps"]]
    module.exit_json(changed=False, scenarios=scenarios, steps=steps, unexplained=unexplained,
                     run_steps=[s["id"] for s in steps if s["decision"] == "run"],
                     summary=summarize(scenarios, unexplained))


def main():
    module = RunbookModule(
        argument_spec={
            "findings": {"type": "list", "elements": "dict", "required": True},
            "rules": {"type": "list", "elements": "dict", "required": True},
            "remediation_mode": {"type": "str", "default": "plan", "choices": ["plan", "approve", "auto"]},
            "approved_steps": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    module.run(run)


if __name__ == "__main__":
    main()
