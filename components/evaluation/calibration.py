"""Does an entity's confidence mean what it says? Calibration of `ent._.confidence` on
(gold, predicted) doc pairs, and what a confidence threshold buys.

    judged = judge_entities(pairs)              # (gold, predicted) Docs over the same texts
    reliability = reliability_table(judged)     # precision per confidence band, ECE, Brier, AUROC
    trade_off = threshold_table(judged)         # P / R / F1 of the entities kept at each threshold
    svg = reliability_svg(reliability)          # a self-contained <svg> for an HTML page
    lines = calibration_markdown(reliability, trade_off)  # both tables for a Markdown report
    outcomes = tag_outcomes(nlp, pairs)         # the same entities under another calibration

A predicted entity is right when the gold doc has an entity with the same start, end and label
(the entity-level rule of components.evaluation.metrics). Confidences are read as
`ent._.confidence`, which a pipeline with `bio_ner` registers when it is built (the installed
en_assay_ner or a pipeline directory); entities without one (from another component, or a process
that has built no such pipeline) are counted as unscored and left out. Every result is plain JSON.
"""

from __future__ import annotations

import html
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy
from spacy.language import Language
from spacy.tokens import Doc, Span

if TYPE_CHECKING:
    from components.pipeline.bio_ner import Calibration

THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


@dataclass(frozen=True)
class Judged:
    """Every predicted entity as (confidence, right), plus what the pairs hold besides."""

    entities: list[tuple[float, bool]]
    gold: int  # gold entities: the denominator of recall
    unscored: int  # predicted entities without a confidence, left out of `entities`
    unscored_right: int  # how many of those were right (so totals can be reconciled)


def _confidence(ent: Span) -> float | None:
    return ent._.confidence if Span.has_extension("confidence") else None


def judge_entities(pairs: Iterable[tuple[Doc, Doc]]) -> Judged:
    """Judge each predicted entity of (gold, predicted) pairs against its gold doc."""
    entities, gold_total, unscored, unscored_right = [], 0, 0, 0
    for gold, predicted in pairs:
        if gold.text != predicted.text:
            raise ValueError(
                f"gold and predicted texts differ: {gold.text[:60]!r} vs {predicted.text[:60]!r}"
            )
        truth = {(e.start_char, e.end_char, e.label_) for e in gold.ents}
        gold_total += len(truth)
        for ent in predicted.ents:
            right = (ent.start_char, ent.end_char, ent.label_) in truth
            confidence = _confidence(ent)
            if confidence is None:
                unscored += 1
                unscored_right += right
            else:
                entities.append((float(confidence), right))
    return Judged(entities, gold_total, unscored, unscored_right)


@dataclass(frozen=True)
class TagOutcomes:
    """What a confidence is made of, kept so that it can be recomputed under another calibration:
    each doc's tag probabilities, its predicted entities (start, end, B tag id, I tag id) and
    whether each is right."""

    probs: list[numpy.ndarray]
    entities: list[list[tuple[int, int, int, int]]]
    right: list[list[bool]]
    gold: int
    allowed: numpy.ndarray

    def judged(self, calibration: Calibration) -> Judged:
        confidences = calibration.confidences(self.probs, self.entities, self.allowed)
        entities = [
            (confidence, right)
            for doc_confidences, doc_right in zip(confidences, self.right, strict=True)
            for confidence, right in zip(doc_confidences, doc_right, strict=True)
        ]
        return Judged(entities, self.gold, unscored=0, unscored_right=0)


def tag_outcomes(nlp: Language, pairs: Sequence[tuple[Doc, Doc]]) -> TagOutcomes:
    """The outcomes of (gold, predicted) pairs whose predictions `nlp` (a pipeline with bio_ner)
    made; the predicted docs still hold the transformer's output, so only the small head runs again."""
    ner = nlp.get_pipe("bio_ner")
    # The helpers of the code the pipeline runs: an installed package's own copy of bio_ner, or
    # the project's. Importing the project's next to a package would register bio_ner twice.
    code = sys.modules[type(ner).__module__]
    entities, right, gold_total = [], [], 0
    for gold, predicted in pairs:
        truth = {(e.start_char, e.end_char, e.label_) for e in gold.ents}
        gold_total += len(truth)
        entities.append(code.tagged_spans(predicted.ents, ner.tags))
        right.append([(e.start_char, e.end_char, e.label_) in truth for e in predicted.ents])
    probs = ner.predict([predicted for _, predicted in pairs])
    return TagOutcomes(probs, entities, right, gold_total, code.allowed_transitions(ner.tags))


def _require_scores(judged: Judged) -> None:
    if not judged.entities:
        raise ValueError(
            f"no predicted entity has a confidence ({judged.unscored} unscored): "
            "confidences come from a pipeline with bio_ner"
        )


