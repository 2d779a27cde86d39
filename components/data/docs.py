"""Span records and DocBins <-> spaCy Docs, with errors that name the file and line.

A span record is `{"text": str, "spans": [{"start", "end", "label"}], "meta": {...}}`: what
annotate writes, what the bundled labelled sets (hand-checked, few-shot, tuning) ship in, and what
Prodigy and doccano export. `record_to_doc` wants spans on token boundaries; `span_record_to_doc`
snaps them to the tokenizer and notes each change in meta["alignment_notes"]. The meta dict travels
with the Doc as `doc.user_data["meta"]`, which DocBin keeps (store_user_data=True).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span
from spacy.vocab import Vocab

from components.data.align import align_mentions, drop_overlaps, snap_to_tokens
from components.data.corpus import SPLITS, CorpusFilter, assign_splits, normalise_text
from components.data.records import InputError, atomic_path, check_labels, read_jsonl
from components.pipeline.labels import LABELS


def write_docbin(path: str | Path, docs: Iterable[Doc]) -> int:
    db = DocBin(store_user_data=True)
    for doc in docs:
        db.add(doc)
    with atomic_path(path) as tmp:
        db.to_disk(tmp)
    return len(db)


def read_docbin(path: str | Path, vocab: Vocab) -> list[Doc]:
    return list(DocBin().from_disk(path).get_docs(vocab))


def record_to_doc(nlp: Language, record: dict, where: str) -> Doc:
    """A Doc with entities from a span record whose spans lie on token boundaries of `nlp`'s
    tokenizer (annotate's output); `where` ("file:line") prefixes every error."""
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{where}: missing or empty 'text'")
    doc = nlp.make_doc(text)
    ents = []
    for start, end, label in _character_spans(record, where):
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
            {"start": e.start_char, "end": e.end_char, "label": e.label_, "text": e.text} for e in doc.ents
        ],
        "meta": doc.user_data.get("meta", {}),
    }


