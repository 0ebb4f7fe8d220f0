"""Packaging: pyproject.toml, environment.yml, Makefile, README quickstart and the CI entry point agree."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import vmkit

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parent.parent
IGNORED = {"python", "pip"}


# -- small parsers -----------------------------------------------------------------------------------

def _name(requirement: str) -> str:
    """The normalised package name of a pip or conda requirement (``numpy>=1.24`` -> ``numpy``)."""
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert m, f"not a requirement: {requirement!r}"
    return re.sub(r"[-_.]+", "-", m.group(1)).lower()


def parse_environment_yml(text: str) -> dict:
    """Parse the simple subset of YAML environment.yml uses.

    Returns ``{"name": str, "channels": [...], "dependencies": [...], "pip": [...]}``
    where ``dependencies`` are the conda packages and ``pip`` the entries of the
    ``- pip:`` sub-list.
    """
    out: dict = {"name": None, "channels": [], "dependencies": [], "pip": []}
    key = None
    in_pip = False
    pip_indent = -1
    for raw in text.splitlines():
        line = re.sub(r"\s+#.*$", "", raw) if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        top = re.match(r"^([A-Za-z_][\w-]*):\s*(.*)$", line)
        if indent == 0 and top:
            key, value = top.group(1), top.group(2).strip()
            in_pip = False
            if key == "name":
                out["name"] = value
            continue
        item = re.match(r"^(\s*)-\s+(.*?)\s*$", line)
        assert item, f"environment.yml: cannot parse {raw!r}"
        value = item.group(2).strip("'\"")
        if in_pip and indent > pip_indent:
            out["pip"].append(value)
            continue
        in_pip = False
        if key == "channels":
            out["channels"].append(value)
        elif key == "dependencies":
            if value == "pip:":
                in_pip, pip_indent = True, indent
            else:
                out["dependencies"].append(value)
    return out


def parse_makefile(text: str) -> tuple[dict[str, str], dict[str, tuple[list[str], list[str]]]]:
    """Variables and rules of a simple Makefile: ``rules[target] = (prerequisites, recipe lines)``."""
    variables: dict[str, str] = {}
    raw_rules: list[tuple[str, str, list[str]]] = []
    text = text.replace("\\\n", " ")
    for line in text.splitlines():
        if line.startswith("\t"):
            if raw_rules:
                raw_rules[-1][2].append(line.strip())
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        var = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(:=|\?=|\+=|=)\s*(.*)$", line)
        if var:
            name, op, value = var.groups()
            if op == "+=":
                variables[name] = (variables.get(name, "") + " " + value).strip()
            elif op != "?=" or name not in variables:
                variables[name] = value.strip()
            continue
        rule = re.match(r"^([^:#=]+?)\s*:(?!=)\s*(.*)$", line)
        if rule:
            raw_rules.append((rule.group(1), rule.group(2), []))

    def expand(s: str, depth: int = 0) -> str:
        assert depth < 20, f"recursive make variable in {s!r}"
        new = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda mm: variables.get(mm.group(1), ""), s)
        return new if new == s else expand(new, depth + 1)

    rules: dict[str, tuple[list[str], list[str]]] = {}
    for targets, prereqs, recipe in raw_rules:
        deps = expand(prereqs).replace("|", " ").split()
        for t in expand(targets).split():
            old_deps, old_recipe = rules.get(t, ([], []))
            rules[t] = (old_deps + deps, old_recipe + [expand(r) for r in recipe])
    return variables, rules


def _recipes_reached(rules: dict, target: str) -> list[str]:
    """Recipe lines of ``target`` and of everything it depends on, dependencies first."""
    seen: set[str] = set()
    lines: list[str] = []

    def visit(t: str) -> None:
        if t in seen:
            return
        seen.add(t)
        deps, recipe = rules.get(t, ([], []))
        for d in deps:
            visit(d)
        lines.extend(recipe)

    visit(target)
    return lines


# -- fixtures -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pyproject() -> dict:
    with open(REPO / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


@pytest.fixture(scope="module")
def environment() -> dict:
    return parse_environment_yml((REPO / "environment.yml").read_text())


@pytest.fixture(scope="module")
def makefile() -> tuple[dict, dict]:
    return parse_makefile((REPO / "Makefile").read_text())


# -- the parsers themselves -------------------------------------------------------------------------------

def test_environment_parser_on_a_sample():
    sample = (
        "# comment\nname: demo\nchannels:\n  - conda-forge\ndependencies:\n  - python>=3.10\n"
        "  - numpy>=1.24  # trailing comment\n  - pip\n  - pip:\n      - -e .\n      - extra-pkg==1.0\n"
        "  - scipy\n"
    )
    env = parse_environment_yml(sample)
    assert env == {"name": "demo", "channels": ["conda-forge"],
                   "dependencies": ["python>=3.10", "numpy>=1.24", "pip", "scipy"],
                   "pip": ["-e .", "extra-pkg==1.0"]}


def test_environment_parser_agrees_with_pyyaml(environment):
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load((REPO / "environment.yml").read_text())
    conda = [d for d in doc["dependencies"] if isinstance(d, str)]
    pip = [x for d in doc["dependencies"] if isinstance(d, dict) for x in d.get("pip", [])]
    assert environment["name"] == doc["name"]
    assert environment["channels"] == doc["channels"]
    assert environment["dependencies"] == conda
    assert environment["pip"] == pip


def test_makefile_parser_on_a_sample():
    sample = "A := x\nB ?= $(A)/y\nB ?= no\n\nall: $(B) | dep\n\techo $(A)\n$(B):\n\ttouch $(B)\n"
    variables, rules = parse_makefile(sample)
    assert variables == {"A": "x", "B": "$(A)/y"}
    assert rules["all"] == (["x/y", "dep"], ["echo x"])
    assert _recipes_reached(rules, "all") == ["touch x/y", "echo x"]


# -- pyproject.toml and environment.yml --------------------------------------------------------------------

def test_same_runtime_packages(pyproject, environment):
    pip_names = {_name(r) for r in pyproject["project"]["dependencies"]} - IGNORED
    conda_names = {_name(r) for r in environment["dependencies"]} - IGNORED
    assert pip_names, "pyproject.toml lists no runtime dependencies"
    assert pip_names == conda_names, (
        f"only in pyproject.toml: {sorted(pip_names - conda_names)}; "
        f"only in environment.yml: {sorted(conda_names - pip_names)}")


def test_environment_uses_conda_forge_and_installs_vmkit_with_pip(environment):
    assert environment["name"] == "vmkit"
    assert environment["channels"][0] == "conda-forge"
    assert "pip" in {_name(d) for d in environment["dependencies"]}
    assert "-e ." in environment["pip"]
    # Nothing else comes from pip: every runtime package is a conda-forge package.
    assert [p for p in environment["pip"] if p != "-e ."] == []


def test_environment_python_matches_requires_python(pyproject, environment):
    pythons = [d for d in environment["dependencies"] if _name(d) == "python"]
    assert len(pythons) == 1
    spec = pythons[0][len("python"):].replace(" ", "")
    assert spec == pyproject["project"]["requires-python"].replace(" ", "")


def test_console_script(pyproject):
    assert pyproject["project"]["scripts"]["vmkit"] == "vmkit.cli:main"
    module, _, attr = pyproject["project"]["scripts"]["vmkit"].partition(":")
    assert callable(getattr(importlib.import_module(module), attr))


def test_requires_python_is_3_10_or_newer(pyproject):
    rp = pyproject["project"]["requires-python"]
    specifiers = pytest.importorskip("packaging.specifiers")
    spec = specifiers.SpecifierSet(rp)
    assert spec.contains("3.10") and spec.contains("3.11") and spec.contains("3.12")
    assert not spec.contains("3.9")
    assert spec.contains(".".join(map(str, sys.version_info[:2])))


def test_version_matches_package(pyproject):
    assert pyproject["project"]["version"] == vmkit.__version__


def test_test_extra_has_the_tools_make_uses(pyproject):
    test_extra = {_name(r) for r in pyproject["project"]["optional-dependencies"]["test"]}
    assert {"pytest", "ruff"} <= test_extra


# -- README, Makefile, CI -----------------------------------------------------------------------------------

def test_readme_quickstart_has_make_lab_and_make_test():
    text = (REPO / "README.md").read_text()
    m = re.search(r"^## Quickstart\s*$(.*?)(?=^## )", text, re.M | re.S)
    assert m, "README.md has no '## Quickstart' section"
    section = m.group(1)
    blocks = "\n".join(re.findall(r"```[a-z]*\n(.*?)```", section, re.S))
    commands = [line.split("#")[0].strip() for line in blocks.splitlines()]
    assert "make lab" in commands
    assert "make test" in commands


@pytest.mark.parametrize("target", ["lab", "test"])
def test_make_target_creates_venv(makefile, target):
    variables, rules = makefile
    assert target in rules, f"Makefile has no {target!r} target"
    assert target in rules.get(".PHONY", ([], []))[0]
    assert variables["VENV"] == ".venv"
    lines = _recipes_reached(rules, target)
    venv = [i for i, line in enumerate(lines) if re.search(r"-m venv \.venv\b", line)]
    install = [i for i, line in enumerate(lines) if re.search(r"\.venv/bin/python -m pip install .*-e", line)]
    assert venv, f"make {target} does not create .venv: {lines}"
    assert install, f"make {target} does not install vmkit into .venv: {lines}"
    assert venv[0] < install[0]
    own = rules[target][1]
    assert own and all(line.startswith(".venv/bin/") for line in own), own


def test_make_test_runs_pytest_and_lab_runs_jupyter(makefile):
    _, rules = makefile
    assert any(re.search(r"\.venv/bin/python -m pytest\b", line) for line in rules["test"][1])
    assert any(re.search(r"\.venv/bin/jupyter lab\b.*notebooks", line) for line in rules["lab"][1])


@pytest.mark.parametrize("target", ["lab", "test"])
def test_make_dry_run_creates_venv(target):
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    r = subprocess.run([make, "-n", "-B", target], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert re.search(r"-m venv \.venv\b", r.stdout), r.stdout


def test_ci_run_is_executable_and_runs_make_test():
    path = REPO / ".ci" / "run"
    assert path.is_file()
    assert path.stat().st_mode & stat.S_IXUSR, ".ci/run is not executable"
    assert os.access(path, os.X_OK)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("#!") and "bash" in lines[0]
    code = [line.strip() for line in lines[1:] if line.strip() and not line.strip().startswith("#")]
    set_e = [i for i, line in enumerate(code) if re.match(r"^set\s+-[a-zA-Z]*e", line)]
    make_test = [i for i, line in enumerate(code) if re.search(r"(^|\s)make\s+test\b", line)]
    assert set_e, ".ci/run does not use 'set -e'"
    assert make_test, ".ci/run does not call 'make test'"
    assert set_e[0] < make_test[0]


def test_ci_run_is_executable_in_git():
    git = shutil.which("git")
    if git is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    r = subprocess.run([git, "ls-files", "-s", ".ci/run"], cwd=REPO, capture_output=True, text=True, timeout=30)
    if r.returncode != 0 or not r.stdout.strip():
        pytest.skip(".ci/run is not tracked")
    assert r.stdout.split()[0] == "100755", "a fresh clone would get a non-executable .ci/run"
