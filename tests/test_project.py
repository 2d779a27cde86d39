"""project.yml is the map: every step lists the code that shapes its outputs, so that a change to
that code re-runs the step, and each knob has its one default there."""

import ast
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import srsly

ROOT = Path(__file__).resolve().parent.parent
PROJECT = srsly.read_yaml(ROOT / "project.yml")
COMMANDS = {command["name"]: command for command in PROJECT["commands"]}

# Prints the project files that importing the given modules (names, or paths of files) loads.
IMPORTED = """
import importlib, json, sys
from pathlib import Path
import spacy
root = Path.cwd().resolve()
for target in sys.argv[1:]:
    if target.endswith(".py"):
        spacy.util.import_file(Path(target).stem, target)
    else:
        importlib.import_module(target)
ours = [root / "components", root / "scripts"]
files = {str(Path(m.__file__).resolve().relative_to(root)) for m in list(sys.modules.values())
         if getattr(m, "__file__", None) and any(Path(m.__file__).resolve().is_relative_to(d) for d in ours)}
print(json.dumps(sorted(files)))
"""


def docstring_only(path: Path) -> bool:
    """A package's __init__ that holds no code (only its docstring) shapes no output."""
    body = ast.parse(path.read_text(encoding="utf8")).body
    return all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body)


def code_of(line: str) -> list[str]:
    """The project modules a script line runs: `python -m scripts.x`, and files given as --code."""
    words = shlex.split(line)
    module = words[words.index("-m") + 1] if "-m" in words else ""
    targets = [module] if module.startswith("scripts.") else []
    if "--code" in words:
        targets += words[words.index("--code") + 1].split(",")
    return targets


@pytest.mark.parametrize("name", [*PROJECT["workflows"]["all"], "review-export", "review-import"])
def test_every_module_a_step_imports_is_in_its_deps(name):
    command = COMMANDS[name]
    targets = [t for line in command["script"] for t in code_of(line)]
    run = subprocess.run(
        [sys.executable, "-c", IMPORTED, *targets], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    code = {f for f in json.loads(run.stdout) if not docstring_only(ROOT / f)}
    missing = sorted(code - set(command.get("deps", [])))
    assert not missing, f"{name}: imports {missing} without listing them in deps"


def test_every_dep_exists_and_every_workflow_step_has_outputs():
    for command in PROJECT["commands"]:
        for dep in command.get("deps", []):
            if "${" not in dep and not dep.startswith(("corpus/", "training/", "metrics/", "packages/")):
                assert (ROOT / dep).exists(), f"{command['name']}: no {dep}"
    for name in PROJECT["workflows"]["all"]:
        assert COMMANDS[name].get("outputs"), name


def test_each_knob_has_one_default_in_project_yml():
    # The teacher's config takes every value from project.yml: its [vars] hold no defaults of their own.
    config = (ROOT / "configs" / "annotate.cfg").read_text(encoding="utf8")
    section = config.split("[vars]", 1)[1].split("\n[", 1)[0]
    defaults = {m.group(1): m.group(2).strip() for m in re.finditer(r"^(\w+) = (.*)$", section, re.M)}
    assert defaults and set(defaults.values()) == {"null"}, defaults
    annotate = " ".join(COMMANDS["annotate"]["script"])
    assert all(f"--vars.{var} " in annotate for var in defaults), sorted(defaults)


def test_the_package_ships_every_module_of_components_pipeline_and_nothing_else():
    words = shlex.split(next(line for line in COMMANDS["package"]["script"] if "spacy package" in line))
    shipped = words[words.index("--code") + 1].split(",")
    pipeline = ROOT / "components" / "pipeline"
    modules = sorted(str(p.relative_to(ROOT)) for p in pipeline.glob("*.py") if p.name != "__init__.py")
    assert sorted(shipped) == modules


# Steps whose model may be the installed package (the visualize step's, tag_model's and demo_model's
# default): the wheel registers bio_ner, int8 and the bucketed transformer itself.
PACKAGE_LOADERS = ["visualize", "serve", "demo", "tag", "review-export"]


@pytest.mark.parametrize("name", PACKAGE_LOADERS)
def test_a_step_that_loads_the_package_imports_none_of_the_factories_it_ships(name):
    # The project's copy imported beside the package's would register bio_ner twice: spaCy's E004.
    words = [w for line in COMMANDS[name]["script"] for w in shlex.split(line)]
    targets = [t for line in COMMANDS[name]["script"] for t in code_of(line)]
    targets += [w for w in words if w.startswith("scripts/") and w.endswith(".py")]  # streamlit run
    assert targets, name
    run = subprocess.run(
        [sys.executable, "-c", IMPORTED, *targets], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    shipped = {f"components/pipeline/{m}.py" for m in ("answer", "bio_ner", "bucketing", "int8")}
    assert not shipped & set(json.loads(run.stdout)), name
