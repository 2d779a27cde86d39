"""JSONL records <-> spaCy Docs, with errors that name the file and line, and atomic writes.

A span record is `{"text": str, "spans": [{"start", "end", "label"}], "meta": {...}}`: the
format that annotate writes, that import reads (Prodigy/doccano style) and that the
hand-checked set ships in. The meta dict travels with the Doc as `doc.user_data["meta"]`,
which DocBin keeps (store_user_data=True).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from components.pipeline.labels import LABELS


class InputError(ValueError):
    """Bad input data; the message names the file and line."""


def check_labels(labels: Iterable[str], where: str) -> None:
    """Refuse labels outside the label set, naming where they came from."""
    unknown = sorted(set(labels) - set(LABELS))
    if unknown:
        raise InputError(f"{where}: unknown label(s) {unknown}; expected one of {list(LABELS)}")


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line; stop at the first malformed one."""
    path = Path(path)
    with path.open(encoding="utf8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{line_no}: malformed JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise InputError(f"{path}:{line_no}: expected a JSON object, got {type(obj).__name__}")
            yield line_no, obj


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_jsonl(path: str | Path, records: Iterable[dict]) -> int:
    n = 0
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
    return n


def write_docbin(path: str | Path, docs: Iterable[Doc]) -> int:
    db = DocBin(store_user_data=True)
    for doc in docs:
        db.add(doc)
    with atomic_path(path) as tmp:
        db.to_disk(tmp)
    return len(db)


def read_docbin(path: str | Path, vocab: Vocab) -> list[Doc]:
    return list(DocBin().from_disk(path).get_docs(vocab))


def record_to_doc(nlp, record: dict, where: str) -> Doc:
    """Make a Doc with entities from a span record. `where` ("file:line") prefixes every error.

    Spans must fall on token boundaries of `nlp`'s tokenizer; use components.data.align to snap
    strings first where they may not.
    """
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{where}: missing or empty 'text'")
    doc = nlp.make_doc(text)
    ents = []
    for span in record.get("spans") or []:
        try:
            start, end, label = int(span["start"]), int(span["end"]), str(span["label"])
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{where}: a span needs integer 'start', 'end' and a 'label': {span}") from None
        if label not in LABELS:
            raise InputError(f"{where}: unknown label {label!r}; expected one of {list(LABELS)}")
        ent = doc.char_span(start, end, label=label)
        if ent is None:
            raise InputError(f"{where}: span [{start}:{end}] {text[start:end]!r} is not on token boundaries")
        ents.append(ent)
    try:
        doc.ents = ents
    except ValueError:
        raise InputError(f"{where}: overlapping spans {[(e.start_char, e.end_char) for e in ents]}") from None
    doc.user_data["meta"] = dict(record.get("meta") or {})
    return doc


def doc_to_record(doc: Doc) -> dict:
    return {
        "text": doc.text,
        "spans": [
            {"start": e.start_char, "end": e.end_char, "label": e.label_, "text": e.text}
            for e in doc.ents
        ],
        "meta": doc.user_data.get("meta", {}),
    }
