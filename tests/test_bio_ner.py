"""The bio_ner component: BIO decoding, and a real training run with a small CNN tok2vec."""

import numpy
import pytest
import spacy
from spacy.tokens import Doc
from spacy.training import Example
from thinc.api import Adam, fix_random_seed

import components  # noqa: F401  registers bio_ner
from components.pipeline.bio_ner import allowed_transitions, biluo_to_bio, bio_tags, tags_to_spans, viterbi

TAGS = bio_tags(["SUBSTRATE", "TARGET"])  # O, B-SUBSTRATE, I-SUBSTRATE, B-TARGET, I-TARGET


def decode(probabilities):
    best = viterbi(numpy.log(numpy.asarray(probabilities) + 1e-6), allowed_transitions(TAGS))
    return [TAGS[i] for i in best]


def test_gold_biluo_tags_become_bio_and_missing_ones_stay_out_of_the_loss():
    assert [biluo_to_bio(t) for t in ["U-TARGET", "B-TARGET", "I-TARGET", "L-TARGET", "O"]] == [
        "B-TARGET", "B-TARGET", "I-TARGET", "I-TARGET", "O",
    ]  # fmt: skip
    assert biluo_to_bio("-") is None
    assert biluo_to_bio(None) is None


def test_an_inside_tag_that_opens_a_doc_is_read_as_the_start_of_its_entity():
    #                O    B-S   I-S   B-T   I-T
    probabilities = [
        [0.1, 0.0, 0.0, 0.3, 0.6],
        [0.1, 0.0, 0.0, 0.0, 0.9],
        [0.9, 0.0, 0.0, 0.0, 0.1],
    ]
    assert decode(probabilities) == ["B-TARGET", "I-TARGET", "O"]


def test_an_entity_is_never_continued_under_another_label():
    probabilities = [
        [0.0, 0.0, 0.0, 1.0, 0.0],
        [0.1, 0.05, 0.55, 0.0, 0.3],
    ]
    # I-SUBSTRATE cannot follow B-TARGET: the best allowed reading continues the target.
    assert decode(probabilities) == ["B-TARGET", "I-TARGET"]


def test_two_entities_of_one_label_never_touch():
    # "muscarinic" / "M5 receptor": the model leans to a new target at "M5"; one entity is the
    # best reading that the data allows (no two names of one label touch in it).
    probabilities = [
        [0.0, 0.0, 0.0, 0.9, 0.1],
        [0.0, 0.0, 0.0, 0.6, 0.4],
        [0.1, 0.0, 0.0, 0.0, 0.9],
    ]
    assert decode(probabilities) == ["B-TARGET", "I-TARGET", "I-TARGET"]
    # A target right after a substrate is fine.
    assert decode([[0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 0.0]]) == ["B-SUBSTRATE", "B-TARGET"]


def test_tags_become_spans_with_their_labels():
    nlp = spacy.blank("en")
    doc = nlp("Inhibition of JNK2 using ATF2 as substrate")
    spans = tags_to_spans(doc, ["O", "O", "B-TARGET", "O", "B-SUBSTRATE", "O", "O"])
    assert [(s.text, s.label_) for s in spans] == [("JNK2", "TARGET"), ("ATF2", "SUBSTRATE")]
    doc = Doc(nlp.vocab, words=["Displacement", "of", "[3H]NMS", "from", "muscarinic", "M5", "receptor"])
    spans = tags_to_spans(doc, ["O", "O", "B-SUBSTRATE", "O", "B-TARGET", "I-TARGET", "I-TARGET"])
    assert [(s.text, s.label_) for s in spans] == [
        ("[3H]NMS", "SUBSTRATE"),
        ("muscarinic M5 receptor", "TARGET"),
    ]


TRAIN = [
    ("Inhibition of human JNK2 using ATF2 as substrate", [("JNK2", "TARGET"), ("ATF2", "SUBSTRATE")]),
    (
        "Displacement of 125I-CCK-8 from human CCK2 receptor",
        [("125I-CCK-8", "SUBSTRATE"), ("CCK2 receptor", "TARGET")],
    ),
    (
        "Inhibition of mushroom tyrosinase using L-DOPA as substrate",
        [("tyrosinase", "TARGET"), ("L-DOPA", "SUBSTRATE")],
    ),
    ("Cytotoxicity against human HepG2 cells", []),
]


def make_examples(nlp):
    examples = []
    for text, mentions in TRAIN:
        reference = nlp.make_doc(text)
        reference.ents = [
            reference.char_span(text.index(name), text.index(name) + len(name), label=label)
            for name, label in mentions
        ]
        examples.append(Example(nlp.make_doc(text), reference))
    return examples


def small_bio_ner_pipeline():
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "bio_ner",
        config={
            "model": {
                "@architectures": "assay_ner.BioTagger.v1",
                "tok2vec": {
                    "@architectures": "spacy.HashEmbedCNN.v2",
                    "width": 32,
                    "depth": 2,
                    "embed_size": 500,
                    "window_size": 1,
                    "maxout_pieces": 2,
                    "subword_features": True,
                    "pretrained_vectors": None,
                },
            }
        },
    )
    return nlp


def test_bio_ner_learns_a_few_docs_and_comes_back_from_disk(tmp_path):
    fix_random_seed(0)
    nlp = small_bio_ner_pipeline()
    examples = make_examples(nlp)
    nlp.initialize(lambda: examples)
    assert nlp.get_pipe("bio_ner").labels == ("SUBSTRATE", "TARGET")
    optimizer = Adam(0.01)
    losses = [nlp.update(examples, sgd=optimizer)["bio_ner"] for _ in range(40)]
    assert losses[-1] < losses[0] / 10
    expected = [[(name, label) for name, label in mentions] for _, mentions in TRAIN]
    predicted = [[(e.text, e.label_) for e in nlp(text).ents] for text, _ in TRAIN]
    assert predicted == expected
    nlp.to_disk(tmp_path / "pipeline")
    again = spacy.load(tmp_path / "pipeline")
    assert [[(e.text, e.label_) for e in again(text).ents] for text, _ in TRAIN] == expected
    assert nlp.evaluate(examples)["ents_f"] == 1.0


def test_training_data_without_entities_is_refused():
    nlp = small_bio_ner_pipeline()
    text = "Cytotoxicity against HepG2 cells"
    examples = [Example(nlp.make_doc(text), nlp.make_doc(text))]
    with pytest.raises(ValueError, match="no entities to learn labels from"):
        nlp.initialize(lambda: examples)
