"""The two steps of the review loop, as `weasel run review-export` and `review-import` run them.

Export: the student assesses the teacher's labelled corpus, the descriptions most worth a
person's time become Label Studio tasks with the student's scored spans (a JSON file Label Studio
imports, and its labelling config), optionally pushed to a running Label Studio. Import: Label
Studio's JSON export (a file, or pulled from the server first) becomes span records in the review's
gold file, which the convert step puts in the training split in place of the teacher's labels.
"""

from __future__ import annotations

import logging
from pathlib import Path

import spacy

from components.data.records import write_json, write_jsonl, write_text
from components.inference.load import load_pipeline
from components.review.client import LabelStudio
from components.review.select import assess_corpus, choose, model_version, summary
from components.review.tasks import import_review, label_config, merge_reviewed, review_task, text_keys

logger = logging.getLogger(__name__)


def export_for_review(
    model: str | Path,
    annotated: str | Path,
    output: str | Path,
    config_path: str | Path,
    handchecked: str | Path,
    gold: list[str | Path],
    k: int,
    progress: bool = True,
) -> tuple[list[dict], dict]:
    """Write the `k` tasks most worth reviewing to `output` (Label Studio's JSON import format) and
    the labelling config to `config_path`; never a hand-checked description nor one of `gold`'s."""
    nlp = load_pipeline(model)
    version = model_version(nlp)
    logger.info("assessing %s with the student %s (%s)", annotated, version, model)
    candidates = assess_corpus(nlp, annotated, text_keys([handchecked, *gold]), progress)
    chosen = choose(candidates, k)
    tasks = [review_task(c.text, c.ids, c.student, version, c.selection()) for c in chosen]
    write_json(output, tasks)
    write_text(config_path, label_config())
    return tasks, {"model": str(model), "model_version": version, **summary(candidates, chosen)}


def push(url: str, token_env: str, project: str, tasks: list[dict]) -> dict:
    """Add the tasks to the project (created with the review's labelling config if missing)."""
    client = LabelStudio.from_env(url, token_env)
    try:
        return client.push(client.project_id(project, label_config()), tasks)
    finally:
        client.close()


def pull(url: str, token_env: str, project: str, export: str | Path) -> int:
    """Save the project's JSON export to `export`; returns the number of tasks."""
    client = LabelStudio.from_env(url, token_env)
    try:
        tasks = client.export(client.project_id(project))
    finally:
        client.close()
    write_json(export, tasks)
    return len(tasks)


def import_reviewed(
    export: str | Path, gold: str | Path, handchecked: str | Path, report: str | Path, lang: str = "en"
) -> dict:
    """Merge the reviewed tasks of a Label Studio JSON export into the gold file (span records)
    and write the report: per task accepted / changed / rejected against the prediction."""
    docs, review = import_review(spacy.blank(lang), export, text_keys([handchecked]))
    records, counts = merge_reviewed(gold, docs)
    write_jsonl(gold, records)
    result = {
        "export": str(export),
        "gold": str(gold),
        "gold_records": len(records),
        **counts,
        **review.as_dict(),
    }
    write_json(report, result)
    return result
