"""The bundled data: the sample corpus, the hand-checked evaluation set and the few-shot examples.

Sizes, unique ids and texts, no text shared between the sets (nor with the guideline table's
examples), hand-checked spans that load through components.data.records on spaCy's tokenizer and mark
every occurrence, a label mix with negatives and substrates, few-shot strings that occur in
their text and align to tokens without snapping.
"""

import re
from pathlib import Path

import pytest
import spacy

from components.data.align import align_mentions, find_occurrences
from components.data.corpus import normalise_text, read_answer_records
from components.data.records import read_jsonl, record_to_doc
from components.evaluation.guidelines import read_examples
from components.pipeline.labels import ANSWER_KEYS, LABELS, SUBSTRATE, TARGET

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"
SAMPLE = ASSETS / "sample_assays.jsonl"
HANDCHECKED = ASSETS / "handchecked.jsonl"
FEWSHOT = ASSETS / "fewshot.jsonl"
GUIDELINES = ROOT / "ANNOTATION_GUIDELINES.md"
ASSAY_TYPES = {"B", "F", "A", "T", "P", "U"}
# Kinds of description that name no molecular target: phenotypic, anti-infective, in vivo, ADME.
NO_TARGET_KIND = re.compile(
    r"^(cytotoxicity|antiproliferative|growth inhibition|antibacterial|antimicrobial|antifungal|"
    r"antimycobacterial|antiplasmodial|antimalarial|antitrypanosomal|antileishmanial|antiviral|"
    r"antitumor|in vivo|anti-inflammatory|anticonvulsant|analgesic|antioxidant)\b",
    re.IGNORECASE,
)

NLP = spacy.blank("en")


def load(path):
    return [(f"{path.name}:{line_no}", obj) for line_no, obj in read_jsonl(path)]


@pytest.fixture(scope="module")
def sample():
    return load(SAMPLE)


@pytest.fixture(scope="module")
def handchecked():
    return load(HANDCHECKED)


@pytest.fixture(scope="module")
def fewshot():
    return load(FEWSHOT)


def guideline_examples():
    return [example["text"] for example in read_examples(GUIDELINES)]


def test_sizes(sample, handchecked, fewshot):
    assert len(sample) >= 300
    assert len(handchecked) >= 150
    assert 12 <= len(fewshot) <= 18


def test_sample_records_are_well_formed_and_unique(sample):
    ids = [obj["assay_chembl_id"] for _, obj in sample]
    for where, obj in sample:
        assert set(obj) == {"assay_chembl_id", "assay_type", "text"}, where
        assert re.fullmatch(r"SAMPLE-\d{4}", obj["assay_chembl_id"]), where
        assert obj["assay_type"] in ASSAY_TYPES, where
        assert obj["text"] == obj["text"].strip() and 5 <= len(obj["text"].split()) <= 70, where
    assert len(set(ids)) == len(ids)
    assert len({normalise_text(obj["text"]) for _, obj in sample}) == len(sample)


def test_sample_has_a_share_of_descriptions_without_target(sample):
    no_target = [
        obj
        for _, obj in sample
        if obj["assay_type"] in {"A", "P", "T", "U"} or NO_TARGET_KIND.match(obj["text"])
    ]
    assert 0.2 <= len(no_target) / len(sample) <= 0.5


