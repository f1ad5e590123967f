"""The triage benchmark: what a triage costs, measured on this machine in one run.

    .venv/bin/python -m bench [--quick] [--out DIR]        (make bench)

Starts its own lab (lab.services.up in a temporary directory) and its own endpoint server
(bench/endpoints.py), then measures, each figure the median of several repetitions:

1. fixed cost    ansible-playbook of a one-debug-task playbook (bench/playbooks/fixed_cost.yml)
2. modules       each check module (plugins/modules/*_info.py) alone against the lab, and the slowest
3. triage        playbooks/p0-system-down.yml --check, with and without the incident_record callback
4. http_scale    http_health_info over 10, 200 and 1,000 endpoints; beside it a uri loop over 200
5. hang          the triage with one health endpoint that never answers
6. memory        peak memory of the controller's process tree and of the biggest module process

and compares them with the targets (bench/report.py). Writes DIR/latest.json and DIR/latest.md
(DIR defaults to bench/results) and every command's output to DIR/bench.log. Exits 1 when a
measured run failed (the files say which), 0 otherwise: a missed target is a result, not an error.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

import yaml

from bench import machine, report
from bench.checks import AGGREGATE_ARGS, CHECK_ARGS, discover, target
from bench.endpoints import EndpointServer, endpoint_kinds, endpoint_mix
from bench.runner import BENCH, BIN, REPO, WITHOUT_RECORD, ansible_env, median, playbook, run_ansible, task_seconds
from lab import services
from lab.core import Lab

PLANS = {
    # ab: runs with the incident_record callback disabled, beside the triage runs (a rough A/B; the callback's
    # share judged is the instrumented one, which run-to-run noise does not touch)
    "full": {"fixed": 5, "module": 3, "triage": 3, "ab": 1, "hang": 3, "http": 3, "sizes": [10, 200, 1000],
             "uri_size": 200},
    "quick": {"fixed": 1, "module": 1, "triage": 1, "ab": 1, "hang": 1, "http": 1, "sizes": [10, 50], "uri_size": 10},
}
ENDPOINT_TIMEOUT = 2.0  # seconds, every endpoint of the scale runs
TRIAGE = REPO / "playbooks" / "p0-system-down.yml"
INVENTORY = REPO / "inventories" / "lab"
SECTIONS = ("fixed_cost", "modules", "triage", "http_scale", "uri_loop", "hang", "memory")


class Bench:
    """One benchmark run: its plan, its lab, its endpoint server, its results."""

    def __init__(self, quick: bool, out: Path, work: Path):
        self.plan = PLANS["quick" if quick else "full"]
        self.out, self.work = out, work
        self.log = out / "bench.log"
        self.lab = Lab(work / "lab")
        self.server: EndpointServer | None = None
        self.results: dict = {"mode": "quick" if quick else "full", "plan": self.plan, "errors": [],
                              "work_dir": str(work)}
        self._incidents = 0

    # plumbing ---------------------------------------------------------------------------------------------
    def incident_dir(self) -> Path:
        self._incidents += 1
        path = self.work / "incidents" / str(self._incidents)
        path.mkdir(parents=True)
        return path

    def env(self, **kwargs) -> dict:
        return ansible_env(self.lab.root, self.incident_dir(), **kwargs)

    def run(self, what: str, argv: list[str], env: dict) -> dict:
        result = run_ansible(argv, env, self.log)
        if result["rc"] != 0:
            self.results["errors"].append(f"{what}: exit code {result['rc']} (see {self.log.name})")
        return result

    def vars_file(self, name: str, data: dict) -> Path:
        path = self.work / f"{name}.json"
        path.write_text(json.dumps(data))
        return path

    def fixed(self) -> float:
        return self.results["fixed_cost"]["median_s"]

    # 1. fixed cost ----------------------------------------------------------------------------------------
    def measure_fixed_cost(self) -> None:
        runs = [self.run("fixed cost", playbook(BENCH / "playbooks" / "fixed_cost.yml"), self.env())
                for _ in range(self.plan["fixed"])]
        self.results["fixed_cost"] = {"median_s": median(r["wall_s"] for r in runs),
                                      "playbook": "bench/playbooks/fixed_cost.yml", "runs": runs}

    # 2. each check module alone -------------------------------------------------------------------------
    def measure_modules(self) -> None:
        lab_services = self.lab.load()["services"]
        found = discover()
        singles = {name: CHECK_ARGS[name](lab_services) for name in found
                   if name in CHECK_ARGS and target(name, lab_services)}
        wanted = dict(singles)
        wanted.update({name: AGGREGATE_ARGS[name](singles) for name in found if name in AGGREGATE_ARGS})
        timed_runs = self.time_modules({name: (args, target(name, lab_services) or "localhost")
                                        for name, args in wanted.items()})
        measured = {name: dict(timed_runs[name], kind="aggregate" if name in AGGREGATE_ARGS else "check")
                    for name in wanted}
        not_measured = {name: "no line for it in CHECK_ARGS (bench/checks.py)" if name not in CHECK_ARGS
                        else "the lab runs no application server here" for name in found if name not in wanted}
        timed = {n: m for n, m in measured.items() if m["task_s"] is not None and m["kind"] == "check"}
        slowest = max(timed, key=lambda n: timed[n]["task_s"]) if timed else None
        self.results["modules"] = {
            "measured": measured, "not_measured": not_measured,
            "method": f"one playbook run, each module {self.plan['module']} times as its own task (rounds "
                      "interleaved); the median of its task times",
            "slowest": {"name": slowest, "task_s": timed[slowest]["task_s"]} if slowest else None}

    def time_modules(self, wanted: dict) -> dict:
        """Each module's task time: one playbook, a play per host, each module run plan["module"] times as its
        own task, the rounds interleaved so that drift hits every module alike (one ansible-playbook start in
        all, instead of one per module and repetition)."""
        rounds = range(self.plan["module"])
        plays = []
        for host in sorted({host for _args, host in wanted.values()}):
            tasks = [{"name": f"Bench {name} round {r}", f"sre.runbooks.{name}": args}
                     for r in rounds for name, (args, on) in wanted.items() if on == host]
            plays.append({"name": f"Bench - each check module alone, on {host}", "hosts": host,
                          "gather_facts": False, "tasks": tasks})
        path = self.work / "check_modules.yml"
        path.write_text(yaml.safe_dump(plays, sort_keys=False))
        run = self.run("each check module", playbook(path), self.env())
        out = {}
        for name in wanted:
            tasks = [t for t in run["tasks"] if t["name"].startswith(f"Bench {name} round ")]
            out[name] = {"task_s": median(t["seconds"] for t in tasks),
                         "status": sorted({str(t.get("status")) for t in tasks}),
                         "runs": [{"round": i, "seconds": t["seconds"], "status": t.get("status")}
                                  for i, t in enumerate(tasks)]}
        self.results["modules_run"] = {k: v for k, v in run.items() if k != "tasks"}
        return out

    # 3. the whole triage, with and without the incident_record callback --------------------------------
    def triage_argv(self, *extra: str) -> list[str]:
        return playbook(TRIAGE, "-i", str(INVENTORY), "--check", *extra)

    def triage_run(self, what: str, extra: tuple = (), **env_kwargs) -> dict:
        env = self.env(**env_kwargs)
        result = self.run(what, self.triage_argv(*extra), env)
        folders = [p for p in Path(env["SRE_INCIDENT_DIR"]).iterdir() if p.is_dir()]
        result["incident"] = read_incident(folders[0]) if folders else None
        # From the command to the diagnosis (what is wrong, which scenario): the wall time less what came after.
        after = (result["incident"] or {}).get("after_diagnosis_s")
        result["until_diagnosis_s"] = round(result["wall_s"] - after, 3) if after is not None else None
        return result

    def measure_triage(self) -> None:
        with_cb, without_cb = [], []
        for index in range(self.plan["triage"]):  # interleaved, so that drift hits both sides alike
            with_cb.append(self.triage_run("triage"))
            if index < self.plan["ab"]:
                without_cb.append(self.triage_run("triage without callback", callbacks=WITHOUT_RECORD))
        with_s, without_s = median(r["wall_s"] for r in with_cb), median(r["wall_s"] for r in without_cb)
        instrumented = self.callback_instrumented()
        self.results["triage"] = {
            "command": "ansible-playbook playbooks/p0-system-down.yml -i inventories/lab --check",
            "with_callback_s": with_s, "without_callback_s": without_s,
            "until_diagnosis_s": median(r["until_diagnosis_s"] for r in with_cb),
            "callback_disabled_wrote_nothing": all(r["incident"] is None for r in without_cb),
            "ab": {"added_s": round(with_s - without_s, 3), "share": round((with_s - without_s) / with_s, 4)},
            "instrumented": instrumented,
            "phases_s": median_phases(with_cb),
            "where_s": {k: median(where_the_time_goes(r["tasks"]).get(k) for r in with_cb) for k in report.WHERE},
            "checks": (with_cb[0]["incident"] or {}).get("checks"),
            "runs_with_callback": strip_incident(with_cb), "runs_without_callback": strip_incident(without_cb)}

    def callback_instrumented(self) -> dict:
        out = self.work / "callback_cost.json"
        argv = [str(BIN / "python"), "-m", "bench.callback_cost", str(out)] + self.triage_argv()[1:]
        env = self.env()
        env["PYTHONPATH"] = str(REPO)
        run = self.run("triage, callback instrumented", argv, env)
        cost = json.loads(out.read_text()) if out.exists() else {}
        if not cost.get("loaded"):
            self.results["errors"].append("callback instrumentation: incident_record was not loaded")
        seconds, wall = cost.get("seconds"), cost.get("wall_s") or run["wall_s"]
        return {"callback_s": seconds, "calls": cost.get("calls"), "wall_s": wall,
                "share": round(seconds / wall, 4) if seconds is not None else None}

    # 4. http_health_info at scale, and the uri loop --------------------------------------------------------
    def endpoints_file(self, count: int) -> Path:
        return self.vars_file(f"endpoints_{count}", {"bench_endpoints": endpoint_mix(self.server.base_url, count),
                                                     "bench_timeout": ENDPOINT_TIMEOUT})

    def measure_http_scale(self) -> None:
        sizes = {}
        for count in self.plan["sizes"]:
            argv = playbook(BENCH / "playbooks" / "http_health.yml", "-e", f"@{self.endpoints_file(count)}")
            runs = [self.run(f"http_health_info x{count}", argv, self.env()) for _ in range(self.plan["http"])]
            kinds = endpoint_kinds(count)
            wall = median(r["wall_s"] for r in runs)
            sizes[str(count)] = {
                "endpoints": {k: kinds.count(k) for k in ("ok", "fail", "slow", "hang")},
                "task_s": median(task_seconds(r, "http_health_info") for r in runs), "wall_s": wall,
                "wall_minus_fixed_s": round(wall - self.fixed(), 3),
                "summary": next((t.get("summary") for t in runs[0]["tasks"] if "summary" in t), None),
                "memory": peak_memory(runs), "runs": runs}
        self.results["http_scale"] = {"timeout_s": ENDPOINT_TIMEOUT, "sizes": sizes}

    def measure_uri_loop(self) -> None:
        count = self.plan["uri_size"]
        argv = playbook(BENCH / "playbooks" / "uri_loop.yml", "-e", f"@{self.endpoints_file(count)}")
        run = self.run(f"uri loop x{count}", argv, self.env())
        task = task_seconds(run, "uri")
        module = (self.results.get("http_scale", {}).get("sizes", {}).get(str(count)) or {}).get("task_s")
        self.results["uri_loop"] = {
            "endpoints": count, "task_s": task, "wall_s": run["wall_s"],
            "wall_minus_fixed_s": round(run["wall_s"] - self.fixed(), 3),
            "items": next((t.get("items") for t in run["tasks"] if "items" in t), None),
            "http_health_info_task_s": module,
            "speedup": round(task / module, 1) if task and module else None, "runs": [run]}

    # 5. the triage with one dependency hanging -----------------------------------------------------------------
    def measure_hang(self) -> None:
        app = self.lab.service("app")["health_url"]
        endpoints = [{"name": "api", "url": app, "expect_status": [200]},
                     {"name": "hung-dependency", "url": f"{self.server.base_url}/hang/0", "expect_status": [200]}]
        extra = ("-e", f"@{self.vars_file('hang', {'health_endpoints': endpoints})}")
        runs = [self.triage_run("triage with a hanging endpoint", extra) for _ in range(self.plan["hang"])]
        wall = median(r["wall_s"] for r in runs)
        baseline = self.results["triage"]
        phases, base_phases = median_phases(runs), baseline["phases_s"]
        expected = set(baseline["checks"] or {})
        reported = [(r["incident"] or {}).get("checks") or {} for r in runs]
        others = sorted(expected - {"http"})
        self.results["hang"] = {
            "endpoints": ["api (the lab app's /health)", "hung-dependency (bench server /hang/0)"],
            "triage_http_timeout_s": configured_http_timeout(), "wall_s": wall,
            "added_s": round(wall - baseline["with_callback_s"], 3),
            "until_diagnosis_s": median(r["until_diagnosis_s"] for r in runs),
            "added_until_diagnosis_s": _minus(median(r["until_diagnosis_s"] for r in runs),
                                              baseline.get("until_diagnosis_s")),
            "added_by_phase_s": {p: round(phases.get(p, 0) - base_phases.get(p, 0), 3)
                                 for p in sorted(set(phases) | set(base_phases))},
            "checks": reported[0] if reported else {},
            "every_other_check_reported": bool(reported) and all(
                name in checks and checks[name]["status"] != "UNKNOWN" for checks in reported for name in others),
            "http_check_reported": bool(reported) and all("http" in checks for checks in reported),
            "report_md_written": all((r["incident"] or {}).get("report_md") for r in runs),
            "runs": strip_incident(runs)}

    # 6. memory -------------------------------------------------------------------------------------------------
    def summarise_memory(self) -> None:
        sizes = self.results.get("http_scale", {}).get("sizes", {})
        largest = max(sizes, key=int) if sizes else None
        self.results["memory"] = {
            "endpoints": int(largest) if largest else None,
            **(sizes[largest]["memory"] if largest else {}),
            "fixed_cost": peak_memory(self.results.get("fixed_cost", {}).get("runs", [])),
            "triage": peak_memory(self.results.get("triage", {}).get("runs_with_callback", [])),
            "method": "process tree sampled every 0.1 s from /proc (PSS: shared pages counted once), "
                      "module VmHWM; GNU time %M = peak RSS of the biggest single process"}

    # the whole run -------------------------------------------------------------------------------------------
    def execute(self) -> None:
        started = time.perf_counter()
        self.results["machine"] = machine.describe()
        self.results["started_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        self.results["load_before"] = load_average()
        self.results["commit"] = repo_commit()
        try:
            services.up(self.lab)
            with EndpointServer(self.work / "endpoints.log") as self.server:
                for section, step in (("fixed_cost", self.measure_fixed_cost), ("modules", self.measure_modules),
                                      ("triage", self.measure_triage), ("http_scale", self.measure_http_scale),
                                      ("uri_loop", self.measure_uri_loop), ("hang", self.measure_hang),
                                      ("memory", self.summarise_memory)):
                    print(f"[bench] {section} ...", flush=True)
                    try:
                        step()
                    except Exception as exc:  # noqa: BLE001 -- one broken section must not lose the others
                        self.results["errors"].append(f"{section}: {exc!r}")
                        with open(self.log, "a") as log:
                            log.write(traceback.format_exc())
        finally:
            services.down(self.lab)
            self.results["load_after"] = load_average()
            self.results["duration_s"] = round(time.perf_counter() - started, 1)


# Reading an incident record ------------------------------------------------------------------------------------
def read_incident(folder: Path) -> dict:
    """What the bench needs from one incident folder: phase times, each check's status, report.md written."""
    timeline = folder / "timeline.jsonl"
    lines = timeline.read_text().splitlines() if timeline.exists() else []
    events = [json.loads(line) for line in lines if line.strip()]
    diagnosed = [e["elapsed_s"] for e in events if e["phase"] == "diagnose"]
    return {"phases_s": phase_seconds(events), "checks": triage_checks(events),
            "report_md": (folder / "report.md").exists(),
            # what the run did after the diagnosis: messages, verification, evidence
            "after_diagnosis_s": round(events[-1]["elapsed_s"] - diagnosed[-1], 3) if diagnosed else None}