def reliability_table(judged: Judged, bands: int = 10) -> dict:
    """Precision of the scored entities in `bands` equal confidence bands over [0, 1].

    Returns {"bands": [{"low", "high", "n", "right", "precision", "confidence"}], "n", "unscored",
    "ece", "brier", "log_loss", "auroc"}: per band its edges (the last band includes 1.0), entity
    count, right count, precision and mean confidence (both None for an empty band); over all scored
    entities the expected calibration error (the n-weighted mean of |precision - mean confidence| per
    band), the Brier score (the mean of (confidence - right)^2), the log loss and how well the
    confidences rank right entities above wrong ones (`auroc`). A calibrated confidence has
    precision close to the mean confidence in every band.
    """
    _require_scores(judged)
    if bands < 1:
        raise ValueError(f"bands must be at least 1, got {bands}")
    counts = [[0, 0, 0.0] for _ in range(bands)]  # n, right, sum of confidences
    for confidence, right in judged.entities:
        band = counts[min(int(confidence * bands), bands - 1)]
        band[0] += 1
        band[1] += right
        band[2] += confidence
    n = len(judged.entities)
    rows, ece = [], 0.0
    for i, (count, right, total) in enumerate(counts):
        precision = right / count if count else None
        mean = total / count if count else None
        if count:
            ece += count / n * abs(precision - mean)
        rows.append(
            {
                "low": i / bands,
                "high": (i + 1) / bands,
                "n": count,
                "right": right,
                "precision": precision,
                "confidence": mean,
            }
        )
    brier = sum((c - r) ** 2 for c, r in judged.entities) / n
    return {
        "bands": rows,
        "n": n,
        "unscored": judged.unscored,
        "ece": ece,
        "brier": brier,
        "log_loss": log_loss(judged.entities),
        "auroc": auroc(judged.entities),
    }


def log_loss(entities: Sequence[tuple[float, bool]], floor: float = 1e-6) -> float:
    """Mean negative log-likelihood of right/wrong under the confidences (clipped to [floor, 1 - floor])."""
    total = 0.0
    for confidence, right in entities:
        confidence = min(max(confidence, floor), 1 - floor)
        total -= math.log(confidence if right else 1 - confidence)
    return total / len(entities)


def auroc(entities: Sequence[tuple[float, bool]]) -> float | None:
    """The chance that a right entity has a higher confidence than a wrong one (ties count half);
    None when all are right or all are wrong."""
    ranked = sorted(entities, key=lambda entity: entity[0])
    n_right = sum(right for _, right in ranked)
    n_wrong = len(ranked) - n_right
    if not n_right or not n_wrong:
        return None
    # Mann-Whitney: sum of the right entities' ranks, ties given their mean rank.
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        mean_rank = (i + j + 1) / 2
        rank_sum += mean_rank * sum(right for _, right in ranked[i:j])
        i = j
    return (rank_sum - n_right * (n_right + 1) / 2) / (n_right * n_wrong)


def threshold_table(judged: Judged, thresholds: Sequence[float] = THRESHOLDS) -> list[dict]:
    """What keeping only the entities with confidence >= t gives, for each threshold t.

    Each row: {"threshold", "kept", "share_kept", "p", "r", "f"}: the scored entities kept, their
    share of all scored entities, and entity-level precision, recall (against every gold entity)
    and F1. At t = 0 this is the pipeline's own P/R/F1 when every entity is scored."""
    _require_scores(judged)
    rows = []
    for threshold in sorted(thresholds):
        kept = [right for confidence, right in judged.entities if confidence >= threshold]
        right = sum(kept)
        p = right / len(kept) if kept else 0.0
        r = right / judged.gold if judged.gold else 0.0
        rows.append(
            {
                "threshold": threshold,
                "kept": len(kept),
                "share_kept": len(kept) / len(judged.entities),
                "p": p,
                "r": r,
                "f": 2 * p * r / (p + r) if p + r else 0.0,
            }
        )
    return rows


def _number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _band_table(reliability: dict) -> list[str]:
    lines = [
        "| confidence | entities | right | precision | mean confidence |",
        "| --- | --- | --- | --- | --- |",
    ]
    for band in reliability["bands"]:
        closing = "]" if band["high"] == 1.0 else ")"
        lines.append(
            f"| [{band['low']:.1f}, {band['high']:.1f}{closing} | {band['n']} | {band['right']} "
            f"| {_number(band['precision'])} | {_number(band['confidence'])} |"
        )
    return lines


