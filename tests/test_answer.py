"""The assay_answer component on the guideline's example table, with gold entities set by hand."""

import shutil
from pathlib import Path

import pytest
import spacy
from spacy.tokens import Doc, DocBin

import components
from components import labels
from components.evaluation.guidelines import read_examples
from components.pipeline.labels import ANSWER_KEYS, answer_strings

GUIDELINES = Path(__file__).resolve().parent.parent / "ANNOTATION_GUIDELINES.md"
# The guideline's table of examples: description, TARGET, SUBSTRATE.
EXAMPLES = [(eg["text"], eg["targets"], eg["substrates"]) for eg in read_examples(GUIDELINES)]


@pytest.fixture(scope="module")
def nlp():
    nlp = spacy.blank("en")
    nlp.add_pipe("assay_answer")
    return nlp


def gold_doc(nlp, text: str, mentions: list[tuple[str, str]]) -> Doc:
    """A doc with every occurrence of each (string, label) marked, as the guidelines ask."""
    doc = nlp.make_doc(text)
    ents = []
    for string, label in mentions:
        start = text.find(string)
        assert start >= 0, string
        while start >= 0:
            span = doc.char_span(start, start + len(string), label=label)
            assert span is not None, f"{string!r} is not on token boundaries"
            ents.append(span)
            start = text.find(string, start + 1)
    doc.ents = sorted(ents, key=lambda s: s.start)
    return doc


@pytest.mark.parametrize("text,targets,substrates", EXAMPLES)
def test_answer_of_guideline_examples(nlp, text, targets, substrates):
    doc = gold_doc(nlp, text, [(t, "TARGET") for t in targets] + [(s, "SUBSTRATE") for s in substrates])
    doc = nlp.get_pipe("assay_answer")(doc)
    assert [span.text for span in doc._.targets] == targets
    assert [span.text for span in doc._.substrates] == substrates
    assert all(span.label_ == "TARGET" for span in doc._.targets)
    assert answer_strings(doc) == {"targets": targets, "substrates": substrates}


def test_repeated_mention_kept_once_first_occurrence_and_order(nlp):
    text = "Inhibition of JNK2 and PDE4B using ATF2 as substrate; JNK2 selectivity over PDE4B with ATF2"
    doc = gold_doc(nlp, text, [("JNK2", "TARGET"), ("PDE4B", "TARGET"), ("ATF2", "SUBSTRATE")])
    assert len(doc.ents) == 6
    doc = nlp(doc)
    assert [s.text for s in doc._.targets] == ["JNK2", "PDE4B"]
    assert doc._.targets[0].start_char == text.index("JNK2")
    assert [s.text for s in doc._.substrates] == ["ATF2"]
    assert doc._.substrates[0].start_char == text.index("ATF2")


def test_unprocessed_doc_has_no_answer_yet(nlp):
    doc = nlp.make_doc("Inhibition of JNK2")
    assert doc._.targets is None and doc._.substrates is None


def test_answer_survives_docbin_round_trip(nlp):
    doc = nlp(gold_doc(nlp, EXAMPLES[1][0], [("muscarinic M5 receptor", "TARGET"), ("[3H]NMS", "SUBSTRATE")]))
    docbin = DocBin(store_user_data=True, docs=[doc])
    (back,) = DocBin().from_bytes(docbin.to_bytes()).get_docs(nlp.vocab)
    assert [s.text for s in back._.targets] == ["muscarinic M5 receptor"]
    assert [s.text for s in back._.substrates] == ["[3H]NMS"]


def test_answer_keys_match_the_label_module():
    # answer.py keeps its own copy (it ships alone inside the package); it must not drift.
    assert ANSWER_KEYS == labels.ANSWER_KEYS


def test_module_imports_on_its_own_as_spacy_package_does(tmp_path):
    # `spacy package --code components/answer.py` imports the file alone, then ships it in the
    # package; a project script may import both copies in one process.
    copy = tmp_path / "answer.py"
    shutil.copy(Path(components.__file__).parent / "answer.py", copy)
    module = spacy.util.import_file("answer", copy)
    nlp = spacy.blank("en")
    nlp.add_pipe("assay_answer")
    doc = nlp.make_doc("JNK2 and JNK2")
    doc.ents = [doc.char_span(0, 4, label="TARGET"), doc.char_span(9, 13, label="TARGET")]
    assert module.answer_strings(nlp(doc)) == {"targets": ["JNK2"], "substrates": []}
