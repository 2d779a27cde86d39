"""Label Studio's side of the review loop: the labelling config, the tasks sent for review and
the review that comes back, read as gold span records.

A task is `{"data": {"text", assay ids}, "meta": {...}, "predictions": [...]}`. Label Studio shows
`predictions[0]` as pre-annotations, one `labels` region per span with its `score` (the student's
confidence in that entity); the prediction's `score` sorts Label Studio's task list, least sure
first. Label Studio keeps a task's `meta` as it is and returns it in its JSON export, which lists
predictions by id only: so `meta.prediction` carries the predicted spans back to the import, and
`meta.selection` says why the task was chosen.

The import reads Label Studio's JSON export: per task, the latest annotation not cancelled (a
skipped task has only cancelled ones) is the reviewer's answer. Its spans are snapped to spaCy's
tokens by the project's importer (components.data.docs.span_record_to_doc: the same errors, each
naming the file and the task), and compared with the prediction: accepted (the same spans),
rejected (no reviewed span overlaps a predicted one), changed (anything between).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

from spacy.language import Language
from spacy.tokens import Doc

from components.data.corpus import assay_ids, normalise_text
from components.data.docs import doc_to_record, record_text, span_record_to_doc
from components.data.records import InputError, read_jsonl
from components.pipeline.labels import COLORS, DEFINITIONS, LABELS

# The names of the config's <Labels> control and <Text> object: every region refers to both.
LABELS_NAME = "label"
TEXT_NAME = "text"
# meta.source of a record that came from a review.
REVIEWED = "reviewed"
VERDICTS = ("accepted", "changed", "rejected", "unpredicted")


def label_config() -> str:
    """The labelling config: the text, and TARGET and SUBSTRATE in their displaCy colours with the
    guidelines' definitions as hints (shown when the pointer rests on a label)."""
    labels = "".join(
        f"    <Label value={quoteattr(label)} background={quoteattr(COLORS[label])} "
        f"hint={quoteattr(DEFINITIONS[label])}/>\n"
        for label in LABELS
    )
    return (
        "<View>\n"
        f'  <Labels name="{LABELS_NAME}" toName="{TEXT_NAME}">\n{labels}  </Labels>\n'
        f'  <Text name="{TEXT_NAME}" value="${TEXT_NAME}"/>\n'
        "</View>\n"
    )


def text_keys(paths: list[str | Path]) -> set[str]:
    """The normalised texts of the records (span or corpus records) in JSONL files."""
    keys = set()
    for path in paths:
        for line_no, obj in read_jsonl(path):
            keys.add(normalise_text(record_text(obj, f"{path}:{line_no}")))
    return keys


def labels_region(text: str, start: int, end: int, label: str) -> dict:
    """One span as a Label Studio result region of the review config."""
    value = {"start": start, "end": end, "text": text[start:end], "labels": [label]}
    return {"from_name": LABELS_NAME, "to_name": TEXT_NAME, "type": "labels", "value": value}


def review_task(text: str, ids: dict, spans: list[dict], model_version: str, selection: dict) -> dict:
    """A task for `text`: `spans` ({start, end, label, confidence or None}, character offsets) as
    the prediction of `model_version`; `selection` says why it was chosen (its "priority" and
    more). The prediction's score is 1 - priority: the most worth reviewing comes first in Label
    Studio's list."""
    regions = []
    for i, span in enumerate(spans):
        region = {"id": f"p{i}", **labels_region(text, span["start"], span["end"], span["label"])}
        if span.get("confidence") is not None:
            region["score"] = round(span["confidence"], 4)
        regions.append(region)
    predicted = [{"start": s["start"], "end": s["end"], "label": s["label"]} for s in spans]
    return {
        "data": {"text": text, **ids},
        "meta": {
            "prediction": {"model_version": model_version, "spans": predicted},
            "selection": selection,
        },
        "predictions": [
            {"model_version": model_version, "score": round(1 - selection["priority"], 4), "result": regions}
        ],
    }


def read_export(path: str | Path) -> list[dict]:
    """The tasks of a Label Studio JSON export (a list of tasks)."""
    try:
        tasks = json.loads(Path(path).read_text(encoding="utf8"))
    except json.JSONDecodeError as e:
        raise InputError(
            f"{path}:{e.lineno}: not JSON ({e.msg}); expected Label Studio's JSON export"
        ) from None
    if not isinstance(tasks, list) or not all(isinstance(task, dict) for task in tasks):
        raise InputError(f"{path}: expected Label Studio's JSON export, a list of tasks")
    return tasks