def _minus(a, b):
    return round(a - b, 3) if a is not None and b is not None else None


def phase_seconds(events: list[dict]) -> dict:
    """Seconds per phase: the time between one result and the next goes to the later one's phase."""
    out, previous = {}, 0.0
    for event in events:
        out[event["phase"]] = round(out.get(event["phase"], 0.0) + event["elapsed_s"] - previous, 3)
        previous = event["elapsed_s"]
    return out


def triage_checks(events: list[dict]) -> dict:
    """Each check's status and line from the triage's summary (the 'Say what triage found' step's lines)."""
    for event in reversed(events):
        if event["phase"] == "triage" and event["action"].endswith("debug") and isinstance(event.get("msg"), list):
            checks = {}
            for line in event["msg"]:
                name, _, rest = str(line).partition(": ")
                checks[name] = {"status": rest.split(":", 1)[0].strip(), "line": line}
            return checks
    return {}


def where_the_time_goes(tasks: list[dict]) -> dict:
    """A triage run's task times (bench_timer) in the groups that explain it."""
    out = dict.fromkeys(report.WHERE, 0.0)
    for task in tasks:
        role, action = task["name"].split(" : ", 1)[0], task["action"]
        if action.endswith("_info") and role.endswith("triage"):
            key = "triage checks"
        elif action.endswith("async_status"):
            key = "wait for async checks"
        elif action.endswith("incident_diagnose"):
            key = "diagnose"
        elif action.endswith("_info") and role.endswith("verify"):
            key = "verify checks"
        else:
            key = "rest"
        out[key] = round(out[key] + (task["seconds"] or 0.0), 3)
    return out


