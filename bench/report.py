"""The benchmark's targets and its Markdown table (latest.md)."""

from __future__ import annotations

from bench.machine import one_line

# The row label each section's first row starts with in latest.md (tests/integration/test_bench.py looks for them).
SECTION_TITLES = {
    "fixed_cost": "Fixed cost",
    "modules": "Check alone",
    "triage": "Whole triage",
    "http_scale": "http_health_info over",
    "uri_loop": "uri loop",
    "hang": "Hanging dependency",
    "memory": "Memory",
}

# Groups of a triage run's task time, in the order a run goes through them (bench.__main__.where_the_time_goes).
WHERE = ("triage checks", "wait for async checks", "diagnose", "verify checks", "rest")


def _verdict(value, limit, at_most: bool, unit: str) -> tuple[str, str]:
    if value is None or limit is None:
        return "not measured", ""
    if at_most:
        ok, gap = value <= limit, value - limit
        ratio = f" ({value / limit:.2f}x the limit)" if not ok and limit else ""
        return ("pass", f"{-gap:.2f}{unit} to spare") if ok else ("MISS", f"over by {gap:.2f}{unit}{ratio}")
    ok, gap = value >= limit, limit - value
    if ok:
        return "pass", f"{-gap:.1f}{unit} to spare"
    return "MISS", f"short by {gap:.1f}{unit} ({value / limit:.0%} of the target)"


def _target(tid: str, target: str, value, limit, at_most: bool, unit: str, shown: str, note: str = "") -> dict:
    verdict, by = _verdict(value, limit, at_most, unit)
    return {"id": tid, "target": target, "value": value, "limit": limit, "result": shown if value is not None else "-",
            "verdict": verdict, "by": by, "note": note}


def _get(results: dict, *keys):
    value = results
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _f(value, spec: str = ".2f", suffix: str = " s") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def targets(results: dict) -> list[dict]:
    """Each target with what was measured, pass or MISS, and by how much."""
    out = []
    timeout = _get(results, "http_scale", "timeout_s")
    for count, limit in (("200", 1.5), ("1000", 3.0)):
        task = _get(results, "http_scale", "sizes", count, "task_s")
        hangs = _get(results, "http_scale", "sizes", count, "endpoints", "hang")
        note = (f"{hangs} endpoints hang, so no run can end before their {timeout:g} s timeout: "
                f"{task - timeout:.2f} s above that floor") if task is not None and hangs else ""
        out.append(_target(f"http_{count}", f"http_health_info, {count} endpoints: task time at most {limit:g} s",
                           task, limit, True, " s", _f(task), note))

    uri = results.get("uri_loop") or {}
    shown = (f"{_f(uri.get('speedup'), '.1f', 'x')} (uri loop {_f(uri.get('task_s'))}, "
             f"http_health_info {_f(uri.get('http_health_info_task_s'))})")
    out.append(_target("uri_speedup", "http_health_info at least 30x faster than a uri loop over the same "
                       f"{uri.get('endpoints')} endpoints", uri.get("speedup"), 30.0, False, "x", shown))

    fixed, slowest = _get(results, "fixed_cost", "median_s"), _get(results, "modules", "slowest") or {}
    triage = _get(results, "triage", "until_diagnosis_s")
    limit = round(1.5 * (slowest["task_s"] + fixed), 3) if slowest and fixed is not None else None
    shown = (f"{_f(triage)} from the command to the diagnosis (limit {_f(limit)} = 1.5 x "
             f"({_f(slowest.get('task_s'))} {slowest.get('name')} + {_f(fixed)} fixed cost))")
    note = (f"the whole plan run, with the messages, verification and evidence after the diagnosis: "
            f"{_f(_get(results, 'triage', 'with_callback_s'))}")
    out.append(_target("triage", "whole triage at most 1.5x (slowest single check + fixed cost)", triage, limit,
                       True, " s", shown, note))

    hang = results.get("hang") or {}
    by_phase = ", ".join(f"{p} {s:+.2f} s" for p, s in (hang.get("added_by_phase_s") or {}).items() if abs(s) >= 0.05)
    added = hang.get("added_until_diagnosis_s")
    note = f"to the whole plan run: {_f(hang.get('added_s'), '+.2f')}"
    note += f" (by phase: {by_phase})" if by_phase else ""
    out.append(_target("hang", "a hanging dependency adds at most its timeout (triage_http_timeout) to triage",
                       added, hang.get("triage_http_timeout_s"), True, " s",
                       f"{_f(added, '+.2f')} to the diagnosis (timeout {_f(hang.get('triage_http_timeout_s'), 'g')})",
                       note))

    instrumented, ab = _get(results, "triage", "instrumented") or {}, _get(results, "triage", "ab") or {}
    share = instrumented.get("share")
    percent = None if share is None else round(share * 100, 2)
    shown = (f"{_f(percent, '.2f', '%')} ({_f(instrumented.get('callback_s'), '.3f')} of "
             f"{_f(instrumented.get('wall_s'))}, instrumented)")
    note = (f"A/B of the medians: {_f(ab.get('added_s'), '+.2f')} "
            f"({_f(None if ab.get('share') is None else ab['share'] * 100, '+.1f', '%')})") if ab else ""
    out.append(_target("callback", "the incident_record callback adds under 5% of the triage", percent, 5.0, True,
                       " points", shown, note))

    memory = results.get("memory") or {}
    tree = memory.get("tree_pss_mb") if memory.get("endpoints") == 1000 else None
    shown = (f"{_f(tree, '.0f', ' MB')} (ansible-playbook + worker {_f(memory.get('controller_pss_mb'), '.0f', ' MB')}"
             f", module {_f(memory.get('module_hwm_mb'), '.0f', ' MB')})")
    out.append(_target("memory", "controller under 300 MB for 1,000 endpoints (whole process tree, PSS)", tree,
                       300.0, True, " MB", shown))
    return out


