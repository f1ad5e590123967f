# Copyright: sre.runbooks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The llm_provider_info check: argument_spec() and run(params), used by its module and by incident_triage_info.

Per provider, concurrently: its Statuspage status JSON (overall indicator, the API component) and one cheap
authenticated call (GET {api_base}/models) that proves the key, reads the rate-limit headers and times the API.
API keys are no_log options: Ansible masks them in everything the module (or incident_triage_info) returns.
"""

import json
import re

from ansible_collections.sre.runbooks.plugins.module_utils.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.findings import check_result, finding, status_from
from ansible_collections.sre.runbooks.plugins.module_utils.http_client import fetch_all, redact_url
from ansible_collections.sre.runbooks.plugins.module_utils.timestamps import seconds_since

# Passed to AnsibleModule (and to ArgumentSpecValidator) with argument_spec().
SPEC_OPTIONS = {}

OUTAGE_INDICATORS = ("major", "critical")
OUTAGE_COMPONENT = ("partial_outage", "major_outage")
RATE_HEADERS = {
    "openai": ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"),
    "anthropic": ("anthropic-ratelimit-requests-limit", "anthropic-ratelimit-requests-remaining",
                  "anthropic-ratelimit-requests-reset"),
}


def argument_spec():
    """The options of sre.runbooks.llm_provider_info."""
    provider_spec = {
        "name": {"type": "str", "required": True},
        "type": {"type": "str", "default": "openai", "choices": ["openai", "anthropic"]},
        "api_base": {"type": "str", "required": True},
        "api_key": {"type": "str", "required": True, "no_log": True},
        "status_url": {"type": "str"},
        "status_component": {"type": "str"},
        "model": {"type": "str"},
    }
    return {
        "providers": {"type": "list", "elements": "dict", "required": True, "options": provider_spec},
        "primary": {"type": "str"},
        "fallback": {"type": "str"},
        "timeout": {"type": "float", "default": 10.0},
        "max_latency_ms": {"type": "int", "default": 5000},
        "status_component": {"type": "str", "default": "API"},
        "anthropic_version": {"type": "str", "default": "2023-06-01"},
        "validate_certs": {"type": "bool", "default": True},
    }


def validate(params):
    """Cross-option checks the argument spec cannot express; returns (primary, fallback)."""
    providers = params["providers"]
    if not providers:
        raise RunbookError("providers must name at least one provider")
    names = [p["name"] for p in providers]
    for index, provider in enumerate(providers):
        if names.count(provider["name"]) > 1:
            raise RunbookError(f"providers[{index}].name {provider['name']!r} is used by more than one provider")
        if re.search(r"[\s\x00-\x1f\x7f]", provider.get("api_key") or ""):
            raise RunbookError(f"providers[{index}].api_key contains whitespace or control characters; "
                               "pass the key alone (it is sent as a header)")
        for key in ("api_base", "status_url"):
            if provider.get(key) and not re.match(r"^https?://", provider[key]):
                raise RunbookError(f"providers[{index}].{key} must start with http:// or https://, got "
                                   f"{redact_url(provider[key])!r}")
    primary = params.get("primary") or names[0]
    if primary not in names:
        raise RunbookError(f"primary {primary!r} is not one of the providers ({', '.join(names)})")
    fallback = params.get("fallback")
    if fallback is not None and fallback not in names:
        raise RunbookError(f"fallback {fallback!r} is not one of the providers ({', '.join(names)})")
    if fallback == primary:
        raise RunbookError(f"fallback {fallback!r} is the primary provider; name another provider or none")
    if params["timeout"] <= 0 or params["max_latency_ms"] <= 0:
        raise RunbookError("timeout and max_latency_ms must be greater than 0")
    return primary, fallback


def api_request(provider, params):
    base = provider["api_base"].rstrip("/")
    if provider["type"] == "anthropic":
        headers = {"x-api-key": provider["api_key"], "anthropic-version": params["anthropic_version"]}
        url = f"{base}/models?limit=1000"
    else:
        headers = {"Authorization": f"Bearer {provider['api_key']}"}
        url = f"{base}/models"
    headers.update({"Accept": "application/json", "User-Agent": "sre.runbooks llm_provider_info"})
    return {"url": url, "headers": headers, "timeout": params["timeout"], "validate_certs": params["validate_certs"]}


def parse_json(text):
    try:
        return json.loads(text)
    except ValueError:
        return None


def reset_seconds(value):
    """Seconds until a limit resets: OpenAI gives a duration (6m0s, 1s, 12ms), Anthropic an RFC 3339 time."""
    if not value:
        return None
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", value)
    if parts and "".join(n + u for n, u in parts) == value.strip():
        return round(sum(float(n) * units[u] for n, u in parts), 3)
    since = seconds_since(value)
    return None if since is None else max(0.0, round(-since, 1))


def as_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def rate_limit(provider, result):
    limit, remaining, reset = (result["headers"].get(h) for h in RATE_HEADERS[provider["type"]])
    return {"limit": as_int(limit), "remaining": as_int(remaining), "reset": reset,
            "reset_seconds": reset_seconds(reset), "retry_after": as_int(result["headers"].get("retry-after"))}


def read_status_page(record, provider, result, params):
    if result is None:
        return
    body = parse_json(result["body"]) if result["status_code"] == 200 else None
    if not isinstance(body, dict) or not isinstance(body.get("status"), dict):
        record["status_error"] = result["error"] or f"answered {result['status_code']}, not Statuspage JSON"
        return
    record["status_indicator"] = body["status"].get("indicator")
    record["status_description"] = body["status"].get("description")
    wanted = (provider.get("status_component") or params["status_component"]).lower()
    for component in body.get("components") or []:
        if isinstance(component, dict) and str(component.get("name", "")).lower() == wanted:
            record["api_component_status"] = component.get("status")


def read_api(record, provider, result):
    record["api_status"], record["latency_ms"] = result["status_code"], result["latency_ms"]
    code = result["status_code"]
    if code is None:
        record["api_error"] = result["error"]
        return
    record["rate_limit"] = rate_limit(provider, result)
    body = parse_json(result["body"])
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        record["api_error"] = str(error["message"])[:300]
    elif code >= 300:
        record["api_error"] = f"answered {code}"
    record["key_valid"] = False if code in (401, 403) else (True if code < 300 or code == 429 else None)
    if provider.get("model") and code < 300 and isinstance(body, dict) and isinstance(body.get("data"), list):
        record["model_listed"] = provider["model"] in [m.get("id") for m in body["data"] if isinstance(m, dict)]


def judge(record, params):
    """The findings of one provider; sets record healthy."""
    name, primary = record["name"], record["primary"]
    severity = "critical" if primary else "warning"
    code = record["api_status"]
    base = {"provider": name, "primary": primary}
    found = []
    outage = (record["status_indicator"] in OUTAGE_INDICATORS or record["api_component_status"] in OUTAGE_COMPONENT
              or (code is not None and code >= 500) or (code is None and primary))
    if outage:
        if code is None:
            why = f"its API does not answer ({record['api_error']})"
        elif code >= 500:
            why = f"its API answered {code}"
        else:
            why = f"its status page says {record['status_indicator']} (API component {record['api_component_status']})"
        found.append(finding("llm.provider_outage", severity, f"{name} is having an outage: {why}", dict(
            base, indicator=record["status_indicator"], component_status=record["api_component_status"],
            api_status=code, error=record["api_error"], why=why)))
    elif code is None or (code >= 300 and code not in (401, 403, 429)):
        evidence = dict(base, target="api", api_status=code, error=record["api_error"])
        found.append(finding("llm.provider_unreachable", severity,
                             f"{name} API gives no usable answer: {record['api_error']}", evidence))
    if code in (401, 403):
        found.append(finding("llm.key_invalid", severity, f"{name} rejects the API key ({code}): "
                             f"{record['api_error']}", dict(base, http_status=code, message=record["api_error"])))
    limits = record["rate_limit"]
    if code == 429 or (code is not None and code < 300 and limits.get("remaining") == 0):
        wait = limits.get("retry_after") if limits.get("retry_after") is not None else limits.get("reset_seconds")
        found.append(finding("llm.rate_limited", "warning", f"{name} is rate limiting this key ({code}, "
                             f"{limits.get('remaining')} of {limits.get('limit')} requests left; retry in {wait} s)",
                             dict(base, http_status=code, **limits)))
    record["healthy"] = not found
    if record["status_error"]:
        found.append(finding("llm.provider_unreachable", "info", f"{name} status page gives no status: "
                             f"{record['status_error']}", dict(base, target="status_page",
                                                               error=record["status_error"])))
    why = []
    if record["status_indicator"] == "minor" or record["api_component_status"] == "degraded_performance":
        why.append(f"its status page says {record['status_indicator']} "
                   f"(API component {record['api_component_status']})")
    if record["healthy"] and record["latency_ms"] > params["max_latency_ms"]:
        why.append(f"its API took {record['latency_ms']:.0f} ms (threshold {params['max_latency_ms']} ms)")
    if record["model_listed"] is False:
        why.append(f"it does not offer the model {record['model']}")
    if record["healthy"] and why:
        found.append(finding("llm.provider_degraded", "warning", f"{name} is degraded: {'; '.join(why)}", dict(
            base, indicator=record["status_indicator"], component_status=record["api_component_status"],
            latency_ms=record["latency_ms"], why="; ".join(why))))
    record["problems"] = [f["summary"] for f in found]
    return found


def fallback_finding(primary, fallback, records):
    primary_ok = records[primary]["healthy"]
    if fallback is None:
        why = "no fallback provider is configured"
    elif not records[fallback]["healthy"]:
        why = f"{fallback} is not healthy: {'; '.join(records[fallback]['problems'])}"
    else:
        return None
    severity = "info" if primary_ok and fallback is None else ("warning" if primary_ok else "critical")
    return finding("llm.fallback_unavailable", severity, f"No healthy fallback for {primary}: {why}",
                   {"provider": primary, "fallback": fallback, "fallback_configured": fallback is not None, "why": why})


def new_record(provider, primary, fallback):
    return {"name": provider["name"], "type": provider["type"], "primary": provider["name"] == primary,
            "fallback": provider["name"] == fallback, "api_base": redact_url(provider["api_base"]),
            "status_url": redact_url(provider["status_url"]) if provider.get("status_url") else None,
            "model": provider.get("model"), "healthy": False, "status_indicator": None, "status_description": None,
            "api_component_status": None, "status_error": None, "api_status": None, "api_error": None,
            "key_valid": None, "latency_ms": None, "model_listed": None, "rate_limit": {}}


def run(params):
    """Read every provider at once; the result sre.runbooks.llm_provider_info returns."""
    primary, fallback = validate(params)
    providers = params["providers"]
    requests = [api_request(p, params) for p in providers]
    with_status = [p for p in providers if p.get("status_url")]
    requests += [{"url": p["status_url"], "headers": {"Accept": "application/json"}, "timeout": params["timeout"],
                  "validate_certs": params["validate_certs"]} for p in with_status]
    results = fetch_all(requests, len(requests))
    status_results = dict(zip([p["name"] for p in with_status], results[len(providers):]))
    records, findings = {}, []
    for provider, result in zip(providers, results):
        record = records[provider["name"]] = new_record(provider, primary, fallback)
        read_api(record, provider, result)
        read_status_page(record, provider, status_results.get(provider["name"]), params)
        findings.extend(judge(record, params))
    extra = fallback_finding(primary, fallback, records)
    findings += [extra] if extra else []
    down = [f for f in findings if f["evidence"].get("primary") and f["severity"] == "critical"]
    result = check_result(findings, status="down" if down else status_from(findings), providers=list(records.values()),
                          primary=primary, fallback=fallback,
                          fallback_healthy=records[fallback]["healthy"] if fallback else None)
    return result
