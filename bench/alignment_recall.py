"""How many gold spans the aligner gives back when the answer strings are the gold strings.

For every span record of the labelled files (default: assets/tuning.jsonl and assets/fewshot.jsonl)
the answer is what a perfect teacher would say: the distinct span texts of the record per label,
targets first (the compact answer's order). A gold span (start, end, label) is recovered when the
aligned spans hold it. Gold spans are counted two ways:

- `token gold`: the record's spans snapped to spaCy tokens as every reader of the file snaps them
  (components.data.docs): what any token-level annotation can reach;
- `record gold`: the record's character offsets as written (a few do not fall on token boundaries
  and cannot be recovered by any token span).

Two paths are measured:

- `align_mentions`: components.data.align alone;
- `compact task`: the compact task's `annotate` with the guideline cues off, i.e. what the
  annotate step does with a served answer (the aligner, TARGET winning any overlap).

    python -m bench.alignment_recall [FILES...] [--show 20]
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import spacy
import typer

from components.data.align import align_mentions
from components.data.docs import span_record_to_doc
from components.data.records import read_jsonl
from components.pipeline.labels import LABELS
from components.teacher.task import CompactNERTask

DEFAULT_FILES = (Path("assets/tuning.jsonl"), Path("assets/fewshot.jsonl"))
PATHS = ("align_mentions", "compact task")
GOLDS = ("token gold", "record gold")


def gold_answer(record: dict) -> list[tuple[str, str]]:
    """(label, text) for the distinct span texts of a record, targets first, in text order."""
    spans = sorted(record["spans"], key=lambda s: (s["start"], s["end"]))
    texts = {label: [] for label in LABELS}
    for span in spans:
        text = record["text"][span["start"] : span["end"]]
        if text not in texts[span["label"]]:
            texts[span["label"]].append(text)
    return [(label, text) for label in LABELS for text in texts[label]]


def measure(files: tuple[Path, ...] = DEFAULT_FILES) -> dict:
    """Gold span counts, recovered counts per (path, gold) and label, and what each path missed."""
    nlp = spacy.blank("en")
    task = CompactNERTask([], constrain=False, max_candidate_tokens=8, guideline_cues=False)
    total = {gold: Counter() for gold in GOLDS}
    found = {(path, gold): Counter() for path in PATHS for gold in GOLDS}
    missed: dict[str, list[str]] = {path: [] for path in PATHS}
    for file in files:
        for line_no, record in read_jsonl(file):
            if not record["spans"]:
                continue
            golds = {
                "token gold": {
                    (e.start_char, e.end_char, e.label_)
                    for e in span_record_to_doc(nlp, record, f"{file}:{line_no}").ents
                },
                "record gold": {(s["start"], s["end"], s["label"]) for s in record["spans"]},
            }
            mentions = gold_answer(record)
            text = record["text"]
            aligned = {
                "align_mentions": align_mentions(nlp.make_doc(text), mentions).spans,
                "compact task": task.annotate(nlp.make_doc(text), "", mentions, []).ents,
            }
            for gold, spans in golds.items():
                total[gold].update(label for *_, label in spans)
            for path, ents in aligned.items():
                got = {(e.start_char, e.end_char, e.label_) for e in ents}
                for gold, spans in golds.items():
                    found[path, gold].update(label for *_, label in spans & got)
                for s, e, label in sorted(golds["token gold"] - got):
                    missed[path].append(f"{label} {text[s:e]!r} in {text!r}")
    return {"total": total, "found": found, "missed": missed}


def recall_lines(result: dict) -> list[str]:
    lines = []
    for gold in GOLDS:
        n = sum(result["total"][gold].values())
        lines.append(f"{gold}: {n} spans {dict(result['total'][gold])}")
        for path in PATHS:
            got = result["found"][path, gold]
            per_label = ", ".join(
                f"{label} {got[label] / result['total'][gold][label]:.4f}" for label in result["total"][gold]
            )
            lines.append(f"  {path}: recall {sum(got.values()) / n:.4f} ({per_label})")
    return lines


def main(
    files: list[Path] = typer.Argument(None, help="Span-record JSONL files (default: tuning + fewshot)"),
    show: int = typer.Option(20, help="Missed token-gold spans to print per path"),
):
    result = measure(tuple(files) if files else DEFAULT_FILES)
    for line in recall_lines(result):
        typer.echo(line)
    for path in PATHS:
        for line in result["missed"][path][:show]:
            typer.echo(f"{path} missed {line}")


if __name__ == "__main__":
    typer.run(main)