# Markdown ---------------------------------------------------------------------------------------------------
def _s(value) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _rows(results: dict) -> list[tuple[str, str, str]]:
    plan, rows = results.get("plan") or {}, []
    fixed = results.get("fixed_cost") or {}
    rows.append(("Fixed cost: ansible-playbook of one debug task", _s(fixed.get("median_s")),
                 f"wall, median of {plan.get('fixed')}"))
    modules = results.get("modules") or {}
    measured = modules.get("measured") or {}
    for name, m in sorted(measured.items(), key=lambda item: (item[1].get("kind") == "aggregate", item[0])):
        result = f"{_s(m['task_s'])} task (status {', '.join(m['status'])})"
        what = f"Check alone: {name} (lab)" if m.get("kind") != "aggregate" else f"All checks in one task: {name}"
        rows.append((what, result, f"task time, median of {plan.get('module')} in one playbook run"))
    for name, why in (modules.get("not_measured") or {}).items():
        rows.append((f"Check alone: {name}", "not measured", why))
    slowest = modules.get("slowest")
    if slowest:
        rows.append(("Check alone, slowest", f"{slowest['name']}: {_s(slowest['task_s'])} task", ""))
    rows += _triage_rows(results.get("triage") or {}, plan)
    http = results.get("http_scale") or {}
    timeout = http.get("timeout_s") or 0
    for count, size in sorted((http.get("sizes") or {}).items(), key=lambda item: int(item[0])):
        mix = size["endpoints"]
        what = (f"http_health_info over {count} endpoints ({mix['ok']} ok, {mix['fail']} 5xx, {mix['slow']} slow, "
                f"{mix['hang']} hanging)")
        result = f"{_s(size['task_s'])} task ({_s(size['wall_minus_fixed_s'])} wall - fixed cost)"
        rows.append((what, result, f"timeout {timeout:g} s; median of {plan.get('http')}"))
    uri = results.get("uri_loop") or {}
    if uri:
        result = (f"{_s(uri['task_s'])} task ({_s(uri['wall_minus_fixed_s'])} wall - fixed cost); "
                  f"http_health_info is {uri.get('speedup')}x faster")
        rows.append((f"uri loop over the same {uri['endpoints']} endpoints (by hand)", result,
                     f"ansible.builtin.uri, status_code 200, timeout {timeout:g} s; 1 run"))
    rows += _hang_rows(results.get("hang") or {}, plan)
    rows += _memory_rows(results.get("memory") or {})
    return rows