def calibration_markdown(
    reliability: dict,
    trade_off: list[dict],
    uncalibrated: dict | None = None,
    fitted: dict | None = None,
) -> list[str]:
    """The reliability table and the threshold trade-off as Markdown lines; with `uncalibrated`
    (the same entities' confidences as trained) and the `fitted` Calibration's fields, a
    before/after comparison first."""
    lines = []
    if uncalibrated is not None:
        lines += [
            "Calibrated after training, on descriptions the model did not learn from: the tag "
            f"log-probabilities are divided by a temperature of {fitted['temperature']:.3f}, then each "
            f"entity's probability p becomes logistic({fitted['scale']:.3f} logit(p) "
            f"{fitted['shift']:+.3f}). Same entities, before and after:",
            "",
            "| confidences | ECE | Brier | log loss | AUROC (right vs wrong) |",
            "| --- | --- | --- | --- | --- |",
        ]
        for name, table in (("as trained", uncalibrated), ("calibrated", reliability)):
            lines.append(
                f"| {name} | {table['ece']:.3f} | {table['brier']:.3f} | {table['log_loss']:.3f} "
                f"| {_number(table['auroc'], 3)} |"
            )
        lines += ["", "Before (as trained):", "", *_band_table(uncalibrated), "", "After (calibrated):", ""]
    lines += [
        f"Entity confidence: expected calibration error {reliability['ece']:.3f}, Brier score "
        f"{reliability['brier']:.3f} over {reliability['n']} predicted entities"
        + (f" ({reliability['unscored']} without a confidence)." if reliability["unscored"] else "."),
        "",
        *_band_table(reliability),
        "",
        "| keep confidence >= | entities kept | share | P | R | F1 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in trade_off:
        lines.append(
            f"| {row['threshold']:g} | {row['kept']} | {row['share_kept']:.2f} | {row['p']:.2f} "
            f"| {row['r']:.2f} | {row['f']:.2f} |"
        )
    return lines


def reliability_svg(reliability: dict, title: str = "Entity confidence: reliability") -> str:
    """A reliability diagram as one self-contained <svg> element (no scripts, fonts or links).

    One bar per confidence band, as high as the precision of its entities, with the entity count
    above it; a dot at each band's mean confidence; the diagonal is perfect calibration."""
    width, height, left, right, top, bottom = 420, 320, 52, 16, 40, 46
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(value: float) -> float:
        return left + value * plot_w

    def y(value: float) -> float:
        return top + (1 - value) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11" role="img">',
        f"<title>{html.escape(title)}</title>",
        f'<text x="{width / 2:.0f}" y="16" text-anchor="middle" font-size="13">{html.escape(title)}</text>',
        f'<text x="{width / 2:.0f}" y="31" text-anchor="middle" fill="#555">'
        f"ECE {reliability['ece']:.3f}, Brier {reliability['brier']:.3f}, {reliability['n']} entities</text>",
    ]
    for tick in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        parts.append(
            f'<line x1="{x(0):.1f}" y1="{y(tick):.1f}" x2="{x(1):.1f}" y2="{y(tick):.1f}" stroke="#e5e5e5"/>'
        )
        parts.append(f'<text x="{x(0) - 6:.1f}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:.1f}</text>')
        parts.append(f'<text x="{x(tick):.1f}" y="{y(0) + 16:.1f}" text-anchor="middle">{tick:.1f}</text>')
    for band in reliability["bands"]:
        if not band["n"]:
            continue
        x0, x1 = x(band["low"]) + 1, x(band["high"]) - 1
        parts.append(
            f'<rect x="{x0:.1f}" y="{y(band["precision"]):.1f}" width="{x1 - x0:.1f}" '
            f'height="{y(0) - y(band["precision"]):.1f}" fill="#8ecae6">'
            f"<title>confidence {band['low']:.1f}-{band['high']:.1f}: {band['right']} of {band['n']} right "
            f"(precision {band['precision']:.2f}, mean confidence {band['confidence']:.2f})</title>"
            "</rect>"
        )
        parts.append(
            f'<text x="{(x0 + x1) / 2:.1f}" y="{y(band["precision"]) - 4:.1f}" text-anchor="middle" '
            f'fill="#333">{band["n"]}</text>'
        )
        parts.append(
            f'<circle cx="{x(band["confidence"]):.1f}" cy="{y(band["precision"]):.1f}" r="3" fill="#f4a261"/>'
        )
    parts += [
        f'<line x1="{x(0):.1f}" y1="{y(0):.1f}" x2="{x(1):.1f}" y2="{y(1):.1f}" stroke="#666" '
        'stroke-dasharray="4 3"/>',
        f'<rect x="{x(0):.1f}" y="{y(1):.1f}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>',
        f'<text x="{x(0.5):.1f}" y="{height - 8}" text-anchor="middle">confidence</text>',
        f'<text transform="translate(14 {y(0.5):.1f}) rotate(-90)" text-anchor="middle">'
        "precision (share right)</text>",
        "</svg>",
    ]
    return "\n".join(parts)


def calibration(pairs: Iterable[tuple[Doc, Doc]]) -> dict | None:
    """{"reliability": ..., "thresholds": ...} of the predictions' confidences; None where no
    predicted entity carries one (a pipeline without bio_ner)."""
    judged = judge_entities(pairs)
    if not judged.entities:
        return None
    return {"reliability": reliability_table(judged), "thresholds": threshold_table(judged)}
