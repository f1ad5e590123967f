"""AWX/AAP definitions (awx/) and the execution environment (execution-environment.yml).

No controller runs here: the definitions are validated against the argument specs of the installed awx.awx
modules (read from their files, never run), the surveys against AWX's survey rules, and the survey choices
against the playbooks and roles they drive. The execution environment's build context is made for real by
`ansible-builder create` (it writes files only; building the image needs a container engine).
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.parsing.dataloader import DataLoader
from conftest import BIN, REPO, ansible_env

DEFINITIONS = REPO / "awx" / "job_templates.yml"
APPLY = REPO / "awx" / "apply.yml"
EE_FILE = REPO / "execution-environment.yml"

# Which block of awx/job_templates.yml each awx.awx module applies.
BLOCKS = {
    "execution_environment": "awx_execution_environment",
    "credential_type": "awx_credential_types",
    "project": "awx_project",
    "inventory": "awx_inventory",
    "inventory_source": "awx_inventory_source",
    "job_template": "awx_job_templates",
}

# AWX's survey question types and the Python type of their default (awx/api/views JobTemplateSurveySpec).
SURVEY_TYPES = {"text": str, "textarea": str, "password": str, "multiplechoice": str, "multiselect": str,
                "integer": int, "float": (int, float)}


@pytest.fixture(scope="module")
def definitions():
    # Ansible's own loader: the credential types' injectors are !unsafe, as apply.yml reads them.
    return DataLoader().load_from_file(str(DEFINITIONS))


def items_of(definitions, module):
    block = definitions[BLOCKS[module]]
    return block if isinstance(block, list) else [block]


@pytest.fixture(scope="module")
def awx_collection() -> Path:
    """Where the awx.awx collection is installed, as ansible-galaxy finds it with this project's ansible.cfg."""
    listed = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "list", "awx.awx", "--format", "json"],
                            cwd=REPO, env=ansible_env(None), capture_output=True, text=True, timeout=60, check=False)
    found = json.loads(listed.stdout or "{}") if listed.returncode == 0 else {}
    for root, collections in found.items():
        if "awx.awx" in collections:
            return Path(root) / "awx" / "awx"
    raise AssertionError("The awx.awx collection is not installed: `make setup` puts it in collections/ (or "
                         f"ansible-galaxy collection install -r awx/requirements.yml -p collections).\n{listed.stderr}")


def _constant(node, names):
    """The value of an argument-spec expression of an awx.awx module: literals, dict(...), list(NAME.keys())."""
    called = node.func.id if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) else None
    if called == "dict" and not node.args:
        return {kw.arg: _constant(kw.value, names) for kw in node.keywords}
    if called == "list" and len(node.args) == 1:
        return list(_constant(node.args[0], names))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "keys":
        return _constant(node.func.value, names).keys()
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    return ast.literal_eval(node)


