"""The real `weasel run all` on a few documents (the explosion/projects habit): every step runs,
with training cut to a few steps, so a broken step cannot land; then the installed package is
checked as users get it, and a second run must skip every step. Takes a few minutes."""

import json
import os
import shlex
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import srsly

from components.inference.load import load_pipeline
from components.pipeline.labels import answer_strings

ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILES = ["project.yml", "ANNOTATION_GUIDELINES.md", "configs", "assets", "scripts", "components"]
OVERRIDES = {
    "corpus_size": 40,
    "teacher_eval_size": 20,
    "max_steps": 30,  # enough for entities on the KNOWN texts below
    "warmup_steps": 5,
    "baseline_epochs": 2,
    "eval_frequency": 10,
    "transformer": "minilm",
    "gpu_id": -1,
    "test_share": 0.2,
    "dev_share": 0.2,
}
KNOWN = [
    "Inhibition of human JNK2 at 1 uM using ATF2 as substrate",
    "Displacement of [3H]NMS from human muscarinic M5 receptor expressed in CHO cells",
    "Cytotoxicity against human HepG2 cells assessed as cell viability by MTT assay",
]
# In a clean process (-P: the project is not on sys.path), as users run the installed package.
INSTALLED = f"""
import json, spacy
nlp = spacy.load("en_assay_ner")
docs = list(nlp.pipe({KNOWN!r}))
print(json.dumps({{
    "pipe_names": nlp.pipe_names,
    "code": {{name: type(nlp.get_pipe(name)).__module__ for name in ("bio_ner", "int8")}},
    "transformer": nlp.get_pipe("transformer").model._func.__module__,
    "calibration": nlp.get_pipe("bio_ner").cfg["calibration"],
    "ents": [[(e.start_char, e.end_char, e.label_, e._.confidence) for e in doc.ents] for doc in docs],
    "answers": [[[s.text for s in doc._.targets], [s.text for s in doc._.substrates]] for doc in docs],
}}))
try:
    import components
    print("project importable")
except ImportError:
    print("project not importable")
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A copy of the project with its own venv on top of ours, so the package step installs there."""
    base = tmp_path_factory.mktemp("workflow")
    work = base / "project"
    work.mkdir()
    for name in PROJECT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, work / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, work / name)
    env_dir = base / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    # The overlay venv needs pip for the package step; borrow ours through a .pth file.
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    (site / "parent.pth").write_text("\n".join(p for p in sys.path if p.endswith("site-packages")))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    first = run_all(work, env_dir / "bin" / "python", env)
    return work, env_dir / "bin" / "python", env, site, first