def latest_answer(task: dict) -> dict | None:
    """The task's latest annotation that was not cancelled, or None."""
    kept = [a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")]
    return max(
        kept, key=lambda a: (a.get("updated_at") or a.get("created_at") or "", a.get("id") or 0), default=None
    )


def answer_spans(annotation: dict, where: str) -> list[dict]:
    """The reviewer's spans ({start, end, label}) of an annotation of the review config."""
    spans = []
    for region in annotation.get("result") or []:
        if region.get("from_name") != LABELS_NAME or region.get("type") != "labels":
            raise InputError(
                f"{where}: a {region.get('type')!r} result of {region.get('from_name')!r}; the review's "
                f"labelling config has only <Labels name={LABELS_NAME!r}>"
            )
        value = region.get("value") or {}
        labels = value.get("labels") or []
        if len(labels) != 1:
            raise InputError(
                f"{where}: span [{value.get('start')}:{value.get('end')}] has labels {labels}; "
                "give each span exactly one"
            )
        spans.append({"start": value.get("start"), "end": value.get("end"), "label": labels[0]})
    return spans


def verdict(predicted: set[tuple], reviewed: set[tuple]) -> str:
    """What the reviewer did to a prediction, spans as (start, end, label): accepted it as it was,
    rejected it (no reviewed span even overlaps a predicted one), or changed it (anything between:
    a span relabelled, moved, added or removed)."""
    if reviewed == predicted:
        return "accepted"
    if predicted and not any(p[0] < r[1] and r[0] < p[1] for p in predicted for r in reviewed):
        return "rejected"
    return "changed"


def _predicted_spans(task: dict, where: str) -> set[tuple] | None:
    prediction = (task.get("meta") or {}).get("prediction")
    if prediction is None:
        return None
    try:
        return {(s["start"], s["end"], s["label"]) for s in prediction["spans"]}
    except (KeyError, TypeError):
        raise InputError(f"{where}: meta.prediction is not the one review-export wrote") from None


@dataclass
class ReviewReport:
    tasks: int = 0
    reviewed: int = 0
    skipped: int = 0  # every annotation cancelled
    unreviewed: int = 0  # no annotation yet
    alignment_notes: int = 0  # spans snapped to token boundaries, overlaps dropped
    verdicts: Counter = field(default_factory=Counter)
    per_task: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {**vars(self), "verdicts": {v: self.verdicts[v] for v in VERDICTS}}


def import_review(nlp: Language, path: str | Path, handchecked: set[str]) -> tuple[list[Doc], ReviewReport]:
    """Gold Docs from a Label Studio JSON export, one per reviewed task, each with meta.review
    (task, annotation, verdict, model_version); `handchecked` holds the normalised texts that must
    never be trained on, and a review of one is refused."""
    report = ReviewReport()
    docs: list[Doc] = []
    task_of: dict[str, object] = {}
    for task in read_export(path):
        report.tasks += 1
        task_id = task.get("id")
        where = f"{path}: task {task_id}"
        data = task.get("data") or {}
        text = record_text(data, where)
        answer = latest_answer(task)
        if answer is None:
            skipped = bool(task.get("annotations"))
            report.skipped += skipped
            report.unreviewed += not skipped
            if skipped:
                report.per_task.append({"task": task_id, "verdict": "skipped", "text": text[:80]})
            continue
        key = normalise_text(text)
        if key in handchecked:
            raise InputError(
                f"{where}: {text[:60]!r} is a hand-checked description, the evaluation set, never "
                "trained on; delete the task from the Label Studio project"
            )
        if key in task_of:
            raise InputError(f"{where}: the same description as task {task_of[key]}; delete one of the two")
        task_of[key] = task_id
        predicted = _predicted_spans(task, where)
        prediction = (task.get("meta") or {}).get("prediction") or {}
        review = {
            "task": task_id,
            "annotation": answer.get("id"),
            "model_version": prediction.get("model_version"),
        }
        review["reviewed_at"] = answer.get("updated_at") or answer.get("created_at")
        record = {
            "text": text,
            "spans": answer_spans(answer, where),
            "meta": {**assay_ids(data), "source": REVIEWED},
        }
        doc = span_record_to_doc(nlp, record, where)
        gold = {(e.start_char, e.end_char, e.label_) for e in doc.ents}
        review["verdict"] = "unpredicted" if predicted is None else verdict(predicted, gold)
        doc.user_data["meta"]["review"] = review
        report.reviewed += 1
        report.verdicts[review["verdict"]] += 1
        report.alignment_notes += len(doc.user_data["meta"].get("alignment_notes", []))
        report.per_task.append({"task": task_id, "verdict": review["verdict"], "text": text[:80]})
        docs.append(doc)
    return docs, report


def merge_reviewed(previous: str | Path, docs: list[Doc]) -> tuple[list[dict], dict]:
    """The gold file's records after this review: earlier reviews kept, except where this one
    reviewed the same text again (the newer review replaces it); and the counts."""
    new = {normalise_text(doc.text): doc_to_record(doc) for doc in docs}
    earlier = [obj for _, obj in read_jsonl(previous)] if Path(previous).exists() else []
    kept = [obj for obj in earlier if normalise_text(obj["text"]) not in new]
    counts = {
        "added": len(new) - (len(earlier) - len(kept)),
        "replaced": len(earlier) - len(kept),
        "kept": len(kept),
    }
    return kept + list(new.values()), counts