def argument_spec(collection: Path, module: str) -> dict:
    """The argument spec an awx.awx module's main() builds, read from its file (the module is not run)."""
    tree = ast.parse((collection / "plugins" / "modules" / f"{module}.py").read_text())
    names = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                names[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    assign = next(n for n in ast.walk(main) if isinstance(n, ast.Assign)
                  and isinstance(n.targets[0], ast.Name) and n.targets[0].id == "argument_spec")
    return _constant(assign.value, names)


def survey_errors(survey) -> list[str]:
    """What AWX would refuse in a survey spec (the rules of its survey_spec endpoint), plus valid variable names."""
    if not isinstance(survey, dict):
        return ["the survey spec is not a mapping"]
    errors = [f"'{key}' must be {label}" for key, kind, label in
              (("name", str, "a string"), ("description", str, "a string"), ("spec", list, "a list"))
              if not isinstance(survey.get(key), kind)]
    if errors:
        return errors
    if not survey["spec"]:
        return ["'spec' has no question"]
    seen = set()
    for index, question in enumerate(survey["spec"]):
        where = f"question {index} ({question.get('variable', '?')})"
        missing = [key for key in ("type", "question_name", "variable", "required") if key not in question]
        if missing:
            errors.append(f"{where} lacks {', '.join(missing)}")
            continue
        if not isinstance(question["required"], bool):
            errors.append(f"{where}: required must be true or false")
        variable, qtype = question["variable"], question["type"]
        if not (isinstance(variable, str) and variable.isidentifier()):
            errors.append(f"{where}: variable must be a valid variable name")
        if variable in seen:
            errors.append(f"{where}: variable asked twice")
        seen.add(variable)
        if qtype not in SURVEY_TYPES:
            errors.append(f"{where}: type {qtype!r} is not one of {', '.join(SURVEY_TYPES)}")
            continue
        default = question.get("default", "")
        if default != "" and not isinstance(default, SURVEY_TYPES[qtype]):
            errors.append(f"{where}: default {default!r} does not fit type {qtype}")
        for limit in ("min", "max"):
            if question.get(limit) is not None and not isinstance(question[limit], int):
                errors.append(f"{where}: {limit} must be an integer")
        if qtype in ("multiplechoice", "multiselect"):
            choices = question.get("choices")
            if isinstance(choices, str):
                choices = [c for c in choices.splitlines() if c.strip()]
            if not choices or not all(isinstance(c, str) for c in choices):
                errors.append(f"{where}: a {qtype} question needs its choices")
                continue
            if len(set(choices)) != len(choices):
                errors.append(f"{where}: a choice is listed twice")
            defaults = [d for d in str(default).splitlines() if d.strip()]
            if qtype == "multiplechoice" and len(defaults) > 1:
                errors.append(f"{where}: a multiple choice question has one default")
            if any(d not in choices for d in defaults):
                errors.append(f"{where}: default {defaults} is not among the choices")
        elif qtype in ("text", "textarea", "password") and isinstance(default, str):
            low, high = question.get("min"), question.get("max")
            if (low is not None and len(default) < low) or (high is not None and len(default) > high):
                errors.append(f"{where}: default outside min/max length")
    return errors


def questions(template) -> dict:
    return {q["variable"]: q for q in (template.get("survey_spec") or {}).get("spec", [])}


def roles_of(playbook: Path) -> set[str]:
    return set(re.findall(r"name:\s*sre\.runbooks\.(\w+)", playbook.read_text()))


def steps_of(role: str) -> set[str]:
    """The remediation step ids a role can carry out (the steps it looks up in the diagnosis)."""
    tasks = REPO / "roles" / role / "tasks"
    return {step for path in tasks.glob("*.yml")
            for step in re.findall(r"sre\.runbooks\.step\('([\w.]+)'\)", path.read_text())}


def test_every_scenario_playbook_has_a_job_template_with_its_survey(definitions):
    templates = definitions["awx_job_templates"]
    playbooks = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "playbooks").glob("*.yml"))
    assert sorted({t["playbook"] for t in templates}) == playbooks
    modes = yaml.safe_load((REPO / "roles/declare/meta/argument_specs.yml").read_text())[
        "argument_specs"]["main"]["options"]["remediation_mode"]
    checks = list(yaml.safe_load((REPO / "roles/triage/vars/main.yml").read_text())["triage_catalog"])
    for playbook in playbooks:
        template = next(t for t in templates if t["playbook"] == playbook and "job_tags" not in t)
        asked = questions(template)
        assert template["survey_enabled"] is True, template["name"]
        assert asked["incident_id"]["type"] == "text" and asked["incident_id"]["required"] is False
        assert asked["remediation_mode"]["choices"] == modes["choices"]
        assert asked["remediation_mode"]["default"] == modes["default"] == "plan"
        assert asked["triage_scope"]["type"] == "multiselect"
        assert sorted(asked["triage_scope"]["choices"]) == sorted(checks), "scope = the checks triage can run"
        assert asked["triage_scope"]["default"].splitlines() == asked["triage_scope"]["choices"], \
            "every check is selected unless a person deselects it"
        steps = set().union(*(steps_of(r) for r in roles_of(REPO / playbook) if r.startswith("remediate_")))
        if steps:
            assert asked["approved_steps"]["type"] == "multiselect"
            assert sorted(asked["approved_steps"]["choices"]) == sorted(steps), \
                f"{playbook}: approved_steps offers exactly the steps its remediation roles can carry out"
        else:
            assert "approved_steps" not in asked, f"{playbook} has no step to approve"


