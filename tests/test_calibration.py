"""Reliability and threshold tables of entity confidences, by hand and on a real trained pipeline."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import spacy
from spacy.tokens import Span, SpanGroup

from components.data.docs import read_span_docs
from components.evaluation.calibration import (
    calibration_markdown,
    judge_entities,
    reliability_svg,
    reliability_table,
    threshold_table,
)
from components.evaluation.metrics import score_entities
from components.pipeline.bio_ner import _confidence_getter

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def scored_docs():
    """A maker of (gold, predicted) pairs whose predicted entities carry given confidences the way
    bio_ner stores them (a scored span group)."""
    Span.set_extension("confidence", getter=_confidence_getter, force=True)
    nlp = spacy.blank("en")

    def pair(text: str, gold: list[tuple[int, int, str]], predicted: list[tuple[int, int, str, float]]):
        gold_doc, pred_doc = nlp(text), nlp(text)
        gold_doc.ents = [Span(gold_doc, s, e, label=label) for s, e, label in gold]
        spans = [Span(pred_doc, s, e, label=label) for s, e, label, _ in predicted]
        pred_doc.ents = spans
        scores = [c for *_, c in predicted]
        pred_doc.spans["bio_ner"] = SpanGroup(
            pred_doc, name="bio_ner", spans=spans, attrs={"scorer": "bio_ner", "scores": scores}
        )
        return gold_doc, pred_doc

    return pair


def test_tables_by_hand(scored_docs):
    pairs = [
        # right (0.95), wrong label (0.55), right (0.91)
        scored_docs("Inhibition of JNK2 using ATF2 as substrate", [(2, 3, "TARGET"), (4, 5, "SUBSTRATE")],
                    [(2, 3, "TARGET", 0.95), (4, 5, "TARGET", 0.55)]),
        scored_docs("Displacement of NMS from M5 receptor", [(2, 3, "SUBSTRATE"), (4, 6, "TARGET")],
                    [(2, 3, "SUBSTRATE", 0.91), (5, 6, "TARGET", 0.15)]),  # the second: wrong edge
        # wrong, and 1.0 falls in the top band
        scored_docs("Cytotoxicity in HepG2 cells", [], [(2, 3, "TARGET", 1.0)]),
    ]  # fmt: skip
    judged = judge_entities(pairs)
    assert judged.gold == 4 and judged.unscored == 0
    table = reliability_table(judged, bands=10)
    bands = {round(b["low"], 1): b for b in table["bands"] if b["n"]}
    assert set(bands) == {0.1, 0.5, 0.9}
    assert (bands[0.9]["n"], bands[0.9]["right"]) == (3, 2)
    assert bands[0.9]["confidence"] == pytest.approx((0.95 + 0.91 + 1.0) / 3)
    assert bands[0.5]["precision"] == 0.0 and bands[0.1]["precision"] == 0.0
    assert table["n"] == 5
    ece = (3 * abs(2 / 3 - 2.86 / 3) + 0.55 + 0.15) / 5
    assert table["ece"] == pytest.approx(ece)
    assert table["brier"] == pytest.approx((0.05**2 + 0.55**2 + 0.09**2 + 0.15**2 + 1.0) / 5)
    rows = {row["threshold"]: row for row in threshold_table(judged, thresholds=(0.0, 0.5, 0.92, 1.0))}
    assert (rows[0.0]["kept"], rows[0.0]["p"], rows[0.0]["r"]) == (5, 2 / 5, 2 / 4)
    assert (rows[0.5]["kept"], rows[0.5]["p"]) == (4, 2 / 4)
    assert (rows[0.92]["kept"], rows[0.92]["p"], rows[0.92]["r"]) == (2, 1 / 2, 1 / 4)
    assert rows[0.92]["f"] == pytest.approx(2 * 0.5 * 0.25 / 0.75)
    assert rows[1.0]["kept"] == 1 and rows[1.0]["share_kept"] == pytest.approx(1 / 5)
    json.dumps([table, rows])  # plain JSON for metrics/evaluation.json


def test_entities_without_a_confidence_are_counted_apart(scored_docs):
    gold, predicted = scored_docs("Inhibition of JNK2", [(2, 3, "TARGET")], [(2, 3, "TARGET", 0.8)])
    predicted.spans.clear()  # as from a component that gives no confidence
    judged = judge_entities([(gold, predicted)])
    assert (judged.unscored, judged.unscored_right, judged.entities) == (1, 1, [])
    with pytest.raises(ValueError, match="no predicted entity has a confidence"):
        reliability_table(judged)
    other = scored_docs("Inhibition of JNK2", [(2, 3, "TARGET")], [(2, 3, "TARGET", 0.8)])
    assert reliability_table(judge_entities([(gold, predicted), other]))["unscored"] == 1


def test_pairs_over_different_texts_are_refused(scored_docs):
    gold, _ = scored_docs("Inhibition of JNK2", [], [])
    _, predicted = scored_docs("Inhibition of JNK3", [], [])
    with pytest.raises(ValueError, match="texts differ"):
        judge_entities([(gold, predicted)])


def test_a_trained_pipeline_on_the_handchecked_set(trained_pipeline):
    nlp = spacy.load(trained_pipeline)
    gold = read_span_docs(nlp, ROOT / "assets" / "handchecked.jsonl")[:120]
    pairs = list(zip(gold, nlp.pipe(doc.text for doc in gold), strict=True))
    judged = judge_entities(pairs)
    reliability = reliability_table(judged)
    trade_off = threshold_table(judged)
    scores = score_entities(pairs)
    # Every entity is scored, so the lowest threshold is the pipeline's own precision and recall.
    assert judged.unscored == 0 and reliability["n"] == sum(b["n"] for b in reliability["bands"]) > 50
    assert trade_off[0]["p"] == pytest.approx(scores["ents_p"]) and trade_off[0]["r"] == pytest.approx(
        scores["ents_r"]
    )
    # Raising the threshold keeps fewer entities and never more right ones.
    kept = [row["kept"] for row in trade_off]
    right = [round(row["r"] * judged.gold) for row in trade_off]
    assert kept == sorted(kept, reverse=True) and right == sorted(right, reverse=True)
    assert 0.0 <= reliability["ece"] <= 1.0
    lines = calibration_markdown(reliability, trade_off)
    assert lines[0].startswith("Entity confidence: expected calibration error")
    assert sum(line.startswith("| [") for line in lines) == 10 and "| 0.5 |" in "\n".join(lines)

    svg = reliability_svg(reliability, title="Student <hand-checked>")
    root = ET.fromstring(svg)  # well-formed XML: embeddable as is
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg" and root.find(f"{ns}title").text == "Student <hand-checked>"
    bars = [r for r in root.iter(f"{ns}rect") if r.get("fill") == "#8ecae6"]
    assert len(bars) == sum(1 for b in reliability["bands"] if b["n"])
    assert not any(el.tag in (f"{ns}script", f"{ns}image", f"{ns}a") for el in root.iter())
    assert "href" not in svg
