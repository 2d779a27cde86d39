"""The bundled data: real ChEMBL descriptions labelled by hand, cut into disjoint parts.

Provenance on every record, the licence and attribution beside them, parts that share no text
(nor with the guideline table's examples), a cut that re-cuts to itself, and hand-checked spans
that lie on token boundaries of the pipeline's tokenizer.
"""

from pathlib import Path

import pytest
import spacy

from components.data.corpus import corpus_record, normalise_text
from components.data.docs import read_handchecked, read_span_docs
from components.data.real_assets import LICENCE, SOURCE, cut
from components.data.records import read_jsonl
from components.evaluation.guidelines import read_examples
from components.pipeline.labels import LABELS, SUBSTRATE, TARGET

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"
PARTS = {"sample": "sample_assays.jsonl", "handchecked": "handchecked.jsonl", "fewshot": "fewshot.jsonl",
         "tuning": "tuning.jsonl"}
CHEMBL_TYPES = {"A", "B", "F", "P", "T", "U"}


@pytest.fixture(scope="module")
def parts() -> dict[str, list[dict]]:
    return {name: [obj for _, obj in read_jsonl(ASSETS / file)] for name, file in PARTS.items()}


def test_sizes(parts):
    assert {name: len(records) for name, records in parts.items()} == {
        "sample": 569, "handchecked": 300, "fewshot": 100, "tuning": 569
    }


def test_every_labelled_record_says_where_it_comes_from(parts):
    for name in ("handchecked", "fewshot", "tuning"):
        for obj in parts[name]:
            meta = obj["meta"]
            assert meta["source"] == name and meta["data"] == SOURCE == "ChEMBL"
            assert meta["licence"] == LICENCE == "CC BY-SA 3.0"
            assert isinstance(meta["assay_id"], int) and meta["assay_type"] in CHEMBL_TYPES


def test_sample_records_are_corpus_records_with_chembl_ids(parts):
    for line_no, obj in enumerate(parts["sample"], 1):
        assert corpus_record(obj, f"sample:{line_no}") == obj
        assert isinstance(obj["assay_id"], int) and obj["assay_type"] in CHEMBL_TYPES
    assert len({obj["assay_id"] for obj in parts["sample"]}) == len(parts["sample"])


def test_licence_and_attribution_ship_with_the_data():
    readme = (ASSETS / "README.md").read_text(encoding="utf8")
    assert "CC BY-SA 3.0" in readme and "ChEMBL" in readme and "EMBL-EBI" in readme


def texts(records) -> set[str]:
    return {normalise_text(obj["text"]) for obj in records}


def test_sample_handchecked_fewshot_and_guideline_examples_share_no_text(parts):
    sets = {name: texts(parts[name]) for name in ("sample", "handchecked", "fewshot")}
    examples = read_examples(ROOT / "ANNOTATION_GUIDELINES.md")
    sets["guidelines"] = {normalise_text(eg["text"]) for eg in examples}
    names = list(sets)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not sets[a] & sets[b], f"{a} and {b} share {sorted(sets[a] & sets[b])[:3]}"
    # The tuning labels are the sample's descriptions, labelled by hand: never the evaluation set.
    assert texts(parts["tuning"]) == sets["sample"]


def test_the_cut_is_deterministic_and_recorded(parts):
    labelled = [
        {"assay_id": obj["meta"]["assay_id"], "assay_type": obj["meta"]["assay_type"], "text": obj["text"],
         "spans": obj["spans"]}
        for name in ("handchecked", "fewshot", "tuning") for obj in parts[name]
    ]  # fmt: skip
    again = cut(list(reversed(labelled)), {"handchecked": 300, "fewshot": 100})
    assert [o["text"] for o in again["handchecked"]] == [o["text"] for o in parts["handchecked"]]
    assert [o["text"] for o in again["fewshot"]] == [o["text"] for o in parts["fewshot"]]
    assert [o["text"] for o in again["sample"]] == [o["text"] for o in parts["sample"]]


def test_handchecked_spans_lie_on_token_boundaries_of_the_pipeline_tokenizer(parts):
    nlp = spacy.blank("en")  # configs/ner.cfg's tokenizer: spacy.Tokenizer.v1 of English
    for i, obj in enumerate(parts["handchecked"], 1):
        doc = nlp.make_doc(obj["text"])
        for span in obj["spans"]:
            ent = doc.char_span(span["start"], span["end"], label=span["label"])
            assert ent is not None, f"handchecked.jsonl:{i}: {span['text']!r} is not on token boundaries"
            assert ent.text == span["text"]
    docs = read_handchecked(nlp, ASSETS / "handchecked.jsonl")
    assert not any(doc.user_data["meta"].get("alignment_notes") for doc in docs)


def test_handchecked_label_mix_is_that_of_chembl(parts):
    spans = [s for obj in parts["handchecked"] for s in obj["spans"]]
    assert {s["label"] for s in spans} == set(LABELS)
    no_entity = [obj for obj in parts["handchecked"] if not obj["spans"]]
    checked = parts["handchecked"]
    with_substrate = [obj for obj in checked if any(s["label"] == SUBSTRATE for s in obj["spans"])]
    assert 0.15 <= len(no_entity) / len(parts["handchecked"]) <= 0.45
    assert len(with_substrate) >= 40
    assert sum(s["label"] == TARGET for s in spans) >= 150


def test_fewshot_pool_loads_as_docs_with_answers(parts):
    docs = read_span_docs(spacy.blank("en"), ASSETS / "fewshot.jsonl")
    assert [doc.text for doc in docs] == [obj["text"] for obj in parts["fewshot"]]
    assert sum(len(doc.ents) for doc in docs) == sum(len(obj["spans"]) for obj in parts["fewshot"])
