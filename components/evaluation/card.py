"""The model card of en_assay_ner: the meta.json that `spacy package --meta-path` packages, whose
README spaCy writes from it (description, sources, licence, and our notes: what the model finds,
how well on real ChEMBL descriptions, what it was trained with, how to use it, its limits)."""

from __future__ import annotations

import json

from components.evaluation.report import guideline_table, score_table
from components.pipeline.labels import COLORS, DEFINITIONS, LABELS
from components.teacher.warnings import SMALL_TEACHER_WARNING
from components.training.transformer import MINILM, STAND_IN_WARNING

DESCRIPTION = (
    "Finds the TARGET (the protein, enzyme, receptor, ion channel, transporter, complex or nucleic acid "
    "measured) and the SUBSTRATE (enzyme substrate, displaced radioligand or tracer, labelled probe, or "
    "stimulating agonist) in biochemical assay descriptions (ChEMBL), and gives each description's answer "
    "as doc._.targets and doc._.substrates, every entity with a confidence (ent._.confidence). A "
    "spacy-transformers NER model trained on labels from a teacher LLM."
)
DATA = {
    "sample": "real ChEMBL assay descriptions bundled with the project (assets/sample_assays.jsonl)",
    "chembl": "assay descriptions from ChEMBL's web services",
    "sqlite": "assay descriptions from a ChEMBL SQLite release",
}
CHEMBL = {
    "name": "ChEMBL assay descriptions (EMBL-EBI), CC BY-SA 3.0",
    "url": "https://www.ebi.ac.uk/chembl/",
    "license": "CC BY-SA 3.0",
}
# The annotate report's figures shown on the card, in order.
REPORT_FIGURES = {
    "documents": "descriptions labelled",
    "documents_without_spans": "descriptions with no entity",
    "unparseable": "unparseable answers",
    "unaligned_strings": "answer strings not found in their text",
    "documents_per_second": "descriptions per second",
}
EXAMPLE = "Inhibition of human JNK2 at 1 uM using ATF2 as substrate"


def performance(evaluation: dict) -> dict:
    """spaCy's meta keys (the student on the real hand-checked set) at the top; every comparison nested."""
    keys = ("ents_p", "ents_r", "ents_f", "token_acc", "ents_per_type", "strings_per_type", "answer_acc")
    figures = {key: evaluation["student_vs_truth"][key] for key in keys}
    for comparison in evaluation["comparisons"]:
        figures[comparison] = {key: evaluation[comparison][key] for key in keys}
    figures["docs_per_second"] = evaluation["speed"]["docs_per_second"]
    return figures


def limits(report: dict, transformer: str) -> list[str]:
    notes = [
        "Trained on the teacher's labels (plus the few-shot examples), never on the hand-checked set: "
        "it learns the teacher's mistakes too. The hand-checked scores are the honest ones.",
        "Assay descriptions only: other biomedical text (abstracts, patents) is out of domain.",
    ]
    if report.get("backend") == "llamacpp":  # the offline backend: it warns of the same when it labels
        notes.append(SMALL_TEACHER_WARNING % report["teacher"])
    if transformer == MINILM:
        notes.append(STAND_IN_WARNING)
    return [note if note.endswith(".") else note + "." for note in notes]


def confidence_notes(checked: dict | None) -> list[str]:
    """What a confidence means on the hand-checked set, and the calibration that made it so."""
    if not checked:
        return []
    after = checked["reliability"]
    lines = [
        "",
        f"Confidences (`ent._.confidence`) on the hand-checked set: expected calibration error "
        f"{after['ece']:.3f}, Brier score {after['brier']:.3f} over {after['n']} entities.",
    ]
    if "uncalibrated" in checked:
        lines[-1] += (
            " They were calibrated after training on descriptions the model did not learn from (a "
            f"temperature of {checked['fitted']['temperature']:.3f} on the tag probabilities, then a "
            "logistic map of each entity's; the entities do not change): as trained, the error was "
            f"{checked['uncalibrated']['ece']:.3f}."
        )
    return lines