def median_phases(runs: list[dict]) -> dict:
    phases = {p for r in runs for p in ((r.get("incident") or {}).get("phases_s") or {})}
    return {p: median(((r.get("incident") or {}).get("phases_s") or {}).get(p) for r in runs) for p in sorted(phases)}


def strip_incident(runs: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "incident"} | {"phases_s": (r.get("incident") or {}).get("phases_s")}
            for r in runs]


def peak_memory(runs: list[dict]) -> dict:
    def peak(key):
        values = [r.get(key) for r in runs if r.get(key)]
        return round(max(values) * 1024 / 1e6, 1) if values else None
    return {"tree_pss_mb": peak("tree_pss_kb"), "controller_pss_mb": peak("controller_pss_kb"),
            "module_hwm_mb": peak("module_hwm_kb"), "max_rss_mb": peak("max_rss_kb")}


def configured_http_timeout() -> float | None:
    """triage_http_timeout as the lab inventory sets it, else as the triage role's defaults do."""
    sources = sorted((INVENTORY / "group_vars" / "all").glob("*.yml")) + [REPO / "roles/triage/defaults/main.yml"]
    for source in sources:
        value = (yaml.safe_load(source.read_text()) or {}).get("triage_http_timeout")
        if value is not None:
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
    return None


def repo_commit() -> str | None:
    """The commit checked out (read from .git; uncommitted changes in the tree are not recorded)."""
    git = REPO / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head.removeprefix("ref: ")
        if (git / ref).exists():
            return (git / ref).read_text().strip()
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(f" {ref}"):
                return line.split()[0]
    except OSError:
        pass
    return None


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (other work on the machine shows in every figure)."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repetition and small sizes (CI)")
    parser.add_argument("--out", type=Path, default=BENCH / "results", help="where latest.json/.md go")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.log").write_text("")
    work = Path(tempfile.mkdtemp(prefix="sre-bench-"))
    bench = Bench(args.quick, out, work)
    try:
        bench.execute()
    except Exception as exc:  # noqa: BLE001 -- still write what was measured
        bench.results["errors"].append(f"bench: {exc!r}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        results = bench.results
        results["targets"] = report.targets(results)
        (out / "latest.json").write_text(json.dumps(results, indent=2, sort_keys=True))
        (out / "latest.md").write_text(report.markdown(results))
    print((out / "latest.md").read_text())
    print(f"[bench] {out / 'latest.json'}, {out / 'latest.md'} ({results['duration_s']} s)")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
