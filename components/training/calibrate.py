"""Calibrate a trained pipeline's entity confidences: fit `bio_ner`'s Calibration after training.

The student's tag softmax is surer than it is right (a few hundred descriptions, trained to fit
them), so its entity confidences crowd at 1.0, right or wrong. Two fits, each by the least log
loss of "this entity is right" on descriptions the model did not learn from (the dev and test
splits, labelled like the training data):

1. a temperature T that divides the tag log-probabilities, which spreads the entities the softmax
   called certain apart again (one number: it cannot overfit);
2. a logistic map of each entity's probability under T, logistic(scale * logit(p) + shift) (Platt
   scaling), which sets where the spread sits: T alone fits the many easy entities and the few
   hard ones at once and leaves the easy ones too low.

Neither changes an entity (components/pipeline/bio_ner.py). The map keeps the order of the
confidences; the temperature can swap close ones (how well they rank right entities above wrong
ones, AUROC, is on the evaluation page before and after). The calibrated pipeline is the trained one
with the Calibration in `bio_ner`'s cfg: it ships in the package.

    report = calibrate_pipeline("training/model-last", ["corpus/dev.spacy"], "training/model-calibrated")
"""

from __future__ import annotations

import logging
import math
import shutil
from pathlib import Path

from spacy.language import Language

from components.data.docs import read_docbin
from components.data.records import InputError
from components.evaluation.calibration import Judged, TagOutcomes, log_loss, reliability_table, tag_outcomes
from components.inference.load import load_pipeline
from components.pipeline.bio_ner import Calibration, logistic, logit

logger = logging.getLogger("assay_ner")

# Where the search for T looks: from much sharper to much flatter than trained.
LOWEST, HIGHEST = 0.25, 16.0


def _learnable(judged: Judged) -> bool:
    """Something to learn from: entities, some right and some wrong."""
    flags = [right for _, right in judged.entities]
    return bool(flags) and any(flags) and not all(flags)


def fit_temperature(found: TagOutcomes, steps: int = 40) -> float:
    """The T in [LOWEST, HIGHEST] with the least log loss, by golden-section search on log T (the
    loss is smooth and has one minimum in practice); 1.0 when there is nothing to learn from."""
    if not _learnable(found.judged(Calibration())):
        return 1.0

    def loss(log_t: float) -> float:
        return log_loss(found.judged(Calibration(temperature=math.exp(log_t))).entities)

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


def fit_logistic(judged: Judged, steps: int = 100) -> tuple[float, float]:
    """(scale, shift) of the logistic map with the least log loss (Newton's method on the two
    numbers, each step at most 1 long: the loss is convex); (1, 0) when there is nothing to learn."""
    if not _learnable(judged):
        return 1.0, 0.0
    xs = [logit(confidence) for confidence, _ in judged.entities]
    ys = [float(right) for _, right in judged.entities]
    scale, shift = 1.0, 0.0
    for _ in range(steps):
        g_scale = g_shift = h_ss = h_sh = h_hh = 0.0
        for x, y in zip(xs, ys, strict=True):
            p = logistic(scale * x + shift)
            w = p * (1.0 - p)
            g_scale += (p - y) * x
            g_shift += p - y
            h_ss += w * x * x
            h_sh += w * x
            h_hh += w
        det = (h_ss + 1e-9) * (h_hh + 1e-9) - h_sh * h_sh
        d_scale = ((h_hh + 1e-9) * g_scale - h_sh * g_shift) / det
        d_shift = ((h_ss + 1e-9) * g_shift - h_sh * g_scale) / det
        step = min(1.0, 1.0 / max(abs(d_scale), abs(d_shift), 1e-12))
        scale, shift = scale - step * d_scale, shift - step * d_shift
        if max(abs(d_scale), abs(d_shift)) < 1e-8:
            break
    return round(scale, 4), round(shift, 4)


def fit_calibration(found: TagOutcomes) -> Calibration:
    temperature = fit_temperature(found)
    scale, shift = fit_logistic(found.judged(Calibration(temperature=temperature)))
    return Calibration(temperature, scale, shift)


def summary(judged: Judged) -> dict:
    table = reliability_table(judged)
    return {key: table[key] for key in ("n", "ece", "brier", "log_loss", "auroc")}


def calibrate_pipeline(model: str | Path, data: list[str | Path], output: str | Path) -> dict:
    """Fit the Calibration of the pipeline at `model` on the DocBins `data` (labelled descriptions
    it did not train on), write the calibrated pipeline to `output` and return the report."""
    nlp = load_pipeline(model)
    gold = [doc for path in data for doc in read_docbin(path, nlp.vocab)]
    if not gold:
        raise InputError(f"{', '.join(map(str, data))}: no documents to calibrate on")
    ner = nlp.get_pipe("bio_ner")
    if not ner.calibration.is_identity():
        raise InputError(f"{model}: already calibrated ({ner.calibration}); give the trained pipeline")
    predicted = list(nlp.pipe(doc.text for doc in gold))
    found = tag_outcomes(nlp, list(zip(gold, predicted, strict=True)))
    fitted = fit_calibration(found)
    report = {
        "model": str(model),
        "data": [str(path) for path in data],
        "docs": len(gold),
        "calibration": fitted.to_cfg(),
        "before": summary(found.judged(Calibration())),
        "after": summary(found.judged(fitted)),
    }
    logger.info(
        "calibrated on %d docs (%d entities): %s; ECE %.3f -> %.3f, log loss %.3f -> %.3f",
        len(gold), report["before"]["n"], fitted, report["before"]["ece"], report["after"]["ece"],
        report["before"]["log_loss"], report["after"]["log_loss"],
    )  # fmt: skip
    write_calibrated(Path(model), Path(output), nlp, fitted)
    return report


def write_calibrated(model: Path, output: Path, nlp: Language, fitted: Calibration) -> None:
    """A copy of the pipeline directory whose bio_ner carries the Calibration, written beside
    `output` and renamed into place, so that a failed run leaves no half-written pipeline.

    The weights are copied as files, not saved again: a pipeline loaded on a CPU holds an int8
    transformer, which cannot be saved (components/pipeline/int8.py)."""
    staging = output.with_name(f".{output.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(model, staging)
    ner = nlp.get_pipe("bio_ner")
    ner.cfg["calibration"] = fitted.to_cfg()
    ner.to_disk(staging / "bio_ner", exclude=["vocab"])
    shutil.rmtree(output, ignore_errors=True)
    staging.rename(output)