def test_region_failover_asks_the_direction_the_role_accepts(definitions):
    template = next(t for t in definitions["awx_job_templates"] if t["playbook"] == "playbooks/region-failover.yml")
    action = yaml.safe_load((REPO / "roles/remediate_route53/meta/argument_specs.yml").read_text())[
        "argument_specs"]["main"]["options"]["route53_action"]
    asked = questions(template)["route53_action"]
    assert asked["choices"] == action["choices"] and asked["default"] == action["default"]


def test_surveys_follow_awx_rules(definitions):
    for template in definitions["awx_job_templates"]:
        if template["survey_enabled"]:
            assert survey_errors(template["survey_spec"]) == [], template["name"]
        else:
            assert "survey_spec" not in template, template["name"]


@pytest.mark.parametrize("breakage, expected", [
    ({"default": "fast"}, "not among the choices"),
    ({"default": "plan\nauto"}, "one default"),
    ({"type": "radio"}, "is not one of"),
    ({"required": "yes"}, "required must be true or false"),
    ({"choices": []}, "needs its choices"),
    ({"variable": "remediation mode"}, "valid variable name"),
])
def test_survey_rules_catch_what_awx_refuses(definitions, breakage, expected):
    spec = dict(next(t for t in definitions["awx_job_templates"] if t["survey_enabled"])["survey_spec"])
    broken = [dict(q, **breakage) if q["variable"] == "remediation_mode" else q for q in spec["spec"]]
    errors = survey_errors(dict(spec, spec=broken))
    assert any(expected in e for e in errors), errors


def test_definitions_validate_against_the_awx_modules(definitions, awx_collection):
    for module in BLOCKS:
        validator = ArgumentSpecValidator(argument_spec(awx_collection, module))
        for item in items_of(definitions, module):
            result = validator.validate(dict(item))
            assert not result.error_messages, f"awx.awx.{module} {item['name']}: {result.error_messages}"
            assert not result.unsupported_parameters, module


def test_awx_collection_is_the_version_awx_requirements_names(awx_collection):
    wanted = yaml.safe_load((REPO / "awx/requirements.yml").read_text())["collections"]
    installed = json.loads((awx_collection / "MANIFEST.json").read_text())["collection_info"]["version"]
    assert wanted == [{"name": "awx.awx", "version": installed}]


def test_apply_passes_every_defined_option_to_its_module(definitions):
    """A key of the definitions that apply.yml does not pass would be silently lost."""
    tasks = yaml.safe_load(APPLY.read_text())[0]["tasks"]
    for module in BLOCKS:
        task = next(t for t in tasks if f"awx.awx.{module}" in t)
        args = task[f"awx.awx.{module}"]
        defined = set().union(*(item.keys() for item in items_of(definitions, module)))
        assert defined <= set(args), f"awx.awx.{module} is not given {sorted(defined - set(args))}"
        for key, value in args.items():
            if key != "wait":
                assert re.search(rf"\.{key}\b", value), f"awx.awx.{module} {key} is fed {value}"