def run_all(work: Path, python: Path, env: dict) -> subprocess.CompletedProcess:
    overrides = [f"--vars.{name}={value}" for name, value in OVERRIDES.items()]
    return subprocess.run(
        [str(python), "-m", "weasel", "run", "all", ".", *overrides],
        cwd=work, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip


def installed(python: Path, env: dict) -> dict:
    command = [str(python), "-P", "-c", INSTALLED]
    run = subprocess.run(command, cwd="/", env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    *_, result, importable = run.stdout.strip().split("\n")
    return {**json.loads(result), "project": importable}


def test_all_runs_end_to_end_and_logs_its_stand_ins(project):
    work, _, _, _, first = project
    log = first.stdout + first.stderr
    assert first.returncode == 0, log[-6000:]
    assert "llamacpp:SmolLM2-135M-Instruct" in log  # the teacher
    assert "transformer: sentence-transformers/all-MiniLM-L6-v2" in log and "training on CPU" in log
    assert "stand-in" in log
    evaluation = json.loads((work / "metrics" / "evaluation.json").read_text())
    assert evaluation["comparisons"] == ["student_vs_teacher", "student_vs_truth", "teacher_vs_truth",
                                         "baseline_vs_truth"]  # fmt: skip
    assert evaluation["teacher_vs_truth"]["docs"] == 20
    assert evaluation["baseline_vs_truth"]["docs"] == evaluation["student_vs_truth"]["docs"] == 300
    assert evaluation["guideline_examples"]["examples"] == 6


def test_the_installed_package_is_what_was_trained_and_runs_its_own_code(project):
    work, python, env, _, _ = project
    got = installed(python, env)
    assert got["project"] == "project not importable"
    assert got["pipe_names"] == ["transformer", "bio_ner", "assay_answer", "int8"]
    assert got["code"] == {"bio_ner": "en_assay_ner.bio_ner", "int8": "en_assay_ner.int8"}
    assert got["transformer"] == "en_assay_ner.bucketing"  # the length-bucketed forward pass
    # The calibrated pipeline is what ships: its calibration is the one the calibrate step fitted.
    calibration = json.loads((work / "metrics" / "calibration.json").read_text())
    # (approx: spaCy's JSON reader may give back the nearest float but one of what it wrote)
    assert calibration["docs"] > 0 and got["calibration"] == pytest.approx(calibration["calibration"])
    # The same entities, confidences and answers as the trained pipeline in the project.
    trained = load_pipeline(work / "training" / "model-calibrated")
    docs = list(trained.pipe(KNOWN))
    assert any(doc.ents for doc in docs)
    for doc, ents, (targets, substrates) in zip(docs, got["ents"], got["answers"], strict=True):
        assert [tuple(ent[:3]) for ent in ents] == [(e.start_char, e.end_char, e.label_) for e in doc.ents]
        assert [c for *_, c in ents] == pytest.approx([e._.confidence for e in doc.ents])
        assert all(0.0 < c <= 1.0 for *_, c in ents)
        assert answer_strings(doc) == {"targets": targets, "substrates": substrates}


def test_the_package_evaluation_scores_the_wheels_code(project):
    work, python, env, site, _ = project
    # spaCy's scorer on the installed package gives the F1 that our evaluation gave the calibrated pipeline.
    package = json.loads((work / "metrics" / "package.json").read_text())
    evaluation = json.loads((work / "metrics" / "evaluation.json").read_text())
    assert package["ents_f"] > 0
    assert package["ents_f"] == pytest.approx(evaluation["student_vs_truth"]["ents_f"])
    # Break the installed copy of bio_ner (never the project's): the same command must score zero.
    (step,) = (c for c in srsly.read_yaml(work / "project.yml")["commands"] if c["name"] == "package")
    command = next(line for line in step["script"] if "spacy evaluate" in line)
    command = command.replace("${vars.package_name}", "assay_ner").replace("${vars.gpu_id}", "-1")
    words = [str(python) if w == "python" else w for w in shlex.split(command)]
    words[words.index("--output") + 1] = str(work / "broken.json")
    installed_bio_ner = site / "en_assay_ner" / "bio_ner.py"
    original = installed_bio_ner.read_text()
    broken = original.replace("            doc.ents = spans\n", "            doc.ents = []\n")
    assert broken != original
    try:
        installed_bio_ner.write_text(broken)
        run = subprocess.run(words, cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        assert json.loads((work / "broken.json").read_text())["ents_f"] == 0.0
    finally:
        installed_bio_ner.write_text(original)


def test_the_pages_show_the_hand_checked_set(project):
    work = project[0]
    page = (work / "visualizations" / "handchecked.html").read_text()
    assert page.count('<section class="row') == 300


def test_a_second_run_skips_every_step(project):
    work, python, env, _, _ = project
    second = run_all(work, python, env)
    assert second.returncode == 0, (second.stdout + second.stderr)[-4000:]
    for step in ("assets", "annotate", "convert", "train", "calibrate", "baseline", "evaluate", "package",
                 "visualize"):  # fmt: skip
        assert f"Skipping '{step}': nothing changed" in second.stdout, second.stdout[-4000:]
