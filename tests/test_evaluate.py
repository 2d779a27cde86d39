"""Evaluation against hand-made gold sets whose every error is known, through the function and the CLI."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.schemas import ModelMetaSchema, validate

from components.data.docs import doc_to_record, write_docbin
from components.data.records import InputError, write_jsonl
from components.evaluation.metrics import score_entities
from components.evaluation.report import evaluate, render_markdown, transformer_name
from components.inference.load import load_pipeline
from components.pipeline.labels import DEFINITIONS

ROOT = Path(__file__).resolve().parent.parent

# The tiny pipeline's rules get the first test doc right and the second's TARGET boundary wrong.
TEST = [
    ("Inhibition of human JNK2 using ATF2 as substrate", [("JNK2", "TARGET"), ("ATF2", "SUBSTRATE")]),
    (
        "Displacement of [3H]NMS from human muscarinic M5 receptor",
        [("human muscarinic M5 receptor", "TARGET"), ("[3H]NMS", "SUBSTRATE")],
    ),
]
# One of each error kind, all under TARGET; comments say what the rules predict.
HANDCHECKED = [
    (
        "Mixed-type inhibition of mushroom tyrosinase using L-DOPA as substrate",
        [("tyrosinase", "TARGET"), ("L-DOPA", "SUBSTRATE")],
    ),  # both right
    ("Binding to HTG21 DNA", [("HTG21 DNA", "TARGET")]),  # miss
    ("Cytotoxicity against JNK2-null cells", []),  # spurious TARGET JNK2
    ("Expression of ATF2 measured by western blot", [("ATF2", "TARGET")]),  # label: SUBSTRATE
    ("Phosphorylation of ATF2 protein", [("ATF2 protein", "TARGET")]),  # boundary and label
    (
        "Displacement of [3H]NMS from human muscarinic M5 receptor",
        [("human muscarinic M5 receptor", "TARGET"), ("[3H]NMS", "SUBSTRATE")],
    ),  # boundary; [3H]NMS right
]


@pytest.fixture(scope="module")
def docbin(gold_doc):
    def write(path: Path, nlp, examples) -> Path:
        write_docbin(path, [gold_doc(nlp, text, mentions) for text, mentions in examples])
        return path

    return write


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_pipeline, gold_doc, docbin):
    tmp = tmp_path_factory.mktemp("evaluate")
    nlp = spacy.blank("en")
    model = tiny_pipeline
    # The teacher misses the DNA target, and its file holds other texts too, in another order.
    teacher_examples = [("Inhibition of PDE4B", [("PDE4B", "TARGET")])] + [
        (text, [m for m in mentions if m[0] != "HTG21 DNA"]) for text, mentions in reversed(HANDCHECKED)
    ]
    teacher = tmp / "teacher.jsonl"
    write_jsonl(teacher, [doc_to_record(gold_doc(nlp, t, m)) for t, m in teacher_examples])
    # The rules know JNK2 but not JNK3.
    guidelines = tmp / "guidelines.md"
    guidelines.write_text(
        "## Examples\n| description | TARGET | SUBSTRATE |\n| --- | --- | --- |\n"
        "| Inhibition of human JNK2 using ATF2 as substrate | JNK2 | ATF2 |\n"
        "| Inhibition of human JNK3 using ATF2 as substrate | JNK3 | ATF2 |\n",
        encoding="utf8",
    )
    return {
        "model": model,
        "test": docbin(tmp / "test.spacy", nlp, TEST),
        "handchecked": docbin(tmp / "handchecked.spacy", nlp, HANDCHECKED),
        "teacher": teacher,
        "baseline": docbin(tmp / "baseline.spacy", nlp, HANDCHECKED),
        "guidelines": guidelines,
        "tmp": tmp,
    }


@pytest.fixture(scope="module")
def result(files):
    nlp = load_pipeline(files["model"])
    return evaluate(
        nlp,
        files["model"],
        files["test"],
        files["handchecked"],
        files["teacher"],
        {"baseline": files["baseline"]},
        guidelines_path=files["guidelines"],
    )


def test_scores_of_each_comparison(result):
    assert result["comparisons"] == [
        "student_vs_teacher",
        "student_vs_truth",
        "teacher_vs_truth",
        "baseline_vs_truth",
    ]
    st = result["student_vs_teacher"]
    assert (st["docs"], st["ents_p"], st["ents_r"]) == (2, 0.75, 0.75)
    assert st["token_acc"] == 15 / 17  # all 8 tokens of the JNK2 doc; 7 of 9 of the M5 doc
    truth = result["student_vs_truth"]
    assert truth["docs"] == 6
    assert truth["ents_p"] == pytest.approx(3 / 7) and truth["ents_r"] == pytest.approx(3 / 7)
    assert truth["ents_per_type"]["TARGET"]["p"] == pytest.approx(1 / 3)
    assert truth["ents_per_type"]["TARGET"]["r"] == pytest.approx(1 / 5)
    assert truth["ents_per_type"]["SUBSTRATE"]["p"] == pytest.approx(2 / 4)
    assert truth["ents_per_type"]["SUBSTRATE"]["r"] == 1.0
    # BIO tags right per doc: tyrosinase 13/13, HTG21 2/4, JNK2-null 5/6, ATF2 expression 6/7,
    # ATF2 protein 2/4, M5 7/9 ("human" and "muscarinic" take the wrong tag).
    assert truth["token_acc"] == 35 / 43
    # The distinct names per doc: TARGET strings right 1 (tyrosinase) of 3 predicted and 5 gold.
    assert truth["strings_per_type"]["TARGET"] == {"p": 1 / 3, "r": 1 / 5, "f": 0.25, "support": 5}
    assert truth["strings_per_type"]["SUBSTRATE"] == {"p": 0.5, "r": 1.0, "f": 2 / 3, "support": 2}
    # Doc-level answers: only the tyrosinase doc has its targets right; the substrates of the
    # HTG21, JNK2-null and M5 docs are right too (none, none, [3H]NMS).
    assert truth["answer_acc"] == {"TARGET": 1 / 6, "SUBSTRATE": 4 / 6, "all": 1 / 6}
    teacher = result["teacher_vs_truth"]
    assert (teacher["docs"], teacher["ents_p"], teacher["ents_r"]) == (6, 1.0, pytest.approx(6 / 7))
    assert teacher["answer_acc"] == {"TARGET": 5 / 6, "SUBSTRATE": 1.0, "all": 5 / 6}
    assert result["baseline_vs_truth"]["ents_f"] == 1.0 and result["baseline_vs_truth"]["token_acc"] == 1.0


def test_answers_to_the_guideline_examples(result):
    check = result["guideline_examples"]
    assert (check["examples"], check["right"]) == (2, {"targets": 1, "substrates": 2})
    wrong = check["rows"][1]
    assert wrong["expected"] == {"targets": ["JNK3"], "substrates": ["ATF2"]}
    assert wrong["predicted"] == {"targets": [], "substrates": ["ATF2"]}
    assert wrong["right"] == {"targets": False, "substrates": True}
    page = render_markdown(result)
    assert "right: targets 1 of 2, substrates 2 of 2." in page
    assert (
        "| Inhibition of human JNK3 using ATF2 as substrate | `JNK3` / (none) **wrong** | `ATF2` / `ATF2` |"
        in page
    )


def test_error_kinds_with_examples(result):
    errors = result["student_vs_truth"]["errors"]
    counts = {label: {kind: e["count"] for kind, e in kinds.items()} for label, kinds in errors.items()}
    assert counts["TARGET"] == {"boundary": 1, "label": 1, "boundary_and_label": 1, "miss": 1, "spurious": 1}
    assert set(counts["SUBSTRATE"].values()) == {0}
    (boundary,) = errors["TARGET"]["boundary"]["examples"]
    assert (boundary["gold"], boundary["predicted"]) == (
        "human muscarinic M5 receptor",
        "muscarinic M5 receptor",
    )
    (label,) = errors["TARGET"]["label"]["examples"]
    assert (label["gold"], label["predicted"], label["predicted_label"]) == ("ATF2", "ATF2", "SUBSTRATE")
    (miss,) = errors["TARGET"]["miss"]["examples"]
    assert (miss["gold"], miss["predicted"], miss["text"]) == ("HTG21 DNA", None, "Binding to HTG21 DNA")
    (spurious,) = errors["TARGET"]["spurious"]["examples"]
    assert (spurious["gold"], spurious["predicted"]) == (None, "JNK2")


def test_model_and_speed_are_reported(result):
    assert result["model"]["name"] == "en_assay_ner_tiny"
    assert result["model"]["transformer"] is None  # rules, no transformer
    assert result["model"]["pipeline"] == ["entity_ruler", "assay_answer"]
    assert (result["speed"]["docs"], result["speed"]["batch_size"]) == (6, 1000)  # spaCy's default batch


def test_transformer_name_read_from_the_training_config():
    config = spacy.util.load_config(ROOT / "configs" / "ner.cfg", interpolate=False)
    assert transformer_name(config) == "michiyasunaga/BioLinkBERT-base"
    assert transformer_name({"components": {"ner": {"factory": "ner"}}}) is None


def test_our_entity_scores_are_spacys(files, gold_doc):
    # spaCy's scorer (what `spacy evaluate` reports for the installed package) and ours agree.
    from spacy.scorer import get_ner_prf
    from spacy.training import Example

    nlp = load_pipeline(files["model"])
    gold = [gold_doc(nlp, text, mentions) for text, mentions in HANDCHECKED]
    pairs = [(g, nlp(g.text)) for g in gold]
    ours = score_entities(pairs)
    theirs = get_ner_prf([Example(predicted, reference) for reference, predicted in pairs])
    assert (ours["ents_p"], ours["ents_r"], ours["ents_f"]) == pytest.approx(
        (theirs["ents_p"], theirs["ents_r"], theirs["ents_f"])
    )
    for label, scores in theirs["ents_per_type"].items():
        assert ours["ents_per_type"][label]["f"] == pytest.approx(scores["f"])


def test_markdown_page_sets_the_comparisons_side_by_side(result):
    page = render_markdown(result)
    assert "| student vs truth (hand-checked) | 6 | 0.4286 | 0.4286 | 0.4286 |" in page
    assert "| baseline vs truth (hand-checked) | 6 | 1.0000 | 1.0000 | 1.0000 | 1.0000 |" in page
    assert "| answer right (TARGET / SUBSTRATE / all) |" in page
    # The student's SUBSTRATE P/R/F1, then the string F1 of TARGET and SUBSTRATE, then answers right.
    assert "| 0.5000 / 1.0000 / 0.6667 | 0.2500 | 0.6667 | 0.17 / 0.67 / 0.17 |" in page
    assert "| TARGET | 1 | 1 | 1 | 1 | 1 |" in page
    assert '- TARGET miss: gold `HTG21 DNA`, predicted (none) in "Binding to HTG21 DNA"' in page


def run_cli(files, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scripts.evaluate", str(files["model"]), *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_writes_json_and_markdown(files):
    out = files["tmp"] / "metrics"
    run = run_cli(
        files,
        out,
        "--test",
        files["test"],
        "--handchecked",
        files["handchecked"],
        "--teacher",
        files["teacher"],
        "--extra",
        f"baseline={files['baseline']}",
        "--guidelines",
        ROOT / "ANNOTATION_GUIDELINES.md",
    )
    assert run.returncode == 0, run.stderr
    # The rules get all six of the project's guideline examples right.
    assert "guideline examples (6), answers right: targets 6, substrates 6" in run.stdout
    assert "evaluating on CPU" in run.stderr and "transformer None" in run.stderr
    saved = json.loads((out / "evaluation.json").read_text())
    assert saved["student_vs_teacher"]["ents_f"] == 0.75
    assert saved["baseline_vs_truth"]["ents_f"] == 1.0
    assert "## Errors per label" in (out / "evaluation.md").read_text()


def test_empty_set_and_set_without_gold_fail_clearly(files, docbin):
    nlp = spacy.blank("en")
    empty = docbin(files["tmp"] / "empty.spacy", nlp, [])
    with pytest.raises(InputError, match=r"empty\.spacy: no documents to evaluate on"):
        evaluate(load_pipeline(files["model"]), files["model"], empty, files["handchecked"])
    unlabelled = docbin(files["tmp"] / "unlabelled.spacy", nlp, [(text, []) for text, _ in HANDCHECKED])
    run = run_cli(files, files["tmp"] / "m2", "--test", files["test"], "--handchecked", unlabelled)
    assert run.returncode == 1
    assert f"evaluate: {unlabelled}: 6 documents but no gold entities at all" in run.stderr
    assert not (files["tmp"] / "m2" / "evaluation.json").exists()


def test_a_system_covering_part_of_the_set_is_scored_on_that_part(files, docbin):
    nlp = load_pipeline(files["model"])
    partial = docbin(files["tmp"] / "partial.spacy", spacy.blank("en"), HANDCHECKED[:4])
    result = evaluate(nlp, files["model"], files["test"], files["handchecked"], extras={"partial": partial})
    assert result["partial_vs_truth"]["docs"] == 4
    assert "4 of 6 docs" in result["partial_vs_truth"]["title"]


def test_predictions_for_none_of_the_texts_fail_clearly(files, docbin):
    nlp = load_pipeline(files["model"])
    other = docbin(files["tmp"] / "other.spacy", spacy.blank("en"), [("Unrelated text about nothing", [])])
    with pytest.raises(InputError, match=r"other\.spacy: no prediction for any of the 6 reference texts"):
        evaluate(nlp, files["model"], files["test"], files["handchecked"], extras={"other": other})


def test_model_card_holds_the_figures_definitions_and_licence(files, result):
    from spacy.cli.package import generate_readme

    evaluation = files["tmp"] / "evaluation.json"
    # As if the student ran on the shipped MiniLM: the card then warns of the stand-in.
    minilm = "sentence-transformers/all-MiniLM-L6-v2"
    evaluation.write_text(json.dumps({**result, "model": {**result["model"], "transformer": minilm}}))
    report = files["tmp"] / "annotate.json"
    report.write_text(
        json.dumps(
            {
                "teacher": "llamacpp:SmolLM2-135M-Instruct-Q8_0.gguf",
                "backend": "llamacpp",
                "documents": 40,
                "spans": {"TARGET": 31, "SUBSTRATE": 9},
                "documents_without_spans": 7,
                "unparseable": 2,
            }
        )
    )
    result_meta = files["tmp"] / "meta.json"
    run = subprocess.run(
        [sys.executable, "-m", "scripts.model_card", str(files["model"] / "meta.json"), str(evaluation),
         str(report), str(result_meta), "--name", "assay_ner", "--version", "0.2.0"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    meta = json.loads(result_meta.read_text())
    assert validate(ModelMetaSchema, meta) == []
    assert (meta["name"], meta["version"], meta["license"]) == ("assay_ner", "0.2.0", "CC BY-SA 3.0")
    assert meta["performance"]["ents_f"] == pytest.approx(3 / 7)  # the student on the hand-checked set
    assert meta["performance"]["teacher_vs_truth"]["ents_r"] == pytest.approx(6 / 7)
    assert meta["sources"][0] == {
        "name": "ChEMBL assay descriptions (EMBL-EBI), CC BY-SA 3.0",
        "url": "https://www.ebi.ac.uk/chembl/",
        "license": "CC BY-SA 3.0",
    }
    assert "SmolLM2" in meta["sources"][1]["name"]
    assert meta["sources"][2]["url"] == "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2"

    readme = generate_readme(meta)  # what spacy package writes into the package
    for definition in DEFINITIONS.values():
        assert definition in readme
    assert "| student vs truth (hand-checked) | 6 | 0.4286 | 0.4286 | 0.4286 |" in readme
    assert "`llamacpp:SmolLM2-135M-Instruct-Q8_0.gguf` (llamacpp backend)" in readme
    assert "- unparseable answers: 2" in readme and "- SUBSTRATE spans: 9" in readme
    assert 'spacy.load("en_assay_ner")' in readme and "doc._.targets, doc._.substrates" in readme
    assert "## The guideline's examples" in readme and "`JNK3` / (none) **wrong**" in readme
    assert "small offline stand-in for the production teacher" in readme
    assert "stand-in for BioLinkBERT-base" in readme
    assert "licensed CC BY-SA 3.0" in readme
    # The card says how to switch off the CPU default that changes predictions.
    assert 'config={"components": {"int8": {"enabled": False}}}' in readme


def test_the_report_says_how_far_the_confidences_can_be_trusted(trained_pipeline, tmp_path):
    from components.data.docs import read_handchecked
    from components.evaluation.display import render_comparison

    nlp = load_pipeline(trained_pipeline)
    checked = read_handchecked(spacy.blank("en"), ROOT / "assets" / "handchecked.jsonl")[:60]
    write_docbin(tmp_path / "checked.spacy", checked)
    result = evaluate(nlp, trained_pipeline, tmp_path / "checked.spacy", tmp_path / "checked.spacy")
    truth, thresholds = result["student_vs_truth"], result["calibration"]["thresholds"]
    # At threshold 0 every entity is kept: the pipeline's own precision and recall.
    assert (thresholds[0]["threshold"], thresholds[0]["p"], thresholds[0]["r"]) == (
        0.0, pytest.approx(truth["ents_p"]), pytest.approx(truth["ents_r"])
    )  # fmt: skip
    assert [row["kept"] for row in thresholds] == sorted((row["kept"] for row in thresholds), reverse=True)
    assert "## Entity confidences" in render_markdown(result)
    pairs = list(zip(checked, nlp.pipe(doc.text for doc in checked), strict=True))
    assert "<svg" in render_comparison(pairs)
