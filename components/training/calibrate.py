"""Calibrate a trained pipeline's entity confidences: fit `bio_ner`'s temperature after training.

The student's tag softmax is surer than it is right (a few hundred descriptions, trained to fit
them), so its entity confidences crowd at the top. Temperature scaling divides the tag
log-probabilities by one number T, chosen to minimise the log loss of "this entity is right" on
descriptions the model did not learn from (the dev and test splits, labelled like the training
data). T changes confidences only: every tag path's score is divided by T, so the entities stay
exactly as they were (components/pipeline/bio_ner.py). The calibrated pipeline is the trained one
with T in `bio_ner`'s cfg: it ships in the package and needs no code at inference.

    report = calibrate_pipeline("training/model-best", ["corpus/dev.spacy"], "training/model-calibrated")
"""

from __future__ import annotations

import logging
import math
import shutil
from pathlib import Path

from spacy.language import Language

from components.data.docs import read_docbin
from components.data.records import InputError
from components.evaluation.calibration import Judged, TagOutcomes, reliability_table, tag_outcomes
from components.inference.load import load_pipeline

logger = logging.getLogger("assay_ner")

# Where the search for T looks: from much sharper to much flatter than trained.
LOWEST, HIGHEST = 0.25, 16.0


def fit_temperature(found: TagOutcomes, steps: int = 40) -> float:
    """The T in [LOWEST, HIGHEST] with the least log loss, by golden-section search on log T (the
    loss is smooth and has one minimum in practice); 1.0 when there is nothing to learn from (no
    entity, or every entity right or every one wrong)."""
    flags = [right for doc in found.right for right in doc]
    if not flags or all(flags) or not any(flags):
        return 1.0

    def loss(log_t: float) -> float:
        return reliability_table(found.judged(math.exp(log_t)))["log_loss"]

    low, high = math.log(LOWEST), math.log(HIGHEST)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    loss_a, loss_b = loss(a), loss(b)
    for _ in range(steps):
        if loss_a <= loss_b:
            high, b, loss_b = b, a, loss_a
            a = high - ratio * (high - low)
            loss_a = loss(a)
        else:
            low, a, loss_a = a, b, loss_b
            b = low + ratio * (high - low)
            loss_b = loss(b)
    return round(math.exp((low + high) / 2), 4)


def summary(judged: Judged) -> dict:
    table = reliability_table(judged)
    return {key: table[key] for key in ("n", "ece", "brier", "log_loss", "auroc")}


def calibrate_pipeline(model: str | Path, data: list[str | Path], output: str | Path) -> dict:
    """Fit the temperature of the pipeline at `model` on the DocBins `data` (labelled descriptions it
    did not train on), write the calibrated pipeline to `output` and return the report."""
    nlp = load_pipeline(model)
    gold = [doc for path in data for doc in read_docbin(path, nlp.vocab)]
    if not gold:
        raise InputError(f"{', '.join(map(str, data))}: no documents to calibrate on")
    ner = nlp.get_pipe("bio_ner")
    if ner.temperature != 1.0:
        raise InputError(
            f"{model}: already calibrated (temperature {ner.temperature}); give the trained pipeline"
        )
    predicted = list(nlp.pipe(doc.text for doc in gold))
    found = tag_outcomes(nlp, list(zip(gold, predicted, strict=True)))
    temperature = fit_temperature(found)
    report = {
        "model": str(model),
        "data": [str(path) for path in data],
        "docs": len(gold),
        "temperature": temperature,
        "before": summary(found.judged(1.0)),
        "after": summary(found.judged(temperature)),
    }
    logger.info(
        "calibrated on %d docs (%d entities): temperature %.3f, ECE %.3f -> %.3f, log loss %.3f -> %.3f",
        len(gold), report["before"]["n"], temperature, report["before"]["ece"], report["after"]["ece"],
        report["before"]["log_loss"], report["after"]["log_loss"],
    )  # fmt: skip
    write_calibrated(Path(model), Path(output), nlp, temperature)
    return report


def write_calibrated(model: Path, output: Path, nlp: Language, temperature: float) -> None:
    """A copy of the pipeline directory whose bio_ner carries the temperature, written beside
    `output` and renamed into place, so that a failed run leaves no half-written pipeline.

    The weights are copied as files, not saved again: a pipeline loaded on a CPU holds an int8
    transformer, which cannot be saved (components/pipeline/int8.py)."""
    staging = output.with_name(f".{output.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(model, staging)
    ner = nlp.get_pipe("bio_ner")
    ner.cfg["temperature"] = temperature
    ner.to_disk(staging / "bio_ner", exclude=["vocab"])
    shutil.rmtree(output, ignore_errors=True)
    staging.rename(output)
