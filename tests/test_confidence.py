"""The confidence bio_ner gives every entity: exact against enumeration, sensible at the edges, and
carried by a real trained pipeline through Doc.to_bytes, DocBin and nlp.pipe(n_process=2)."""

import itertools

import numpy
import pytest
import spacy
from spacy.tokens import Doc, DocBin

from components.pipeline.bio_ner import allowed_transitions, bio_tags, span_confidences

TAGS = bio_tags(["SUBSTRATE", "TARGET"])  # O, B-SUBSTRATE, I-SUBSTRATE, B-TARGET, I-TARGET
ALLOWED = allowed_transitions(TAGS)
B_T, I_T = TAGS.index("B-TARGET"), TAGS.index("I-TARGET")


def enumerate_entities(probs: numpy.ndarray) -> dict[tuple[int, int, int], float]:
    """P(entity) by brute force: every well-formed tag sequence, weighted by the product of its tag
    probabilities and renormalised; an entity's probability is the mass of the sequences holding it."""
    mass: dict[tuple[int, int, int], float] = {}
    total = 0.0
    for seq in itertools.product(range(len(TAGS)), repeat=len(probs)):
        if not ALLOWED[-1, seq[0]] or not all(ALLOWED[a, b] for a, b in itertools.pairwise(seq)):
            continue
        weight = float(numpy.prod([probs[i, tag] for i, tag in enumerate(seq)]))
        total += weight
        start = None
        for i, tag in enumerate([*(TAGS[t] for t in seq), "O"]):
            if start is not None and not tag.startswith("I-"):
                key = (start, i, seq[start])
                mass[key] = mass.get(key, 0.0) + weight
                start = None
            if tag.startswith("B-"):
                start = i
    return {key: value / total for key, value in mass.items()}


def test_confidence_is_the_exact_probability_of_the_entity_for_docs_of_any_length_together():
    rng = numpy.random.default_rng(7)
    docs = [rng.dirichlet(numpy.full(len(TAGS), 0.4), size=n) for n in (1, 4, 2, 5, 3)]
    exact = [enumerate_entities(probs) for probs in docs]
    spans = [[(s, e, b, b + 1) for s, e, b in entities] for entities in exact]
    got = span_confidences(docs, spans, ALLOWED)
    assert sum(map(len, spans)) > 50
    for d, doc_spans in enumerate(spans):
        for (s, e, b, _), confidence in zip(doc_spans, got[d], strict=True):
            assert confidence == pytest.approx(exact[d][(s, e, b)], abs=1e-12)


def test_b_or_i_at_an_entity_start_after_a_sure_outside_token_costs_nothing():
    # "of JNK2 ...": the head wavers between B- and I-TARGET on JNK2, but an I- cannot follow O.
    #        O     B-S   I-S   B-T   I-T
    probs = numpy.array(
        [
            [0.98, 0.0, 0.0, 0.01, 0.01],
            [0.02, 0.0, 0.0, 0.50, 0.48],
            [0.98, 0.0, 0.0, 0.01, 0.01],
        ]
    )
    [[confidence]] = span_confidences([probs], [[(1, 2, B_T, I_T)]], ALLOWED)
    assert confidence > 0.9
    # The same wavering right after a likely target token does lower it: the entity may start earlier.
    probs[0] = [0.5, 0.0, 0.0, 0.5, 0.0]
    [[lower]] = span_confidences([probs], [[(1, 2, B_T, I_T)]], ALLOWED)
    assert lower < 0.75


def test_a_likely_continuation_after_the_entity_lowers_its_confidence():
    probs = numpy.array([[0.0, 0.0, 0.0, 1.0, 0.0], [0.7, 0.0, 0.0, 0.0, 0.3]])
    [[confidence]] = span_confidences([probs], [[(0, 1, B_T, I_T)]], ALLOWED)
    assert confidence == pytest.approx(0.7)


def test_docs_without_entities_cost_nothing_and_get_none():
    assert span_confidences([numpy.full((3, 5), 0.2), numpy.zeros((0, 5))], [[], []], ALLOWED) == [[], []]


TEXTS = [
    "Inhibition of human JNK2 using ATF2 as substrate",
    "Displacement of [3H]NMS from human muscarinic M5 receptor expressed in CHO cells",
    "Inhibition of mushroom tyrosinase using L-DOPA as substrate",
    "Agonist activity at human beta3 adrenergic receptor assessed as cAMP accumulation",
    "Cytotoxicity against human HepG2 cells after 72 hrs by MTT assay",
    "Inhibition of recombinant human PDE4B using cAMP as substrate by scintillation proximity assay",
] * 3


def confidences(docs) -> list[list[tuple[int, int, str, float]]]:
    return [[(e.start, e.end, e.label_, e._.confidence) for e in doc.ents] for doc in docs]


@pytest.fixture(scope="module")
def nlp(trained_pipeline):
    return spacy.load(trained_pipeline)


def test_every_entity_of_a_trained_pipeline_has_a_confidence_in_its_span_group(nlp):
    docs = list(nlp.pipe(TEXTS))
    found = confidences(docs)
    assert sum(map(len, found)) >= 10
    for doc, ents in zip(docs, found, strict=True):
        group = doc.spans["bio_ner"]
        assert group.attrs["scorer"] == "bio_ner"
        scored = zip(group, group.attrs["scores"], strict=True)
        assert [(s.start, s.end, s.label_, c) for s, c in scored] == ents
        assert all(0.0 < c <= 1.0 for *_, c in ents)
        # The doc-level answer's spans are the same entities: they read the same confidence.
        for span in [*doc._.targets, *doc._.substrates]:
            assert span._.confidence == next(c for s, e, _, c in ents if (s, e) == (span.start, span.end))


def test_a_span_bio_ner_did_not_make_has_no_confidence(nlp):
    doc = nlp(TEXTS[0])
    assert doc[0:1]._.confidence is None  # "Inhibition": not an entity
    doc.ents = []
    doc.spans.clear()
    assert doc[3:4]._.confidence is None


def test_confidences_survive_to_bytes_docbin_and_two_processes(nlp):
    docs = list(nlp.pipe(TEXTS))
    expected = confidences(docs)
    again = [Doc(nlp.vocab).from_bytes(doc.to_bytes()) for doc in docs]
    assert confidences(again) == expected
    data = DocBin(docs=docs).to_bytes()
    fresh = spacy.blank("en").vocab  # a DocBin is often read with another vocab
    assert confidences(DocBin().from_bytes(data).get_docs(fresh)) == expected
    assert confidences(nlp.pipe(TEXTS, n_process=2, batch_size=4)) == expected
