"""Make the directory that `spacy package` turns into en_assay_ner: the trained pipeline plus a meta.json
and README.md model card that say what it finds, how well, and what it was trained with.

    python -m scripts.model_card training/model-best packages/card --evaluation metrics/evaluation.json \
        --annotate-report metrics/annotate.json --name assay_ner --version 0.1.0
"""

import json
import shutil
from pathlib import Path

import typer

from components.data.records import atomic_path
from components.evaluation.report import guideline_table, score_table
from components.pipeline.labels import COLORS, DEFINITIONS, LABELS
from components.teacher.base import SMALL_TEACHER_WARNING
from components.training.transformer import STAND_IN_WARNING, resolve_transformer

DESCRIPTION = (
    "Finds the TARGET (the protein, enzyme, receptor, ion channel, transporter, complex or nucleic acid "
    "measured) and the SUBSTRATE (enzyme substrate, displaced radioligand or tracer, labelled probe, or "
    "stimulating agonist) in biochemical assay descriptions (ChEMBL), and gives each description's answer "
    "as doc._.targets and doc._.substrates. A spacy-transformers NER model trained on labels from a "
    "teacher LLM."
)
DATA = {
    "sample": "the bundled sample of assay descriptions written in the style of ChEMBL",
    "chembl": "assay descriptions from ChEMBL's web services",
    "sqlite": "assay descriptions from a ChEMBL SQLite release",
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


def performance(evaluation: dict, dev: dict) -> dict:
    """Test-split figures (student vs teacher) at the top, as spaCy's meta has them; the rest nested."""
    keys = ("ents_p", "ents_r", "ents_f", "token_acc", "ents_per_type", "answer_acc")
    figures = {key: evaluation["student_vs_teacher"][key] for key in keys}
    figures["handchecked"] = {key: evaluation["student_vs_truth"][key] for key in keys}
    # The other systems scored against the truth: the teacher, the plain-transformers baseline.
    for comparison in evaluation["comparisons"]:
        system = comparison.removesuffix("_vs_truth")
        if system not in ("student", comparison):
            figures[f"{system}_handchecked"] = {key: evaluation[comparison][key] for key in keys}
    figures["docs_per_second"] = evaluation["speed"]["docs_per_second"]
    figures["dev"] = dev
    return figures


def limits(report: dict, transformer: str) -> list[str]:
    notes = [
        "Trained on the teacher's labels (plus the few-shot examples), never on the hand-checked set: "
        "it learns the teacher's mistakes too. "
        "The hand-checked scores are the honest ones, and the hand-checked set is small.",
        "Assay descriptions only: other biomedical text (abstracts, patents) is out of domain.",
    ]
    if report.get("backend") == "llamacpp":  # the offline backend: it warns of the same at annotation time
        notes.append(SMALL_TEACHER_WARNING % report["teacher"])
    if transformer == resolve_transformer("minilm").label:
        notes.append(STAND_IN_WARNING)
    return [note if note.endswith(".") else note + "." for note in notes]


def card_meta(meta: dict, evaluation: dict, report: dict, transformer: str, options: dict) -> dict:
    teacher = f"{report['teacher']} (teacher LLM, {report.get('backend', 'unknown')} backend)"
    hub = (
        {"url": f"https://huggingface.co/{transformer}"}
        if "/" in transformer and not Path(transformer).exists()
        else {}
    )
    data = DATA[options["data_source"]]
    return {
        **meta,
        "name": options["name"],
        "version": options["version"],
        "description": DESCRIPTION,
        "license": options["license"],
        "url": options["url"],
        "label_definitions": {label: DEFINITIONS[label] for label in LABELS},
        "performance": performance(evaluation, meta.get("performance", {})),
        "sources": [{"name": teacher}, {"name": f"{transformer} (transformer)", **hub}, {"name": data}],
        "assay_ner": {**meta.get("assay_ner", {}), "teacher": report["teacher"], "data": data},
    }


def render_readme(meta: dict, evaluation: dict, report: dict, transformer: str) -> str:
    name = f"{meta['lang']}_{meta['name']}"
    perf = meta["performance"]
    lines = [
        f"# {name} {meta['version']}",
        "",
        meta["description"],
        "",
        "| | |",
        "| --- | --- |",
        f"| pipeline | {', '.join(meta.get('pipeline', []))} |",
        f"| spaCy | {meta.get('spacy_version', '')} |",
        f"| transformer | `{transformer}` |",
        f"| teacher LLM | `{report['teacher']}` ({report.get('backend', 'unknown')} backend) |",
        f"| data | {meta['assay_ner']['data']} |",
        f"| license | {meta['license']} |",
        *([f"| url | {meta['url']} |"] if meta["url"] else []),
        "",
        "## What it finds",
        "",
        "| label | definition |",
        "| --- | --- |",
        *(f"| {label} | {definition} |" for label, definition in meta["label_definitions"].items()),
        "",
        "Full rules with examples: ANNOTATION_GUIDELINES.md of the project. A description may name "
        "neither; then the answer is empty.",
        "",
        "## Scores",
        "",
        "Entity precision, recall and F1 (exact span and label, seqeval-style) and token accuracy. "
        "*vs teacher* is the test split labelled by the teacher LLM; *vs truth* is the hand-checked set "
        f"({evaluation['student_vs_truth']['docs']} descriptions).",
        "",
        *score_table(evaluation),
        *(guideline_table(evaluation["guideline_examples"]) if "guideline_examples" in evaluation else []),
        "",
        f"Speed: {perf['docs_per_second']:.1f} descriptions/s (evaluation machine, hand-checked set).",
        "",
        "## Training",
        "",
        f"The teacher LLM `{report['teacher']}` labelled the descriptions few-shot through spacy-llm; "
        f"a spacy-transformers NER model on `{transformer}` learnt from its labels. Annotation run:",
        "",
        *(f"- {what}: {report[key]}" for key, what in REPORT_FIGURES.items() if key in report),
        *(f"- {label} spans: {n}" for label, n in report.get("spans", {}).items()),
        "",
        "## Use",
        "",
        "```bash",
        f"pip install {name}-{meta['version']}-py3-none-any.whl",
        "```",
        "",
        "```python",
        "import spacy",
        "from spacy import displacy",
        "",
        f'nlp = spacy.load("{name}")',
        f'doc = nlp("{EXAMPLE}")',
        "print([(ent.text, ent.label_) for ent in doc.ents])",
        "print(doc._.targets, doc._.substrates)  # one span per distinct name, in text order",
        f'displacy.serve(doc, style="ent", options={{"colors": {json.dumps(COLORS)}}})',
        "```",
        "",
        "## Limits",
        "",
        *(f"- {note}" for note in limits(report, transformer)),
    ]
    return "\n".join(lines) + "\n"


def main(
    model_dir: Path = typer.Argument(
        ..., exists=True, file_okay=False, help="Trained pipeline (training/model-best)"
    ),
    output_dir: Path = typer.Argument(
        ..., file_okay=False, help="Pipeline copy with the card, for spacy package"
    ),
    evaluation: Path = typer.Option(..., exists=True, dir_okay=False, help="metrics/evaluation.json"),
    annotate_report: Path = typer.Option(..., exists=True, dir_okay=False, help="metrics/annotate.json"),
    name: str = typer.Option("assay_ner", help="Package name without the language prefix"),
    version: str = typer.Option("0.1.0"),
    transformer: str = typer.Option(None, help="Training transformer (default: from the pipeline's meta)"),
    data_source: str = typer.Option("sample", help=f"Where the descriptions came from: {', '.join(DATA)}"),
    license: str = typer.Option("CC BY-SA 3.0", help="The model's license (ChEMBL's data is CC BY-SA 3.0)"),
    url: str = typer.Option("", help="Project URL"),
):
    if data_source not in DATA:
        raise typer.BadParameter(f"data source {data_source!r}; expected one of {list(DATA)}")
    meta = json.loads((model_dir / "meta.json").read_text(encoding="utf8"))
    scores = json.loads(evaluation.read_text(encoding="utf8"))
    report = json.loads(annotate_report.read_text(encoding="utf8"))
    transformer = (
        transformer or meta.get("assay_ner", {}).get("transformer") or scores["model"]["transformer"]
    )
    options = {"name": name, "version": version, "license": license, "url": url, "data_source": data_source}
    meta = card_meta(meta, scores, report, transformer, options)
    # Build beside the target and swap in at the end: a failed run leaves no half-made card.
    staging = output_dir.with_name(f".{output_dir.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(model_dir, staging)
    with atomic_path(staging / "meta.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf8")
    with atomic_path(staging / "README.md") as tmp:
        tmp.write_text(render_readme(meta, scores, report, transformer), encoding="utf8")
    shutil.rmtree(output_dir, ignore_errors=True)
    staging.rename(output_dir)
    typer.echo(f"wrote {output_dir} (meta.json, README.md) for en_{name} {version}")


if __name__ == "__main__":
    typer.run(main)
