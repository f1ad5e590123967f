"""`python -m bench --quick` as CI runs it: exits 0, writes latest.json and latest.md with every section.

No timing is asserted: the benchmark's figures are results to read, not pass/fail conditions here.
"""

import json
import subprocess
import sys

from conftest import REPO, processes_mentioning

from bench.__main__ import SECTIONS
from bench.report import SECTION_TITLES


def test_quick_bench_writes_every_section_and_leaves_nothing_running(tmp_path):
    servers_before = processes_mentioning("bench.endpoints")

    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=900, check=False)

    log = (tmp_path / "bench.log").read_text() if (tmp_path / "bench.log").exists() else ""
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{log[-4000:]}"
    results = json.loads((tmp_path / "latest.json").read_text())
    table = (tmp_path / "latest.md").read_text()
    assert results["errors"] == []
    for section in (*SECTIONS, "targets", "machine"):
        assert results.get(section), f"latest.json has no {section}"
    for key in ("nproc", "cpu_model", "memory_gib", "python", "ansible_core"):
        assert results["machine"][key], f"machine description lacks {key}"
    for section, title in SECTION_TITLES.items():
        assert title in table, f"latest.md has no row for {section} ({title!r})"
    assert "## Targets" in table
    assert {t["id"] for t in results["targets"]} == {"http_200", "http_1000", "uri_speedup", "triage", "hang",
                                                      "callback", "memory"}
    assert not processes_mentioning(results["work_dir"]), "the bench's lab left processes behind"
    assert not processes_mentioning("bench.endpoints") - servers_before, "the endpoint server is still running"
