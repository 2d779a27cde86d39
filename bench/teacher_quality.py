"""Teacher quality on real ChEMBL descriptions: string and span P/R/F1 per label, seconds a description.

A variant is configs/annotate.cfg with overrides; the named ones are in VARIANTS. The set is a
span-record file: tune on assets/tuning.jsonl, report on assets/handchecked.jsonl (run a variant on
the report set once, for its final figures; --errors refuses it). --perfect serves each record's
gold answer through the chat-completions double (tests/llm_double.py: the OpenAI wire format over
HTTP on 127.0.0.1), the perfect teacher that the guideline cues must not make worse.

    OMP_WAIT_POLICY=PASSIVE python -m bench.teacher_quality --variant default --set tuning
    python -m bench.teacher_quality --variant compact --set tuning --limit 100 --errors 20
    python -m bench.teacher_quality --perfect --cues --set tuning
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # llama.cpp's spinning threads on shared cores

import json
import logging
import tempfile
import time
from pathlib import Path

import typer

from bench.common import machine
from components.data.docs import span_record_to_doc
from components.data.records import read_jsonl
from components.evaluation.metrics import score_entities
from components.pipeline.labels import LABELS, answer_strings
from components.teacher.annotate import annotate, load_annotator, project_overrides, teacher_of
from tests.llm_double import ChatCompletionsDouble, last_user_text

CONFIG = Path("configs/annotate.cfg")
SETS = {
    "tuning": Path("assets/tuning.jsonl"),
    "fewshot": Path("assets/fewshot.jsonl"),
    "handchecked": Path("assets/handchecked.jsonl"),
}
REPORT_SET = "handchecked"

# Named variants: overrides of configs/annotate.cfg.
VARIANTS: dict[str, dict] = {
    "default": {},
    "compact": {"vars.task": "compact", "vars.guideline_cues": False},
    "constrained": {"vars.task": "constrained", "vars.guideline_cues": False},
    "constrained+cues": {"vars.task": "constrained", "vars.guideline_cues": True},
    "ner_v3": {"vars.task": "ner_v3", "vars.guideline_cues": False},
    "hybrid+cues": {"vars.task": "hybrid", "vars.guideline_cues": True},
}


def read_gold(nlp, path: Path, offset: int, limit: int | None) -> list:
    records = [(f"{path}:{line}", obj) for line, obj in read_jsonl(path)][offset:]
    # Two tuning spans end inside a spaCy token ("elastase(HLE)"): snapped to whole tokens, as the
    # workflow reads span records.
    return [span_record_to_doc(nlp, obj, where) for where, obj in records[:limit]]


def gold_answers(gold: list) -> dict[str, str]:
    """The compact answer of each gold doc, by its text: what a perfect teacher says."""
    return {doc.text: json.dumps(answer_strings(doc), ensure_ascii=False) for doc in gold}


def run_variant(overrides: dict, gold: list, cache_dir: str) -> tuple[list, float, float, str]:
    """(predicted docs, seconds labelling, seconds loading the model, teacher id)."""
    nlp = load_annotator(CONFIG, {**project_overrides(), **overrides, "vars.cache_dir": cache_dir})
    teacher = teacher_of(nlp)
    start = time.perf_counter()
    if hasattr(teacher, "llm"):
        teacher.llm  # noqa: B018  (load the model outside the timed labelling)
    loading = time.perf_counter() - start
    docs = [nlp.make_doc(g.text) for g in gold]
    for doc in docs:
        doc.user_data["meta"] = {}
    predicted, seconds = annotate(nlp, docs, desc="teacher")
    return predicted, seconds, loading, teacher.model_id


def score_row(name: str, gold: list, predicted: list, seconds: float) -> dict:
    scores = score_entities(zip(gold, predicted, strict=True))
    asked = sum(doc.user_data["meta"].get("model_asked", True) for doc in predicted)
    row = {"variant": name, "docs": len(gold), "model_asked": asked, "s_per_desc": seconds / len(gold)}
    for label in LABELS:
        row[f"str_{label}"] = scores["strings_per_type"][label]
        row[f"span_{label}"] = scores["ents_per_type"].get(label, {"p": 0.0, "r": 0.0, "f": 0.0})
    return row


def table(rows: list[dict]) -> str:
    head = "| variant | docs (model asked) | " + " | ".join(
        f"{kind} {label} P/R/F1" for kind in ("string", "span") for label in LABELS
    )
    lines = [head + " | s/desc |", "| --- | ---: |" + " ---: |" * (2 * len(LABELS) + 1)]
    for row in rows:
        cells = [
            "{p:.2f}/{r:.2f}/**{f:.2f}**".format(**row[f"{kind}_{label}"])
            for kind in ("str", "span")
            for label in LABELS
        ]
        lines.append(
            f"| {row['variant']} | {row['docs']} ({row['model_asked']}) | "
            + " | ".join(cells)
            + f" | {row['s_per_desc']:.3f} |"
        )
    return "\n".join(lines)


def print_errors(gold: list, predicted: list, n: int) -> None:
    shown = 0
    for g, p in zip(gold, predicted, strict=True):
        truth, answer = answer_strings(g), answer_strings(p)
        gold_spans = {(e.start_char, e.end_char, e.label_) for e in g.ents}
        spans = {(e.start_char, e.end_char, e.label_) for e in p.ents}
        if truth == answer and gold_spans == spans:
            continue
        typer.echo(f"\n{g.text}\n  gold {truth}\n  got  {answer}")
        if truth == answer:
            typer.echo(f"  spans missed {sorted(gold_spans - spans)}, extra {sorted(spans - gold_spans)}")
        meta = p.user_data["meta"]
        typer.echo(f"  raw  {meta.get('raw_answer')!r}")
        for note in meta.get("alignment_notes", []):
            typer.echo(f"  note {note}")
        shown += 1
        if shown >= n:
            break


def main(
    variant: list[str] = typer.Option(["default"], help=f"Named variants: {', '.join(VARIANTS)}"),
    name: str = typer.Option(None, help="Name of the variant in the table (one --variant with --override)"),
    set_name: str = typer.Option("tuning", "--set", help=f"{' | '.join(SETS)}"),
    offset: int = typer.Option(0, help="Skip the first N records of the set"),
    limit: int = typer.Option(None, help="Only N records (after --offset)"),
    override: list[str] = typer.Option([], help="More config overrides, key=JSON value"),
    perfect: bool = typer.Option(False, help="Serve the gold answers through the OpenAI-compatible double"),
    cues: list[bool] = typer.Option([False, True], help="--perfect: guideline_cues settings to compare"),
    cache_dir: str = typer.Option(
        None, help="Answer cache to reuse (default: a fresh one, for honest timing)"
    ),
    errors: int = typer.Option(0, help="Print the first N wrong answers (tuning set only)"),
    json_out: Path = typer.Option(None, help="Append one JSON line per variant here"),
):
    logging.basicConfig(level=logging.ERROR)
    if errors and set_name == REPORT_SET:
        raise typer.BadParameter(
            "no error analysis on the report set: tune on tuning.jsonl", param_hint="--errors"
        )
    extra = {key: json.loads(value) for key, value in (o.split("=", 1) for o in override)}
    import spacy

    gold = read_gold(spacy.blank("en"), SETS[set_name], offset, limit)
    runs = []
    if perfect:
        answers = gold_answers(gold)
        with ChatCompletionsDouble(answer=lambda body: answers[last_user_text(body)]) as server:
            for on in cues:
                overrides = {
                    "vars.backend": "openai",
                    "vars.task": "compact",
                    "vars.model": "gold",
                    "vars.base_url": server.base_url,
                    "vars.guideline_cues": on,
                    **extra,
                }
                runs.append((f"perfect teacher, cues {'on' if on else 'off'}", overrides))
            rows = _run_all(runs, gold, cache_dir, errors, json_out, set_name)
    else:
        runs = [(name or v, {**VARIANTS[v], **extra}) for v in variant]
        rows = _run_all(runs, gold, cache_dir, errors, json_out, set_name)
    where = machine()
    typer.echo(
        f"\nset {set_name} ({SETS[set_name]}, records {offset}..{offset + len(gold)}); {where['cpu']}, "
        f"{where['cores']} cores, load average {where['load_avg']}; {where['date']}\n"
    )
    typer.echo(table(rows))


def _run_all(runs, gold, cache_dir, errors, json_out, set_name) -> list[dict]:
    rows = []
    for name, overrides in runs:
        with tempfile.TemporaryDirectory() as tmp:
            load_before = os.getloadavg()[0]
            predicted, seconds, loading, model_id = run_variant(overrides, gold, cache_dir or tmp)
        row = score_row(name, gold, predicted, seconds)
        row.update(set=set_name, overrides=overrides, teacher=model_id, load_s=round(loading, 2))
        row["load_avg_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        rows.append(row)
        typer.echo(table([row]) + f"\n(model load {loading:.1f} s, load average {row['load_avg_1min']})")
        if errors:
            print_errors(gold, predicted, errors)
        if json_out:
            with json_out.open("a", encoding="utf8") as f:
                f.write(json.dumps(row, default=str) + "\n")
    return rows


if __name__ == "__main__":
    typer.run(main)