def test_secrets_type_carries_every_vault_variable_the_inventory_reads(definitions):
    wanted = set(re.findall(r"\bvault_\w+", "".join(
        p.read_text() for p in (REPO / "inventories/production").rglob("*.yml"))))
    secrets = next(t for t in definitions["awx_credential_types"] if t["name"] == "sre.runbooks secrets")
    injected = secrets["injectors"]["extra_vars"]
    assert set(injected) == wanted
    fields = {f["id"]: f for f in secrets["inputs"]["fields"]}
    for variable, template in injected.items():
        field = re.fullmatch(r"\{\{ (\w+) \}\}", template).group(1)
        assert fields[field]["secret"] is True, variable
    used = {c["credential_type"] for c in definitions["awx_credentials"]}
    assert {t["name"] for t in definitions["awx_credential_types"]} <= used
    for template in definitions["awx_job_templates"]:
        assert template["credentials"] == [c["name"] for c in definitions["awx_credentials"]]


def test_apply_playbook_passes_syntax_check(awx_collection):
    done = subprocess.run([str(BIN / "ansible-playbook"), "--syntax-check", str(APPLY)], cwd=REPO,
                          env=ansible_env(None), capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def requirement_pins() -> dict:
    return {name.lower(): version for name, version in
            re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", (REPO / "requirements.txt").read_text(), re.MULTILINE)}


def test_execution_environment_uses_the_pinned_requirements():
    ee = yaml.safe_load(EE_FILE.read_text())
    assert ee["version"] == 3
    assert ee["images"]["base_image"]["name"]
    deps = ee["dependencies"]
    for key in ("python", "galaxy"):
        assert (REPO / deps[key]).is_file(), f"{key}: {deps[key]}"
    assert deps["python"] == "requirements.txt", "requirements.txt stays the one list of Python pins"
    pins = requirement_pins()
    for key in ("ansible_core", "ansible_runner"):
        name, version = deps[key]["package_pip"].split("==")
        assert pins[name] == version, f"{key} must be requirements.txt's pin ({name}=={pins[name]})"


def test_ansible_builder_writes_a_context_with_the_collection_and_requirements(tmp_path):
    builder = BIN / "ansible-builder"
    assert builder.exists(), "ansible-builder is not installed in the venv: requirements.txt pins it"
    work = tmp_path / "ee"
    work.mkdir()
    for name in ("execution-environment.yml", "requirements.txt", "requirements.yml"):
        shutil.copy(REPO / name, work / name)
    built = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--force",
                            "--output-path", str(work / "build"), str(REPO)],
                           cwd=REPO, env=ansible_env(None), capture_output=True, text=True, timeout=300, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    created = subprocess.run([str(builder), "create", "-f", str(work / "execution-environment.yml"),
                              "-c", str(work / "context")], cwd=work, env=ansible_env(None),
                             capture_output=True, text=True, timeout=300, check=False)
    assert created.returncode == 0, created.stdout + created.stderr
    context = work / "context"
    assert (context / "_build/requirements.txt").read_text() == (REPO / "requirements.txt").read_text()
    assert (context / "_build/requirements.yml").read_text() == (REPO / "requirements.yml").read_text()
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    tarball = context / "_build/collections" / f"sre-runbooks-{version}.tar.gz"
    with tarfile.open(tarball) as archive:
        members = archive.getnames()
        manifest = json.load(archive.extractfile("MANIFEST.json"))["collection_info"]
    assert (manifest["namespace"], manifest["name"], manifest["version"]) == ("sre", "runbooks", version)
    assert "playbooks/p0-system-down.yml" in members and "roles/declare/tasks/main.yml" in members
    site_files = [m for m in members if m.split("/")[0] in ("awx", "rulebooks", "execution-environment.yml")]
    assert not site_files, "the site's AWX, rulebook and EE files stay out of the collection (galaxy.yml build_ignore)"
    containerfile = next(p for p in (context / "Containerfile", context / "Dockerfile") if p.exists()).read_text()
    assert "ansible-galaxy collection install --offline /tmp/sre-runbooks/sre-runbooks-*.tar.gz" in containerfile
    assert "--user-pip=requirements.txt" in containerfile