def card_notes(name: str, version: str, evaluation: dict, report: dict, transformer: str, data: str) -> str:
    """The Markdown body of the card: spaCy puts it under its own table of name, version and sources."""
    checked = evaluation["student_vs_truth"]["docs"]
    lines = [
        "### What it finds",
        "",
        "| label | definition |",
        "| --- | --- |",
        *(f"| {label} | {DEFINITIONS[label]} |" for label in LABELS),
        "",
        "Full rules with examples: ANNOTATION_GUIDELINES.md of the project. A description may name "
        "neither; then the answer is empty.",
        "",
        "### Scores on real ChEMBL descriptions",
        "",
        f"Scored against {checked} real ChEMBL descriptions labelled by hand under the guidelines and "
        "never trained on. Entity P/R/F1: exact span and label; string F1: the distinct names of each "
        "label per description; *vs teacher* is the test split labelled by the teacher LLM.",
        "",
        *score_table(evaluation),
        *(guideline_table(evaluation["guideline_examples"]) if "guideline_examples" in evaluation else []),
        "",
        f"Speed: {evaluation['speed']['docs_per_second']:.1f} descriptions/s with the default settings "
        "(evaluation machine, hand-checked set).",
        *confidence_notes(evaluation.get("calibration")),
        "",
        "### Training",
        "",
        f"The teacher LLM `{report['teacher']}` ({report.get('backend', 'unknown')} backend) labelled "
        f"{data} few-shot through spacy-llm; a spacy-transformers NER model on `{transformer}` learnt from "
        "its labels. Annotation run:",
        "",
        *(f"- {what}: {report[key]}" for key, what in REPORT_FIGURES.items() if key in report),
        *(f"- {label} spans: {n}" for label, n in report.get("spans", {}).items()),
        "",
        "### Use",
        "",
        "```python",
        "import spacy",
        "from spacy import displacy",
        "",
        f'nlp = spacy.load("en_{name}")',
        f'doc = nlp("{EXAMPLE}")',
        "print([(ent.text, ent.label_, round(ent._.confidence, 3)) for ent in doc.ents])",
        "print(doc._.targets, doc._.substrates)  # one span per distinct name, in text order",
        f'displacy.serve(doc, style="ent", options={{"colors": {json.dumps(COLORS)}}})',
        "```",
        "",
        "Defaults: `nlp.pipe` takes batches of 1,000 descriptions and the transformer runs them in groups "
        "of one padded length; on a CPU its linear layers are quantised to int8 at load, each word "
        "piece's activations on their own scale. A description gets the same entities and confidences "
        "alone, in any batch and in any order; they can differ slightly from full precision. On a GPU "
        "nothing is quantised. For the full-precision model on a CPU:",
        "",
        "```python",
        f'nlp = spacy.load("en_{name}", config={{"components": {{"int8": {{"enabled": False}}}}}})',
        "```",
        "",
        "### Data and licence",
        "",
        "The descriptions are ChEMBL's (EMBL-EBI), licensed CC BY-SA 3.0; the labels are the project's "
        "own. The model is shared under the same licence.",
        "",
        "### Limits",
        "",
        *(f"- {note}" for note in limits(report, transformer)),
    ]
    return "\n".join(lines) + "\n"


def card_meta(model_meta: dict, evaluation: dict, report: dict, options: dict) -> dict:
    """meta.json for `spacy package --meta-path`: the trained pipeline's meta with the card's fields."""
    transformer = evaluation["model"]["transformer"]
    data = DATA[options["data_source"]]
    teacher = f"{report['teacher']} (teacher LLM, {report.get('backend', 'unknown')} backend)"
    hub = {"url": f"https://huggingface.co/{transformer}"} if str(transformer).count("/") == 1 else {}
    return {
        **model_meta,
        "name": options["name"],
        "version": options["version"],
        "description": DESCRIPTION,
        "license": "CC BY-SA 3.0",
        "url": options["url"],
        "sources": [CHEMBL, {"name": teacher}, {"name": f"{transformer} (transformer)", **hub}],
        "notes": card_notes(options["name"], options["version"], evaluation, report, transformer, data),
        "performance": performance(evaluation),
        "assay_ner": {"teacher": report["teacher"], "transformer": transformer, "data": data},
    }
