"""make sanity: ansible-doc renders every plugin, and ansible-test sanity passes on the built collection.

    .venv/bin/python -m lab.sanity [ANSIBLE-TEST SANITY ARGS...]   e.g. --test pep8

1. ansible-doc, from the repository root with its ansible.cfg, renders every module, callback and
   filter of the collection; a filter must show its own documentation, not a neighbour's.
2. ansible-galaxy builds the collection (galaxy.yml's build_ignore keeps the site files out), the
   artifact is unpacked into a temporary ansible_collections/sre/runbooks tree (its MANIFEST.json
   makes it an installed collection for ansible-test: no git tree needed), and
   ``ansible-test sanity --local --python 3.11`` runs there.

Exit code: ansible-test's, or 1 when only the ansible-doc check failed.

ansible-test installs each sanity test's pinned requirements (pylint, pycodestyle, yamllint, ...)
into its own virtual environments under ~/.ansible/test/venv, from PyPI, on the first run. It
bootstraps pip there with a script it downloads from ci-files.testing.ansible.com, which this
machine cannot reach; ansible-test looks for that script in its cache first, so we put a small
stand-in there (ensurepip, then pip from PyPI) unless a real one is already cached.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from importlib.util import find_spec
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PYTHON_VERSION = "3.11"

# Sanity tests not run, with the reason. Empty: every test of ansible-core 2.19 runs. pslint and
# shellcheck need pwsh and shellcheck, which are not installed, but they pass without them while
# the collection ships no PowerShell or shell file; if one is added, install the tool instead.
SKIPPED_TESTS: dict[str, str] = {}

PIP_BOOTSTRAP_MARK = "# sre.runbooks lab/sanity.py: stand-in for get-pip.py"
PIP_BOOTSTRAP = PIP_BOOTSTRAP_MARK + '''
# ansible-test runs this in an empty virtual environment as: get_pip.py [pip options] pip==X --no-setuptools --no-wheel
import subprocess
import sys

args = sys.argv[1:]
pip_args = [a for a in args if a not in ("--no-setuptools", "--no-wheel")]
code = subprocess.call([sys.executable, "-m", "ensurepip", "--upgrade"], stdout=subprocess.DEVNULL)
code = code or subprocess.call([sys.executable, "-m", "pip", "install", "-q", *pip_args])
if not code and "--no-setuptools" in args:
    code = subprocess.call([sys.executable, "-m", "pip", "uninstall", "-q", "-y", "setuptools"])
sys.exit(code)
'''


def say(text: str) -> None:
    print(f"sanity: {text}", flush=True)


def run(argv: list[str], cwd: Path, capture: bool = False) -> subprocess.CompletedProcess:
    """Run one of ansible's tools with this venv's bin first on PATH and no colour.

    From the repository root it uses the repository's ansible.cfg (collections_path=./collections);
    anywhere else (the build, the unpacked tree) no ansible.cfg at all, whatever the caller exported.
    """
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_CONFIG", None)
    if cwd == ROOT:
        env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    return subprocess.run(argv, cwd=cwd, env=env, text=True, check=False,
                          stdout=subprocess.PIPE if capture else None, stderr=subprocess.PIPE if capture else None)


def plugin_names() -> dict[str, list[str]]:
    """Every module and callback by file, every filter as its FilterModule names it."""
    names = {
        "module": sorted(p.stem for p in (ROOT / "plugins/modules").glob("*.py") if p.stem != "__init__"),
        "callback": sorted(p.stem for p in (ROOT / "plugins/callback").glob("*.py") if p.stem != "__init__"),
    }
    listed = run([str(BIN / "ansible-doc"), "-t", "filter", "-l", "--json", "sre.runbooks"], ROOT, capture=True)
    if listed.returncode != 0:
        raise SystemExit(f"sanity: ansible-doc cannot list the filters:\n{listed.stderr}")
    names["filter"] = sorted(name.split(".")[-1] for name in json.loads(listed.stdout))
    return names


def check_docs() -> bool:
    """ansible-doc renders every plugin, and each shows its own documentation."""
    failed = []
    for plugin_type, names in plugin_names().items():
        rendered = []
        for name in names:
            fqcn = f"sre.runbooks.{name}"
            shown = run([str(BIN / "ansible-doc"), "-t", plugin_type, fqcn], ROOT, capture=True)
            problems = [line for line in shown.stderr.splitlines() if "[WARNING]" in line or "[ERROR]" in line]
            if shown.returncode != 0 or not shown.stdout.strip() or problems:
                failed.append(fqcn)
                say(f"ansible-doc -t {plugin_type} {fqcn}: FAILED (rc {shown.returncode})")
                print(shown.stderr.strip() or shown.stdout.strip(), flush=True)
            else:
                rendered.append(fqcn)
        if rendered:
            data = run([str(BIN / "ansible-doc"), "-t", plugin_type, "--json", *rendered], ROOT, capture=True)
            docs = json.loads(data.stdout) if data.returncode == 0 else {}
            for fqcn in rendered:
                doc = (docs.get(fqcn) or {}).get("doc") or {}
                own = doc.get("module" if plugin_type == "module" else "name")
                if own != fqcn.split(".")[-1]:
                    failed.append(fqcn)
                    say(f"ansible-doc -t {plugin_type} {fqcn}: shows the documentation of {own!r}, not its own")
        say(f"ansible-doc -t {plugin_type}: {len(names)} plugin(s): {', '.join(names)}")
    if failed:
        say(f"ansible-doc FAILED for: {', '.join(failed)}")
    return not failed


def ensure_pip_bootstrap() -> None:
    """Cache a stand-in for the get-pip.py that ansible-test would download (see the module docstring)."""
    spec = find_spec("ansible_test")
    source = Path(spec.origin).parent / "_internal" / "python_requirements.py"
    found = re.search(r"pip='([0-9.]+)'", source.read_text())
    if not found:
        say("cannot tell which pip ansible-test bootstraps; leaving its download as it is")
        return
    cached = Path.home() / ".ansible/test/cache" / f"get_pip_{found.group(1).replace('.', '_')}.py"
    if cached.exists() and not cached.read_text().startswith(PIP_BOOTSTRAP_MARK):
        return
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(PIP_BOOTSTRAP)


def build(workdir: Path) -> Path:
    """Build the collection artifact and unpack it as workdir/ansible_collections/sre/runbooks."""
    dist = workdir / "dist"
    built = run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(dist), str(ROOT)],
                workdir, capture=True)
    if built.returncode != 0:
        raise SystemExit(f"sanity: ansible-galaxy collection build failed:\n{built.stdout}{built.stderr}")
    artifact = next(dist.glob("sre-runbooks-*.tar.gz"))
    say(f"built {artifact.name}")
    tree = workdir / "ansible_collections" / "sre" / "runbooks"
    tree.mkdir(parents=True)
    with tarfile.open(artifact) as archive:
        archive.extractall(tree, filter="data")
    say(f"unpacked into {tree}")
    return tree


def sanity(tree: Path, extra: list[str]) -> int:
    argv = [str(BIN / "ansible-test"), "sanity", "--local", "--python", PYTHON_VERSION, "--color", "no"]
    for test, reason in SKIPPED_TESTS.items():
        say(f"skipping {test}: {reason}")
        argv += ["--skip-test", test]
    say("running " + " ".join(["ansible-test", *argv[1:], *extra]))
    return run(argv + extra, tree).returncode


def main(argv: list[str] | None = None) -> int:
    extra = list(sys.argv[1:] if argv is None else argv)
    say("checking that ansible-doc renders every plugin")
    docs_ok = check_docs()
    ensure_pip_bootstrap()
    with tempfile.TemporaryDirectory(prefix="sre-runbooks-sanity-") as workdir:
        code = sanity(build(Path(workdir)), extra)
    say(f"ansible-doc: {'ok' if docs_ok else 'FAILED'}; ansible-test sanity: {'ok' if code == 0 else 'FAILED'}")
    return code or (0 if docs_ok else 1)


if __name__ == "__main__":
    sys.exit(main())
