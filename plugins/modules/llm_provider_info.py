#!/usr/bin/python
# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: llm_provider_info
short_description: Check the LLM providers, their keys and their status pages
version_added: 1.0.0
description:
  - The runbook's P0-4 investigation (check the provider's status page, the API key, the rate limits) for every
    LLM provider of the application, OpenAI-compatible or Anthropic, in one call.
  - Per provider, concurrently, it reads the Atlassian Statuspage JSON (overall C(status.indicator) and the
    status of the API component) and makes one cheap authenticated call, C(GET {api_base}/models), which proves
    the key (401/403 means it is invalid), returns the request rate-limit headers and measures latency.
  - Says whether the fallback provider is configured and healthy, which decides between switching providers and
    cache-only mode.
  - A provider that is down is a finding, not a failure of the task. API keys never appear in the result.
author: sre.runbooks contributors (!UNKNOWN)
extends_documentation_fragment:
  - sre.runbooks.attributes
  - sre.runbooks.attributes.INFO_MODULE
options:
  providers:
    description: The LLM providers to check.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the provider (as O(primary) and O(fallback) refer to it), for example C(openai).
        type: str
        required: true
      type:
        description:
          - C(openai) for the OpenAI API and OpenAI-compatible APIs (C(Authorization) Bearer key,
            C(x-ratelimit-*-requests) headers); C(anthropic) for the Anthropic API (C(x-api-key) and
            C(anthropic-version) headers, C(anthropic-ratelimit-requests-*) headers).
        type: str
        default: openai
        choices: [openai, anthropic]
      api_base:
        description: Base URL of the API, up to and including the version, for example C(https://api.openai.com/v1).
        type: str
        required: true
      api_key:
        description: The API key the application uses. Never printed.
        type: str
        required: true
      status_url:
        description:
          - Statuspage JSON of the provider, for example C(https://status.openai.com/api/v2/summary.json).
            C(summary.json) gives the indicator and the components, C(status.json) the indicator only.
          - Without it the status page is not read.
        type: str
      status_component:
        description: Name of the API component on this provider's status page. Defaults to O(status_component).
        type: str
      model:
        description: The model the application uses; when given, the check says whether the API lists it.
        type: str
  primary:
    description: Name of the provider the application uses now. Defaults to the first of O(providers).
    type: str
  fallback:
    description: Name of the provider to switch to when the primary fails. Without it, no fallback is configured.
    type: str
  timeout:
    description: Seconds before a request counts as unanswered.
    type: float
    default: 10.0
  max_latency_ms:
    description: A provider whose API takes longer than this many milliseconds is degraded.
    type: int
    default: 5000
  status_component:
    description: Name of the API component on the status pages (case-insensitive), unless a provider names its own.
    type: str
    default: API
  anthropic_version:
    description: Value of the C(anthropic-version) header sent to Anthropic providers.
    type: str
    default: '2023-06-01'
  validate_certs:
    description: Verify TLS certificates.
    type: bool
    default: true
notes:
  - Runs on the controller or any host; uses only the Python standard library.
  - The key check costs one C(GET /models) request per provider, which uses no tokens.
"""

EXAMPLES = r"""
- name: Check OpenAI status, key validity and rate limits, and the Anthropic fallback (runbook P0-4)
  sre.runbooks.llm_provider_info:
    providers:
      - name: openai
        type: openai
        api_base: https://api.openai.com/v1
        api_key: "{{ vault_openai_api_key }}"
        status_url: https://status.openai.com/api/v2/summary.json
        model: gpt-4o-mini
      - name: anthropic
        type: anthropic
        api_base: https://api.anthropic.com/v1
        api_key: "{{ vault_anthropic_api_key }}"
        status_url: https://status.anthropic.com/api/v2/summary.json
        status_component: Claude API (api.anthropic.com)
    primary: openai
    fallback: anthropic
  register: llm

- name: Switch to the fallback provider only when it is healthy
  ansible.builtin.debug:
    msg: "{{ 'switch to ' ~ llm.fallback if llm.fallback_healthy else 'use cache-only mode' }}"
  when: llm.status == 'down'
"""

RETURN = r"""
status:
  description: C(down) when the primary provider cannot serve (outage, API not answering, key invalid);
    C(degraded) for any other warning or critical finding; C(ok) otherwise.
  returned: always
  type: str
  sample: down
findings:
  description:
    - Ids C(llm.provider_outage) (the status page says major or critical, or the API component is in partial or
      major outage, or the API answers 5xx/529, or the primary's API does not answer at all;
      critical for the primary, warning for another provider),
    - C(llm.provider_degraded) (status page minor or API component degraded_performance, latency above
      O(max_latency_ms), or the model not listed; warning),
    - C(llm.provider_unreachable) (the API of a provider other than the primary does not answer, or any API gives
      an unexpected answer such as 404, evidence C(target=api), critical for the primary, warning otherwise;
      or a status page gives no status, C(target=status_page), info),
    - C(llm.key_invalid) (the API answers 401/403 to the key; critical for the primary, warning otherwise),
    - C(llm.rate_limited) (the API answers 429 or no request remains; warning),
    - C(llm.fallback_unavailable) (no fallback configured, or the fallback is not healthy; evidence C(why);
      info when the primary is healthy and none is configured, warning when the primary is healthy, critical
      when it is not).
    - Evidence of per-provider findings has C(provider) and C(primary) (true for the primary provider).
  returned: always
  type: list
  elements: dict
  sample:
    - id: llm.provider_outage
      severity: critical
      summary: "openai is having an outage: its API answered 503"
      evidence: {provider: openai, primary: true, indicator: major, component_status: major_outage,
                 api_status: 503, error: Service Unavailable, why: its API answered 503}
    - id: llm.fallback_unavailable
      severity: critical
      summary: "No healthy fallback for openai: no fallback provider is configured"
      evidence: {provider: openai, fallback: null, fallback_configured: false,
                 why: no fallback provider is configured}
providers:
  description: Every provider as read, in the order given.
  returned: always
  type: list
  elements: dict
  sample:
    - name: openai
      type: openai
      primary: true
      fallback: false
      healthy: true
      api_base: https://api.openai.com/v1
      status_url: https://status.openai.com/api/v2/summary.json
      status_indicator: none
      status_description: All Systems Operational
      api_component_status: operational
      status_error: null
      api_status: 200
      api_error: null
      key_valid: true
      latency_ms: 84.2
      model: gpt-4o-mini
      model_listed: true
      rate_limit: {limit: 5000, remaining: 4999, reset: 12ms, reset_seconds: 0.012, retry_after: null}
      problems: []
primary:
  description: Name of the primary provider.
  returned: always
  type: str
  sample: openai
fallback:
  description: Name of the fallback provider, or null when none is configured.
  returned: always
  type: str
  sample: anthropic
fallback_healthy:
  description: Whether the fallback provider is healthy; null when none is configured.
  returned: always
  type: bool
  sample: true
"""

from ansible_collections.sre.runbooks.plugins.module_utils.checks import llm_provider
from ansible_collections.sre.runbooks.plugins.module_utils.common import RunbookModule


def main():
    module = RunbookModule(argument_spec=llm_provider.argument_spec(), supports_check_mode=True,
                           **llm_provider.SPEC_OPTIONS)
    module.run_check(llm_provider.run)


if __name__ == "__main__":
    main()