def test_handchecked_ids_and_texts_are_unique(handchecked):
    ids = [obj["meta"]["assay_chembl_id"] for _, obj in handchecked]
    assert all(re.fullmatch(r"HC-\d{4}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert len({normalise_text(obj["text"]) for _, obj in handchecked}) == len(handchecked)


def test_sets_and_guideline_examples_are_pairwise_disjoint(sample, handchecked, fewshot):
    sets = {
        "sample": {normalise_text(obj["text"]) for _, obj in sample},
        "handchecked": {normalise_text(obj["text"]) for _, obj in handchecked},
        "fewshot": {normalise_text(obj["text"]) for _, obj in fewshot},
        "guidelines": {normalise_text(t) for t in guideline_examples()},
    }
    names = list(sets)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not sets[a] & sets[b], f"{a} and {b} share {sorted(sets[a] & sets[b])[:3]}"


def test_handchecked_records_load_with_their_span_texts(handchecked):
    for where, obj in handchecked:
        assert obj["meta"]["source"] == "handchecked", where
        assert obj["meta"]["assay_type"] in ASSAY_TYPES, where
        doc = record_to_doc(NLP, obj, where)
        assert len(doc.ents) == len(obj["spans"]), where
        for ent, span in zip(doc.ents, sorted(obj["spans"], key=lambda s: s["start"]), strict=True):
            assert ent.label_ in LABELS, where
            assert ent.text == span["text"] == obj["text"][span["start"] : span["end"]], where
            assert ent.text == ent.text.strip(), where
        assert doc.user_data["meta"]["assay_chembl_id"] == obj["meta"]["assay_chembl_id"]


def test_handchecked_marks_every_occurrence(handchecked):
    """A name marked once is marked wherever it stands as a word (or inside a longer span)."""
    for where, obj in handchecked:
        text = obj["text"]
        covered = [(s["start"], s["end"]) for s in obj["spans"]]
        for span in obj["spans"]:
            occurrences, how = find_occurrences(text, span["text"])
            assert how == "exact", where
            for start, end in occurrences:
                assert any(a <= start and end <= b for a, b in covered), (
                    f"{where}: {span['text']!r} at {start} is not marked"
                )


def test_handchecked_label_mix(handchecked):
    spans = [s for _, obj in handchecked for s in obj["spans"]]
    no_target = [obj for _, obj in handchecked if not any(s["label"] == TARGET for s in obj["spans"])]
    two_targets = [obj for _, obj in handchecked if sum(s["label"] == TARGET for s in obj["spans"]) >= 2]
    two_substrates = [
        obj for _, obj in handchecked if sum(s["label"] == SUBSTRATE for s in obj["spans"]) >= 2
    ]
    assert 0.2 <= len(no_target) / len(handchecked) <= 0.5
    assert sum(s["label"] == SUBSTRATE for s in spans) >= 40
    assert sum(s["label"] == TARGET for s in spans) >= 100
    assert len(two_targets) >= 5 and len(two_substrates) >= 5


def test_handchecked_leaves_out_what_the_guidelines_exclude(handchecked):
    """Species, 'recombinant', tags and read-out reagents never start or make up a span."""
    excluded_start = re.compile(r"^(human|rat|mouse|recombinant|GST|[\w-]*tagged)\b", re.IGNORECASE)
    not_substrates = {"NADH", "NADPH", "NAD+", "FAD", "MTT", "resazurin", "DTNB", "Amplex Red"}
    not_substrates |= {"[35S]GTPgammaS", "[gamma-33P]ATP", "TNF-alpha", "PMA"}
    for where, obj in handchecked:
        for span in obj["spans"]:
            assert not excluded_start.match(span["text"]), f"{where}: {span['text']!r}"
            assert span["text"] not in not_substrates, f"{where}: {span['text']!r}"


def test_fewshot_strings_occur_in_their_text_and_align_to_tokens(fewshot):
    assert set(ANSWER_KEYS.values()) == {"targets", "substrates"}
    negatives = 0
    for where, obj in fewshot:
        assert set(obj) == {"text", "targets", "substrates"}, where
        mentions = [(label, s) for label in LABELS for s in obj[ANSWER_KEYS[label]]]
        for _, s in mentions:
            assert isinstance(s, str) and s and s in obj["text"], f"{where}: {s!r}"
        alignment = align_mentions(NLP.make_doc(obj["text"]), mentions)
        assert not alignment.unaligned and not alignment.notes, f"{where}: {alignment.to_meta()}"
        negatives += not obj["targets"] or not obj["substrates"]
    assert negatives >= 4
    assert any(not obj["targets"] and not obj["substrates"] for _, obj in fewshot)


def test_fewshot_loads_through_the_teacher_task_reader(fewshot):
    assert [e["text"] for e in read_answer_records(FEWSHOT)] == [obj["text"] for _, obj in fewshot]
