"""Calibration after training: bio_ner's temperature and logistic map, fitted on descriptions the
model did not learn from, on a real trained pipeline (tests/conftest.py: trained on the first 40
tuning docs)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
import spacy

from components.data.docs import read_span_docs, write_docbin
from components.evaluation.calibration import judge_entities, log_loss, reliability_table, tag_outcomes
from components.evaluation.report import calibration_section, confidence_report
from components.inference.load import load_pipeline
from components.pipeline.bio_ner import Calibration, temper
from components.training.calibrate import calibrate_pipeline, fit_logistic, fit_temperature

ROOT = Path(__file__).resolve().parent.parent


def results(nlp, texts):
    docs = nlp.pipe(texts)
    return [[(e.start_char, e.end_char, e.label_, e._.confidence) for e in doc.ents] for doc in docs]


def calibrate_command(*args) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "scripts.calibrate", *map(str, args)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)


@pytest.fixture(scope="module")
def unseen(tmp_path_factory) -> Path:
    """Real hand-labelled descriptions the small pipeline did not train on (tuning docs 40-239)."""
    path = tmp_path_factory.mktemp("calibration") / "unseen.spacy"
    write_docbin(path, read_span_docs(spacy.blank("en"), ROOT / "assets" / "tuning.jsonl")[40:240])
    return path


@pytest.fixture(scope="module")
def calibrated(trained_pipeline, unseen, tmp_path_factory):
    output = tmp_path_factory.mktemp("calibrated") / "model"
    report = calibrate_pipeline(trained_pipeline, [unseen], output)
    return output, report


def test_a_temperature_only_flattens_or_sharpens_the_tag_distribution():
    probs = numpy.array([[0.7, 0.2, 0.1], [0.05, 0.9, 0.05]])
    assert temper(probs, 1.0) is probs
    flat, sharp = temper(probs, 3.0), temper(probs, 0.5)
    numpy.testing.assert_allclose(flat.sum(axis=1), 1.0)
    assert (flat.argmax(axis=1) == probs.argmax(axis=1)).all()
    assert (flat.max(axis=1) < probs.max(axis=1)).all() and (sharp.max(axis=1) > probs.max(axis=1)).all()


def test_an_overconfident_model_gets_a_temperature_above_one_and_a_lower_log_loss(calibrated):
    _, report = calibrated
    assert report["docs"] == 200 and report["before"]["n"] > 50
    assert report["calibration"]["temperature"] > 1.0
    assert report["after"]["log_loss"] < report["before"]["log_loss"]
    assert report["after"]["brier"] < report["before"]["brier"]
    assert report["after"]["ece"] < report["before"]["ece"]


def test_each_fit_is_the_least_log_loss_on_its_data(trained_pipeline):
    nlp = load_pipeline(trained_pipeline)
    gold = read_span_docs(nlp, ROOT / "assets" / "tuning.jsonl")[40:240]
    found = tag_outcomes(nlp, list(zip(gold, nlp.pipe(doc.text for doc in gold), strict=True)))

    def loss(calibration: Calibration) -> float:
        return log_loss(found.judged(calibration).entities)

    best = fit_temperature(found)
    assert loss(Calibration(best)) < loss(Calibration(best / 1.3))
    assert loss(Calibration(best)) < loss(Calibration(best * 1.3))
    scale, shift = fit_logistic(found.judged(Calibration(best)))
    fitted = loss(Calibration(best, scale, shift))
    for nudge in ((0.2, 0), (-0.2, 0), (0, 0.2), (0, -0.2)):
        assert fitted < loss(Calibration(best, scale + nudge[0], shift + nudge[1]))
    assert fitted <= loss(Calibration(best))


def test_the_calibrated_pipeline_keeps_every_entity_and_its_ranking_and_carries_its_calibration(
    trained_pipeline, calibrated
):
    output, report = calibrated
    texts = [doc.text for doc in read_span_docs(spacy.blank("en"), ROOT / "assets" / "handchecked.jsonl")]
    before, after = load_pipeline(trained_pipeline), load_pipeline(output)
    assert after.get_pipe("bio_ner").calibration == Calibration(**report["calibration"])
    assert json.loads((output / "bio_ner" / "cfg").read_text())["calibration"] == report["calibration"]
    old, new = results(before, texts), results(after, texts)
    assert [[e[:3] for e in doc] for doc in old] == [[e[:3] for e in doc] for doc in new]
    assert sum(map(len, new)) > 50
    # The entities the model was surest of come down, and the confidences rank right entities above
    # wrong ones no worse than before (the temperature may reorder some; the logistic map cannot).
    pairs = [(o[3], n[3]) for a, b in zip(old, new, strict=True) for o, n in zip(a, b, strict=True)]
    assert all(n < o for o, n in pairs if o > 0.999)
    gold = read_span_docs(after, ROOT / "assets" / "handchecked.jsonl")
    ranking = {}
    for name, nlp in (("before", before), ("after", after)):
        ranking[name] = reliability_table(judge_entities(zip(gold, nlp.pipe(texts), strict=True)))["auroc"]
    assert ranking["after"] >= ranking["before"] - 0.01


def test_the_evaluation_shows_the_confidences_before_and_after(calibrated):
    output, report = calibrated
    nlp = load_pipeline(output)
    gold = read_span_docs(nlp, ROOT / "assets" / "handchecked.jsonl")
    pairs = list(zip(gold, nlp.pipe(doc.text for doc in gold), strict=True))
    checked = confidence_report(nlp, pairs)
    assert checked["fitted"] == report["calibration"]
    assert checked["uncalibrated"]["n"] == checked["reliability"]["n"]
    assert checked["uncalibrated"]["log_loss"] > checked["reliability"]["log_loss"]
    # The before figures are those of the same pipeline without its calibration.
    plain = load_pipeline(output)
    plain.get_pipe("bio_ner").cfg["calibration"] = Calibration().to_cfg()
    before = confidence_report(plain, list(zip(gold, plain.pipe(doc.text for doc in gold), strict=True)))
    assert "uncalibrated" not in before
    assert before["reliability"]["ece"] == pytest.approx(checked["uncalibrated"]["ece"])
    assert before["reliability"]["auroc"] == pytest.approx(checked["uncalibrated"]["auroc"])
    page = "\n".join(calibration_section(checked))
    assert f"temperature of {report['calibration']['temperature']:.3f}" in page
    assert "| as trained |" in page and "| calibrated |" in page
    assert "[as trained](reliability_uncalibrated.svg)" in page


def test_calibrating_twice_or_on_nothing_is_refused(calibrated, trained_pipeline, tmp_path):
    output, _ = calibrated
    empty = tmp_path / "empty.spacy"
    write_docbin(empty, [])
    run = calibrate_command(output, tmp_path / "again", "--data", empty)
    assert run.returncode == 1 and "no documents to calibrate on" in run.stderr
    unseen = tmp_path / "unseen.spacy"
    write_docbin(unseen, read_span_docs(spacy.blank("en"), ROOT / "assets" / "tuning.jsonl")[40:60])
    run = calibrate_command(output, tmp_path / "again", "--data", unseen)
    assert run.returncode == 1 and "already calibrated" in run.stderr
    assert not (tmp_path / "again").exists()


def test_the_command_writes_the_pipeline_and_its_report(trained_pipeline, unseen, tmp_path):
    run = calibrate_command(
        trained_pipeline, tmp_path / "model", "--data", unseen, "--report", tmp_path / "calibration.json"
    )
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "calibration.json").read_text())
    assert f"calibrated on 200 docs ({report['before']['n']} entities)" in run.stdout
    fitted = load_pipeline(tmp_path / "model").get_pipe("bio_ner").calibration
    assert fitted == Calibration(**report["calibration"])
    assert not (tmp_path / ".model.tmp").exists()