def _triage_rows(triage: dict, plan: dict) -> list[tuple[str, str, str]]:
    if not triage:
        return []
    inst, ab = triage.get("instrumented") or {}, triage.get("ab") or {}
    phases = ", ".join(f"{p} {s:.2f}" for p, s in (triage.get("phases_s") or {}).items())
    callback = (f"{_s(inst.get('callback_s'))} = {_pct(inst.get('share'))} of the run (instrumented); "
                f"A/B {_s(ab.get('added_s'))} = {_pct(ab.get('share'))}")
    how = ("instrumented: time spent dispatching to it in send_callback (bench/callback_cost.py), 1 run; "
           "A/B: difference of the medians")
    where_s = triage.get("where_s") or {}
    where = ", ".join(f"{k} {where_s[k]:.2f}" for k in WHERE if where_s.get(k))
    return [("Whole triage: p0-system-down.yml --check, from the command to the diagnosis",
             _s(triage.get("until_diagnosis_s")),
             "the run's wall time less what it did after the diagnosis (timeline.jsonl); median"),
            ("Whole triage: p0-system-down.yml --check, the whole run", _s(triage.get("with_callback_s")),
             f"wall, median of {plan.get('triage')}; by phase (s): {phases}"),
            ("Whole triage, task time by kind (s)", where, "bench_timer, median of the runs above"),
            ("Whole triage, incident_record disabled", _s(triage.get("without_callback_s")),
             f"ANSIBLE_CALLBACKS_ENABLED=bench_timer, median of {plan.get('ab')}, between the runs above"),
            ("incident_record callback", callback, how)]


def _hang_rows(hang: dict, plan: dict) -> list[tuple[str, str, str]]:
    if not hang:
        return []
    checks = ", ".join(f"{n} {c['status']}" for n, c in sorted((hang.get("checks") or {}).items()))
    by_phase = ", ".join(f"{p} {s:+.2f}" for p, s in (hang.get("added_by_phase_s") or {}).items() if abs(s) >= 0.05)
    others = "yes" if hang.get("every_other_check_reported") else "NO"
    result = (f"diagnosis after {_s(hang.get('until_diagnosis_s'))} (+{_s(hang.get('added_until_diagnosis_s'))}); "
              f"whole run {_s(hang.get('wall_s'))}: +{_s(hang.get('added_s'))} (by phase, s: {by_phase}); "
              f"checks reported: {checks}; every other check reported: {others}")
    how = (f"triage_http_timeout {hang.get('triage_http_timeout_s')} s; median of {plan.get('hang')}; "
           "phases and checks from the incident's timeline.jsonl")
    return [("Hanging dependency: triage with the app + one /hang endpoint", result, how)]


def _memory_rows(memory: dict) -> list[tuple[str, str, str]]:
    if not memory:
        return []
    triage = memory.get("triage") or {}
    scale = (f"controller tree {memory.get('tree_pss_mb')} MB (ansible-playbook + worker "
             f"{memory.get('controller_pss_mb')} MB), biggest module process {memory.get('module_hwm_mb')} MB")
    whole = f"controller tree {triage.get('tree_pss_mb')} MB (biggest single process {triage.get('max_rss_mb')} MB)"
    return [(f"Memory, http_health_info over {memory.get('endpoints')} endpoints", scale,
             "tree: peak PSS, /proc sampled every 0.1 s; module: its peak RSS (VmHWM)"),
            ("Memory, whole triage", whole, "tree: peak PSS (an async module daemonises out of the tree, unseen)")]


def _pct(share) -> str:
    return "-" if share is None else f"{share * 100:.1f}%"


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def results_table(results: dict) -> str:
    lines = ["| what | result | how |", "|---|---|---|"]
    return "\n".join(lines + [f"| {_cell(a)} | {_cell(b)} | {_cell(c)} |" for a, b, c in _rows(results)])


def targets_table(results: dict) -> str:
    lines = ["| target | result | verdict |", "|---|---|---|"]
    for t in results.get("targets") or []:
        verdict = f"**{t['verdict']}**" + (f", {t['by']}" if t["by"] else "")
        note = f"; {t['note']}" if t["note"] else ""
        lines.append(f"| {_cell(t['target'])} | {_cell(t['result'] + note)} | {_cell(verdict)} |")
    return "\n".join(lines)


def markdown(results: dict) -> str:
    machine = results.get("machine")
    head = [
        "# Triage benchmark",
        "",
        f"Machine: {one_line(machine) if machine else 'unknown'}.",
        f"Load average (1, 5, 15 min): {results.get('load_before')} before the run, {results.get('load_after')} after.",
        f"Run: {results.get('mode')} mode, started {results.get('started_at')}, took {results.get('duration_s')} s.",
        f"Code: commit {(results.get('commit') or 'unknown')[:12]} plus any uncommitted changes of the tree.",
        "Task time = from the task's start to its result, as the controller sees it (bench_timer callback);",
        "\"wall - fixed cost\" = the run's wall time minus the one-debug-task run's.",
        "",
    ]
    if results.get("errors"):
        head += ["**Errors** (the figures they touch are not to be trusted):", ""]
        head += [f"- {_cell(e)}" for e in results["errors"]] + [""]
    body = ["## Results", "", results_table(results), "", "## Targets", "", targets_table(results), ""]
    return "\n".join(head + body)
