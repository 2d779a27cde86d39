"""The shipped package (components/pipeline) and its assay_answer component on the guideline's
example table, with gold entities set by hand."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

from components.evaluation.guidelines import read_examples
from components.pipeline import answer  # noqa: F401  (registers assay_answer)
from components.pipeline.labels import answer_strings

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = ROOT / "components" / "pipeline"
# The guideline's table of examples: description, TARGET, SUBSTRATE.
GUIDELINES = read_examples(ROOT / "ANNOTATION_GUIDELINES.md")
EXAMPLES = [(eg["text"], eg["targets"], eg["substrates"]) for eg in GUIDELINES]


@pytest.fixture(scope="module")
def nlp():
    nlp = spacy.blank("en")
    nlp.add_pipe("assay_answer")
    return nlp


@pytest.mark.parametrize("text,targets,substrates", EXAMPLES)
def test_answer_of_guideline_examples(nlp, gold_doc, text, targets, substrates):
    doc = gold_doc(nlp, text, [(t, "TARGET") for t in targets] + [(s, "SUBSTRATE") for s in substrates])
    doc = nlp.get_pipe("assay_answer")(doc)
    assert [span.text for span in doc._.targets] == targets
    assert [span.text for span in doc._.substrates] == substrates
    assert all(span.label_ == "TARGET" for span in doc._.targets)
    assert answer_strings(doc) == {"targets": targets, "substrates": substrates}


def test_repeated_mention_kept_once_first_occurrence_and_order(nlp, gold_doc):
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


def test_answer_survives_docbin_round_trip(nlp, gold_doc):
    doc = nlp(gold_doc(nlp, EXAMPLES[1][0], [("muscarinic M5 receptor", "TARGET"), ("[3H]NMS", "SUBSTRATE")]))
    docbin = DocBin(store_user_data=True, docs=[doc])
    (back,) = DocBin().from_bytes(docbin.to_bytes()).get_docs(nlp.vocab)
    assert [s.text for s in back._.targets] == ["muscarinic M5 receptor"]
    assert [s.text for s in back._.substrates] == ["[3H]NMS"]


def shipped_modules() -> list[Path]:
    return sorted(p for p in PIPELINE.glob("*.py") if p.name != "__init__.py")


def test_the_shipped_package_imports_nothing_from_the_rest_of_the_project():
    for path in shipped_modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                assert not node.module.startswith(("components", "scripts")), f"{path.name}: {node.module}"
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith(("components", "scripts")) for a in node.names), path.name


def test_each_shipped_module_imports_on_its_own_as_spacy_package_does(tmp_path):
    # `spacy package --code` imports every file alone, outside any package, then builds the
    # pipeline from what they registered (to read its meta) before copying them.
    code = (
        "import sys, spacy\n"
        "for path in sys.argv[1:]:\n"
        "    spacy.util.import_file(path.rsplit('/', 1)[1][:-3], path)\n"
        "ours = ('assay_answer', 'bio_ner', 'int8')\n"
        "nlp = spacy.blank('en')\n"
        "nlp.add_pipe('assay_answer')\n"
        "doc = nlp.make_doc('JNK2 and JNK2')\n"
        "doc.ents = [doc.char_span(0, 4, label='TARGET'), doc.char_span(9, 13, label='TARGET')]\n"
        "print([s.text for s in nlp(doc)._.targets])\n"
        "print(sorted(f for f in spacy.registry.factories.get_all() if f in ours))"
    )
    done = subprocess.run(
        [sys.executable, "-P", "-c", code, *map(str, shipped_modules())],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[-3:-1] == ["['JNK2']", "['assay_answer', 'bio_ner', 'int8']"]
