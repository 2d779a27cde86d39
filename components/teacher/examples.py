"""The few-shot pool: hand-labelled span records read as the teacher's example answers.

`assets/fewshot.jsonl` holds span records `{"text", "spans": [{"start", "end", "label", "text"}],
"meta"}`, the format of every hand-labelled set. An example's answer is what the compact task asks
of the teacher: per label, the distinct span texts in text order.
"""

from __future__ import annotations

from pathlib import Path

from components.data.records import InputError, check_labels, read_jsonl
from components.pipeline.labels import ANSWER_KEYS, LABELS


def answer_from_spans(text: str, spans: list[dict], where: str) -> dict[str, list[str]]:
    """{"targets": [...], "substrates": [...]}: the distinct span texts of each label, in text order."""
    answer: dict[str, list[str]] = {key: [] for key in ANSWER_KEYS.values()}
    for span in sorted(spans, key=lambda s: s["start"]):
        start, end, label = span["start"], span["end"], span["label"]
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
            raise InputError(f"{where}: span {span} is outside the text ({len(text)} chars)")
        if span.get("text", text[start:end]) != text[start:end]:
            raise InputError(f"{where}: span {span} does not match the text at its offsets")
        names = answer[ANSWER_KEYS[label]] if label in LABELS else None
        if names is not None and text[start:end] not in names:
            names.append(text[start:end])
    return answer


def read_fewshot(path: str | Path) -> list[dict]:
    """`{"text", "targets", "substrates", "meta"}` per span record of `path`; a bad line names its
    file and line."""
    examples = []
    for line_no, obj in read_jsonl(path):
        where = f"{path}:{line_no}"
        text, spans = obj.get("text"), obj.get("spans")
        if not isinstance(text, str) or not text.strip() or not isinstance(spans, list):
            raise InputError(f"{where}: a few-shot record needs a 'text' and a 'spans' list")
        if not all(isinstance(s, dict) and {"start", "end", "label"} <= s.keys() for s in spans):
            raise InputError(f"{where}: each span needs 'start', 'end' and 'label'")
        check_labels([s["label"] for s in spans], where)
        examples.append(
            {"text": text, **answer_from_spans(text, spans, where), "meta": obj.get("meta") or {}}
        )
    if not examples:
        raise InputError(f"{path}: no few-shot records")
    return examples
