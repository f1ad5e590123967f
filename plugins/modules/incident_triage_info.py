#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: incident_triage_info
short_description: Run several runbook checks at once, in one task
version_added: 1.0.0
description:
  - The runbook's Immediate Triage - every dependency checked at the same time - in one module process.
    Each check is one of the collection's check modules, run with the same options and returning exactly what
    that module returns.
  - Every check's arguments are validated first, against that module's own options; a bad argument fails the task
    naming the check and the option, and nothing is contacted.
  - The checks then run concurrently, each bounded by O(timeout). A check that fails or does not finish in time
    becomes status C(unknown) with a C(triage.check_failed) finding; the others still report.
  - Options of the checks that are secrets (passwords, keys) are never printed.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.attributes
  - sre.runbooks.attributes.INFO_MODULE
options:
  checks:
    description:
      - The checks to run, by name (the name is the check's key in RV(checks) and RV(durations)).
      - Each is a dict with C(module), the check module to run (one of C(http_health_info), C(redis_info),
        C(postgres_info), C(rds_info), C(k8s_cluster_info), C(k8s_workload_info), C(k8s_pod_logs_info),
        C(qdrant_info), C(llm_provider_info), C(elb_target_health_info), C(elb_access_log_info),
        C(ec2_instance_info), C(asg_info), C(network_path_info), C(aws_health_info), C(route53_record_info)), and
        C(args), that module's options as the module takes them.
      - The values of the modules' secret options (C(password), C(login_password), C(secret_key), ...) are masked
        in every output, as when the module runs alone.
    type: dict
    required: true
  timeout:
    description: Seconds after which a check that has not reported counts as C(unknown).
    type: float
    default: 30
seealso:
  - module: sre.runbooks.http_health_info
  - module: sre.runbooks.redis_info
  - module: sre.runbooks.postgres_info
  - module: sre.runbooks.rds_info
  - module: sre.runbooks.k8s_cluster_info
  - module: sre.runbooks.k8s_workload_info
  - module: sre.runbooks.k8s_pod_logs_info
  - module: sre.runbooks.qdrant_info
  - module: sre.runbooks.llm_provider_info
"""

EXAMPLES = r"""
- name: Check every dependency at once (runbook Immediate Triage)
  sre.runbooks.incident_triage_info:
    checks:
      http:
        module: http_health_info
        args:
          endpoints:
            - {name: api, url: https://api.pynomaly.com/health}
      redis:
        module: redis_info
        args:
          nodes:
            - {name: redis-0, host: redis-0.redis.internal}
            - {name: redis-1, host: redis-1.redis.internal}
          password: "{{ vault_redis_password }}"
      postgres:
        module: postgres_info
        args:
          login_host: prod-db.amazonaws.com
          login_user: sre_oncall
          login_password: "{{ vault_postgres_oncall_password }}"
    timeout: 30
  register: triage

- name: Put every finding in one list
  ansible.builtin.set_fact:
    incident_checks: "{{ triage.checks }}"
    incident_findings: "{{ triage.findings }}"
"""

RETURN = r"""
status:
  description: The worst status of the checks (C(down) > C(degraded) > C(unknown) > C(ok)).
  returned: always
  type: str
  sample: down
findings:
  description:
    - The findings of every check, ordered by check name, each exactly as its module returns it.
    - Also C(triage.check_failed) (warning) for a check that failed or did not finish within O(timeout);
      its evidence names the C(check).
  returned: always
  type: list
  elements: dict
  sample:
    - id: triage.check_failed
      severity: warning
      summary: "The redis check did not report: no answer within 30 seconds"
      evidence: {check: redis}
checks:
  description: Check name to that check's result (C(status), C(findings) and the data its module returns).
  returned: always
  type: dict
  sample:
    http: {status: ok, findings: [], endpoints: [], summary: {total: 1, healthy: 1, failing: 0, max_latency_ms: 3.1}}
    redis: {status: unknown, findings: [{id: triage.check_failed, severity: warning}]}
durations:
  description: Check name to the seconds it took (O(timeout) for a check that did not finish).
  returned: always
  type: dict
  sample: {http: 0.05, redis: 30.0}
"""

import os
import sys
import threading
import time
from concurrent.futures import Future, wait

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.sre.runbooks.plugins.module_utils.checks import (
    asg,
    aws_health,
    ec2_instance,
    elb_access_log,
    elb_target_health,
    http_health,
    k8s_cluster,
    k8s_pod_logs,
    k8s_workload,
    llm_provider,
    network_path,
    postgres,
    qdrant,
    rds,
    redis,
    route53_record,
)
from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.findings import finding, worst_status

CHECKS = {"http_health_info": http_health, "redis_info": redis, "postgres_info": postgres, "rds_info": rds,
          "k8s_cluster_info": k8s_cluster, "k8s_workload_info": k8s_workload, "k8s_pod_logs_info": k8s_pod_logs,
          "qdrant_info": qdrant, "llm_provider_info": llm_provider,
          "elb_target_health_info": elb_target_health, "elb_access_log_info": elb_access_log,
          "ec2_instance_info": ec2_instance, "asg_info": asg, "network_path_info": network_path,
          "aws_health_info": aws_health, "route53_record_info": route53_record}


class TriageModule(RunbookModule):
    """Validates every check's arguments against its module's spec before AnsibleModule logs its invocation,
    so that the secrets among them are registered as no_log values first and masked everywhere."""

    def __init__(self, **kwargs):
        self.check_params = None
        super().__init__(**kwargs)
        if self.check_params is None:  # the task is no_log: nothing was logged
            self.check_params = self.validate_checks()

    def _log_invocation(self):
        self.check_params = self.validate_checks()
        super()._log_invocation()

    def validate_checks(self):
        return {name: self.validate_check(name, check) for name, check in self.params["checks"].items()}

    def validate_check(self, name, check):
        if not isinstance(check, dict) or check.get("module") not in CHECKS:
            self.fail_json(msg=f"check {name}: give module (one of {', '.join(CHECKS)}) and args", check=name)
        spec = CHECKS[check["module"]]
        validated = ArgumentSpecValidator(spec.argument_spec(), **spec.SPEC_OPTIONS).validate(check.get("args") or {})
        self.no_log_values.update(validated._no_log_values)
        if validated.error_messages:
            self.fail_json(msg=f"check {name} ({check['module']}): {'; '.join(validated.error_messages)}",
                           check=name)
        params = validated.validated_parameters
        try:  # what the argument spec cannot express (bounds, regular expressions, names that must match)
            getattr(spec, "validate", lambda params: None)(params)
        except RunbookError as exc:
            self.fail_json(msg=f"check {name} ({check['module']}): {exc.msg}", check=name)
        return params


def failed_check(name, why):
    return {"status": "unknown", "findings": [finding("triage.check_failed", "warning",
                                                      f"The {name} check did not report: {why}", {"check": name})]}


def start(run, params, ended):
    """run(params) in a daemon thread (a hung check must not keep the module from exiting); its Future."""
    future = Future()

    def target():
        try:
            future.set_result(run(params))
        except Exception as exc:  # noqa: BLE001 -- any error of one check becomes that check's result
            future.set_exception(exc)
        ended.append(time.monotonic())

    threading.Thread(target=target, daemon=True).start()
    return future


def outcome(name, future, timeout):
    if not future.done():
        return failed_check(name, f"no answer within {timeout:g} seconds")
    exc = future.exception()
    if isinstance(exc, RunbookError):
        return failed_check(name, exc.msg)
    if exc is not None:
        return failed_check(name, f"unexpected error: {type(exc).__name__}: {exc}")
    return future.result()


def triage(module):
    """The module's result, and the names of the checks still running after the timeout."""
    timeout = module.params["timeout"]
    started = time.monotonic()
    ended = {name: [] for name in module.check_params}
    futures = {name: start(CHECKS[module.params["checks"][name]["module"]].run, params, ended[name])
               for name, params in module.check_params.items()}
    wait(futures.values(), timeout=timeout)
    checks = {name: outcome(name, future, timeout) for name, future in futures.items()}
    durations = {name: round((ended[name][0] if ended[name] else time.monotonic()) - started, 3) for name in futures}
    findings = [f for name in sorted(checks) for f in checks[name]["findings"]]
    result = {"status": worst_status(*(c["status"] for c in checks.values())), "findings": findings,
              "checks": checks, "durations": durations}
    return result, [name for name, future in futures.items() if not future.done()]


def leave_hung_checks_behind():
    """End the process once the result is out, without waiting for a check that is still running.

    Python joins the worker threads of every thread pool (the checks' own pools among them) before it
    exits; a hung check would keep the task waiting past its timeout. Callbacks registered here run just
    before that join, after the module has printed its result and AnsiballZ has removed its payload.
    """
    def end_now():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    threading._register_atexit(end_now)


def main():
    module = TriageModule(
        argument_spec={
            "checks": {"type": "dict", "required": True},
            "timeout": {"type": "float", "default": 30},
        },
        supports_check_mode=True,
    )
    result, still_running = triage(module)
    if still_running:
        leave_hung_checks_behind()
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