def _int_offset(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{where}: span offsets must be integers, got {value!r}")
    return value


def _character_spans(obj: dict, where: str) -> list[tuple[int, int, str]]:
    """(start, end, label) from Prodigy/ours ("spans"), doccano ("label": [[s, e, l]]) or doccano's
    relation export ("entities": [{"start_offset", "end_offset", "label"}])."""
    try:
        if obj.get("spans") is not None:
            raw = [(s["start"], s["end"], s["label"]) for s in obj["spans"]]
        elif obj.get("label") is not None:
            raw = [(s, e, label) for s, e, label in obj["label"]]
        elif obj.get("entities") is not None:
            raw = [(e["start_offset"], e["end_offset"], e["label"]) for e in obj["entities"]]
        else:
            raw = []
    except (KeyError, TypeError, ValueError):
        raise InputError(
            f"{where}: spans must be {{start, end, label}} objects or [start, end, label] lists"
        ) from None
    spans = [(_int_offset(s, where), _int_offset(e, where), label) for s, e, label in raw]
    check_labels([label for _, _, label in spans], where)
    return spans


def _snap(doc: Doc, spans: list[tuple[int, int, str]], where: str, notes: list[str]) -> list[Span]:
    """Token spans for character spans: edges trimmed of whitespace and widened to whole tokens."""
    text = doc.text
    found = []
    for start, end, label in spans:
        if not 0 <= start < end <= len(text):
            raise InputError(f"{where}: {label} span [{start}:{end}] is outside the text ({len(text)} chars)")
        s, e = start, end
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        span, note = snap_to_tokens(doc, s, e, label) if s < e else (None, None)
        if span is None:
            raise InputError(f"{where}: {label} span [{start}:{end}] {text[start:end]!r} covers no token")
        if note or (s, e) != (start, end):
            notes.append(note or f"trimmed {label} {text[start:end]!r} [{start}:{end}] to [{s}:{e}]")
        found.append(span)
    kept, dropped = drop_overlaps(found)
    notes.extend(dropped)
    return kept


def record_text(obj: dict, where: str) -> str:
    text = obj.get("text", obj.get("data"))  # doccano exports name the text "data" in some versions
    if not isinstance(text, str):
        raise InputError(f"{where}: 'text' must be a string, got {type(text).__name__}")
    return text


def span_record_to_doc(nlp: Language, obj: dict, where: str) -> Doc:
    """A Doc from a character-offset record (ours, Prodigy or doccano). Offsets off token boundaries
    are snapped, not refused: each change is kept in meta["alignment_notes"]."""
    text = record_text(obj, where)
    spans = _character_spans(obj, where)
    meta = dict(obj.get("meta") or {})
    notes = list(meta.get("alignment_notes") or [])
    snapped = _snap(nlp.make_doc(text), spans, where, notes)
    if notes:
        meta["alignment_notes"] = notes
    record = {
        "text": text,
        "spans": [{"start": s.start_char, "end": s.end_char, "label": s.label_} for s in snapped],
        "meta": meta,
    }
    return record_to_doc(nlp, record, where)


def read_span_docs(
    nlp: Language, path: str | Path, source: str | None = None, allow_empty: bool = False
) -> list[Doc]:
    """The span records of a file as Docs (snapped to `nlp`'s tokens); with `source`, every record
    must say it comes from there (meta.source), so that one set is never read for another. A file
    without records is refused unless `allow_empty`."""
    docs = []
    for line_no, obj in read_jsonl(path):
        where = f"{path}:{line_no}"
        if source is not None and (obj.get("meta") or {}).get("source") != source:
            raise InputError(f"{where}: not a {source} record (meta.source must be {source!r})")
        docs.append(span_record_to_doc(nlp, obj, where))
    if not docs and not allow_empty:
        raise InputError(f"{path}: no records")
    return docs


def read_handchecked(nlp: Language, path: str | Path) -> list[Doc]:
    """The hand-checked evaluation set: the truth every system is scored against."""
    return read_span_docs(nlp, path, source="handchecked")


def mentions_to_doc(nlp: Language, text: str, mentions: list[tuple[str, str]], meta: dict) -> Doc:
    """A Doc from a description and its answer strings, aligned as annotate aligns the LLM's."""
    doc = nlp.make_doc(text)
    alignment = align_mentions(doc, mentions)
    doc.ents = alignment.spans
    doc.user_data["meta"] = {**meta, **alignment.to_meta()}
    return doc


def label_counts(docs: Iterable[Doc]) -> dict[str, int]:
    counts = Counter({label: 0 for label in LABELS})
    counts.update(e.label_ for doc in docs for e in doc.ents)
    return dict(counts)


def build_splits(
    nlp: Language,
    annotated: str | Path,
    handchecked: str | Path,
    dev: float,
    test: float,
    keep_flagged: bool = False,
    gold: Iterable[str | Path] = (),
    reviewed: str | Path | None = None,
) -> tuple[dict[str, list[Doc]], dict]:
    """Docs for train/dev/test from annotate's output and for "handchecked" from the hand-checked
    set, and a summary. Hand-checked texts are taken out of train/dev/test; flagged records too,
    unless keep_flagged. The `gold` files' span records (the few-shot examples) and the
    `reviewed` file's (review-import's; empty until a review) join train as they are, in place of
    the teacher's labels of the same texts; none may be a hand-checked text, nor gold twice."""
    checked = read_handchecked(nlp, handchecked)
    checked_keys = {normalise_text(doc.text) for doc in checked}

    sources = [(path, read_span_docs(nlp, path)) for path in gold]
    if reviewed is not None:
        sources.append((reviewed, read_span_docs(nlp, reviewed, source="reviewed", allow_empty=True)))
    gold_docs = []
    gold_keys: set[str] = set()
    for path, path_docs in sources:
        for doc in path_docs:
            key = normalise_text(doc.text)
            if key in checked_keys:
                raise InputError(f"{path}: {doc.text[:60]!r} is hand-checked, and never trained on")
            if key in gold_keys:
                raise InputError(f"{path}: {doc.text[:60]!r} is gold in an earlier file already")
            gold_keys.add(key)
            gold_docs.append(doc)

    corpus_filter = CorpusFilter(max_chars=None)
    flagged = dropped = replaced = 0
    docs = []
    for line_no, obj in read_jsonl(annotated):
        where = f"{annotated}:{line_no}"
        if (obj.get("meta") or {}).get("flags"):
            flagged += 1
            if not keep_flagged:
                continue
        text = record_text(obj, where)
        key = normalise_text(text)
        if key in checked_keys or key in gold_keys:
            dropped += key in checked_keys
            replaced += key in gold_keys
            continue
        if corpus_filter.keep(text, where):
            docs.append(span_record_to_doc(nlp, obj, where))

    assignment = assign_splits((doc.text for doc in docs), dev, test)
    splits: dict[str, list[Doc]] = {name: [] for name in SPLITS}
    for doc in docs:
        splits[assignment[normalise_text(doc.text)]].append(doc)
    splits["train"] += gold_docs
    splits["handchecked"] = checked
    summary = {
        "dev_share": dev,
        "test_share": test,
        "splits": {name: {"docs": len(d), **label_counts(d)} for name, d in splits.items()},
        "flagged": flagged,
        "flagged_kept": keep_flagged,
        "handchecked_dropped": dropped,
        "gold_train_docs": len(gold_docs),
        "reviewed_train_docs": len(sources[-1][1]) if reviewed is not None else 0,
        "teacher_labels_replaced_by_gold": replaced,
        "skipped": dict(corpus_filter.skipped),
    }
    return splits, summary
