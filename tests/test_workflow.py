"""The real `weasel run all` on a few documents (the explosion/projects habit): every step runs,
with training cut to a few steps, so a broken step cannot land. Takes a few minutes."""

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILES = ["project.yml", "ANNOTATION_GUIDELINES.md", "configs", "assets", "scripts", "components"]


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
    return work, env_dir / "bin" / "python"


def run_all(work: Path, python: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    overrides = [
        "--vars.corpus_size=40",
        "--vars.teacher_eval_size=20",
        "--vars.max_steps=12",
        "--vars.eval_frequency=6",
        "--vars.transformer=minilm",
        "--vars.gpu_id=-1",
        "--vars.test_share=0.2",
        "--vars.dev_share=0.2",
    ]
    return subprocess.run(
        [str(python), "-m", "weasel", "run", "all", ".", *overrides],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )


def test_all_workflow_runs_end_to_end_and_skips_when_unchanged(project):
    work, python = project
    first = run_all(work, python)
    log = first.stdout + first.stderr
    assert first.returncode == 0, log[-6000:]

    # The log names the teacher, the transformer and the device, and warns about the stand-ins.
    assert "SmolLM2" in log
    assert "all-MiniLM-L6-v2" in log and "CPU" in log
    assert "stand-in" in log

    evaluation = json.loads((work / "metrics" / "evaluation.json").read_text())
    # One report: the student against teacher and truth, the teacher and the plain baseline against truth.
    assert evaluation["comparisons"] == [
        "student_vs_teacher",
        "student_vs_truth",
        "teacher_vs_truth",
        "baseline_vs_truth",
    ]
    for key in ("ents_p", "ents_r", "ents_f", "token_acc"):
        for comparison in evaluation["comparisons"]:
            assert 0.0 <= evaluation[comparison][key] <= 1.0
    assert evaluation["baseline_vs_truth"]["docs"] == evaluation["student_vs_truth"]["docs"]
    assert set(evaluation["student_vs_truth"]["ents_per_type"]) >= {"TARGET", "SUBSTRATE"}
    # The installed package's answers to the guideline's six examples are checked and reported.
    package = json.loads((work / "metrics" / "package" / "evaluation.json").read_text())
    assert package["guideline_examples"]["examples"] == 6
    assert "## The guideline's examples" in (work / "metrics" / "evaluation.md").read_text()
    assert (work / "visualizations" / "handchecked.html").stat().st_size > 1000

    # The package step installed en_assay_ner into this venv: load it by name, offline.
    code = (
        "import spacy; nlp = spacy.load('en_assay_ner'); "
        "doc = nlp('Inhibition of human JNK2 using ATF2 as substrate'); "
        "print(nlp.pipe_names, [(e.text, e.label_) for e in doc.ents], doc._.targets, doc._.substrates)"
    )
    loaded = subprocess.run(
        [str(python), "-c", code],
        cwd="/",
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert "assay_answer" in loaded.stdout

    second = run_all(work, python)
    assert second.returncode == 0, (second.stdout + second.stderr)[-4000:]
    for step in ("assets", "annotate", "convert", "train", "baseline", "evaluate", "package", "visualize"):
        assert f"Skipping '{step}': nothing changed" in second.stdout, second.stdout[-4000:]
