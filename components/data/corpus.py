"""The assay corpus: reading and cleaning descriptions, importing existing annotations, splitting.

Descriptions are compared by their normalised text (NFKC, case-folded, whitespace collapsed):
that key collapses duplicates on the way in and decides the train/dev/test split on the way out,
so one description never sits in two splits and the split does not depend on file order.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from components.data.align import align_mentions
from components.data.records import InputError, check_labels, read_jsonl, record_to_doc
from components.pipeline.labels import ANSWER_KEYS, LABELS, SUBSTRATE, TARGET

logger = logging.getLogger(__name__)

MAX_CHARS = 2000
SPLITS = ("train", "dev", "test")
TABLE_COLUMNS = ("description", "target", "substrate")
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet")
# Cells of the seed notebook's table: one string, several joined by ";" or "|", or none.
_CELL_SEPARATOR = re.compile(r"[;|]")
_NONE_CELLS = {"", "none", "null", "nan", "n/a"}


def normalise_text(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


@dataclass
class CorpusFilter:
    """Keeps each description once; skips empty and over-long ones. Counts every skip by reason."""

    max_chars: int | None = MAX_CHARS
    skipped: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def keep(self, text: str | None, where: str) -> bool:
        reason = self._reason(text)
        if reason is None:
            return True
        self.skipped[reason] += 1
        self.examples.setdefault(reason, [])
        if len(self.examples[reason]) < 3:
            self.examples[reason].append(where)
        logger.debug("%s: skipped, %s", where, reason)
        return False

    def _reason(self, text: str | None) -> str | None:
        if not text or not text.strip():
            return "empty"
        if self.max_chars is not None and len(text) > self.max_chars:
            return f"longer than {self.max_chars} chars"
        key = normalise_text(text)
        if key in self.seen:
            return "duplicate"
        self.seen.add(key)
        return None

    def report(self) -> str:
        """One line for the log, e.g. 'skipped 2 duplicate (e.g. a.jsonl:3, a.jsonl:9)'."""
        parts = [f"{n} {why} (e.g. {', '.join(self.examples[why])})" for why, n in self.skipped.items()]
        return f"skipped {'; '.join(parts)}" if parts else "skipped none"


def corpus_record(obj: dict, where: str) -> dict:
    """Check the shape of one corpus object ({"assay_chembl_id", "assay_type", "text"})."""
    text, assay_id, assay_type = obj.get("text"), obj.get("assay_chembl_id"), obj.get("assay_type")
    if not isinstance(text, str):
        raise InputError(f"{where}: 'text' must be a string, got {type(text).__name__}")
    if not isinstance(assay_id, str) or not assay_id:
        raise InputError(f"{where}: 'assay_chembl_id' must be a non-empty string")
    if assay_type is not None and not isinstance(assay_type, str):
        raise InputError(f"{where}: 'assay_type' must be a string or null")
    return {"assay_chembl_id": assay_id, "assay_type": assay_type, "text": text}


def read_corpus(path: str | Path) -> Iterator[tuple[str, dict]]:
    """Yield ("file:line", record) for each corpus line, unfiltered; a malformed line raises InputError."""
    for line_no, obj in read_jsonl(path):
        where = f"{path}:{line_no}"
        yield where, corpus_record(obj, where)


def load_corpus(path: str | Path, max_chars: int | None = MAX_CHARS) -> tuple[list[dict], CorpusFilter]:
    """The usable records of a corpus file, and the filter that says what was skipped and why."""
    corpus_filter = CorpusFilter(max_chars)
    records = [rec for where, rec in read_corpus(path) if corpus_filter.keep(rec["text"], where)]
    return records, corpus_filter


# Importing annotations made elsewhere ---------------------------------------------------------


@dataclass
class ImportReport:
    docs: int = 0
    not_accepted: int = 0  # Prodigy answers "reject" / "ignore"
    notes: int = 0  # spans snapped to token boundaries, overlaps dropped, fuzzy matches
    mentions: int = 0  # table strings given
    unaligned: int = 0  # table strings not found in their description
    docs_with_unaligned: int = 0
    filter: CorpusFilter = field(default_factory=CorpusFilter)

    def as_dict(self) -> dict:
        counts = {k: v for k, v in vars(self).items() if k != "filter"}
        return {**counts, "skipped": dict(self.filter.skipped)}


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
        span = doc.char_span(s, e, label=label, alignment_mode="expand") if s < e else None
        if span is None:
            raise InputError(f"{where}: {label} span [{start}:{end}] {text[start:end]!r} covers no token")
        if (span.start_char, span.end_char) != (start, end):
            notes.append(
                f"snapped {label} {text[start:end]!r} [{start}:{end}] to token boundaries "
                f"{span.text!r} [{span.start_char}:{span.end_char}]"
            )
        found.append(span)
    kept = filter_spans(found)
    notes.extend(f"dropped overlapping {s.label_} {s.text!r}" for s in found if s not in kept)
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


def split_cell(value) -> list[str]:
    """The strings of one table cell: "A", "A; B", "A|B", or none ("", "None", null)."""
    if value is None:
        return []
    parts = (p.strip() for p in _CELL_SEPARATOR.split(str(value)))
    return [p for p in parts if p.casefold() not in _NONE_CELLS]


def read_table(path: str | Path) -> Iterator[tuple[str, dict]]:
    """Yield ("file:line", row) from a CSV, TSV or parquet table with the TABLE_COLUMNS columns."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        _check_columns(table.column_names, f"{path}")
        for row_no, row in enumerate(table.to_pylist(), start=1):
            yield f"{path}:row {row_no}", row
    elif suffix in (".csv", ".tsv"):
        with path.open(encoding="utf8", newline="") as f:
            reader = csv.DictReader(f, delimiter="," if suffix == ".csv" else "\t")
            _check_columns(reader.fieldnames or [], f"{path}:1")
            first_line = 2
            for row in reader:
                # A quoted cell may span lines: name the row by the line it starts on.
                where, first_line = f"{path}:{first_line}", reader.line_num + 1
                if None in row:
                    raise InputError(f"{where}: {len(row[None])} more cell(s) than the header has")
                yield where, row
    else:
        raise InputError(f"{path}: unknown table format {suffix!r}; expected one of {list(TABLE_SUFFIXES)}")


def _check_columns(columns: list[str], where: str) -> None:
    missing = [c for c in TABLE_COLUMNS if c not in columns]
    if missing:
        raise InputError(f"{where}: missing column(s) {missing}; the table needs {list(TABLE_COLUMNS)}")


def table_mentions(row: dict) -> list[tuple[str, str]]:
    return [(TARGET, m) for m in split_cell(row["target"])] + [
        (SUBSTRATE, m) for m in split_cell(row["substrate"])
    ]


def mentions_to_doc(nlp: Language, text: str, mentions: list[tuple[str, str]], meta: dict) -> Doc:
    """A Doc from a description and its answer strings, aligned as annotate aligns the LLM's."""
    doc = nlp.make_doc(text)
    alignment = align_mentions(doc, mentions)
    doc.ents = alignment.spans
    doc.user_data["meta"] = {**meta, **alignment.to_meta()}
    return doc


def table_row_to_doc(nlp: Language, row: dict, where: str) -> Doc:
    meta = {"imported_from": where}
    if row.get("assay_chembl_id"):
        meta["assay_chembl_id"] = row["assay_chembl_id"]
    return mentions_to_doc(nlp, str(row["description"]), table_mentions(row), meta)


def read_answer_records(path: str | Path) -> list[dict]:
    """Hand-written answers `{"text", "targets", "substrates"}` (the few-shot examples); a bad line
    names its file and line, and so does a name that is not written in its text."""
    records = []
    for line_no, obj in read_jsonl(path):
        text = obj.get("text")
        lists = [obj.get(key) for key in ANSWER_KEYS.values()]
        if not isinstance(text, str) or not all(
            isinstance(v, list) and all(isinstance(s, str) for s in v) for v in lists
        ):
            raise InputError(
                f"{path}:{line_no}: an answer record needs 'text' and lists of strings "
                f"{list(ANSWER_KEYS.values())}"
            )
        for value in (s for v in lists for s in v):
            if value not in text:
                raise InputError(f"{path}:{line_no}: {value!r} is not written in the record's text")
        records.append({"text": text, **{key: obj[key] for key in ANSWER_KEYS.values()}})
    if not records:
        raise InputError(f"{path}: no answer records")
    return records


def answer_record_to_doc(nlp: Language, record: dict, where: str) -> Doc:
    mentions = [(label, name) for label in LABELS for name in record[ANSWER_KEYS[label]]]
    return mentions_to_doc(nlp, record["text"], mentions, {"source": "gold", "imported_from": where})


def import_annotations(
    nlp: Language, path: str | Path, max_chars: int | None = MAX_CHARS
) -> tuple[list[Doc], ImportReport]:
    """Docs from a span JSONL (ours, Prodigy, doccano) or a description/target/substrate table."""
    path = Path(path)
    report = ImportReport(filter=CorpusFilter(max_chars))
    docs = []
    if path.suffix.lower() in TABLE_SUFFIXES:
        for where, row in read_table(path):
            if not report.filter.keep(row["description"], where):
                continue
            doc = table_row_to_doc(nlp, row, where)
            unaligned = doc.user_data["meta"]["unaligned"]
            report.mentions += len(table_mentions(row))
            report.unaligned += len(unaligned)
            report.docs_with_unaligned += bool(unaligned)
            docs.append(doc)
    else:
        for line_no, obj in read_jsonl(path):
            where = f"{path}:{line_no}"
            if obj.get("answer", "accept") != "accept":
                report.not_accepted += 1
                continue
            if not report.filter.keep(record_text(obj, where), where):
                continue
            doc = span_record_to_doc(nlp, obj, where)
            doc.user_data["meta"].setdefault("imported_from", where)
            docs.append(doc)
    for doc in docs:
        report.notes += len(doc.user_data["meta"].get("alignment_notes", []))
    report.docs = len(docs)
    return docs, report


# Splitting ---------------------------------------------------------------------------------------


def split_key(text: str) -> str:
    return hashlib.sha256(normalise_text(text).encode("utf8")).hexdigest()


def assign_splits(texts: Iterable[str], dev: float, test: float) -> dict[str, str]:
    """Map each normalised text to "train", "dev" or "test".

    Distinct texts are ordered by hash; the first share goes to test, the next to dev. The order
    does not depend on input order, and a share above zero gets at least one text.
    """
    if not (0 <= dev < 1 and 0 <= test < 1 and dev + test < 1):
        raise ValueError(f"dev ({dev}) and test ({test}) must be shares in [0, 1) adding up to less than 1")
    keys = sorted({normalise_text(t) for t in texts}, key=split_key)
    n_test, n_dev = (max(1, round(len(keys) * share)) if share else 0 for share in (test, dev))
    sizes = {"test": n_test, "dev": n_dev, "train": len(keys) - n_test - n_dev}
    empty = [name for name in SPLITS if sizes[name] <= 0]
    if empty:
        raise ValueError(
            f"split(s) {empty} would be empty: {len(keys)} distinct text(s) with dev={dev}, test={test}"
        )
    names = ["test"] * n_test + ["dev"] * n_dev + ["train"] * sizes["train"]
    return dict(zip(keys, names, strict=True))


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
) -> tuple[dict[str, list[Doc]], dict]:
    """Docs for train/dev/test from annotate's output and for "handchecked" from the hand-checked
    set, and a summary. Hand-checked texts are taken out of train/dev/test; flagged records too,
    unless keep_flagged. The `gold` files' answer records (the few-shot examples) join train as
    they are, in place of the teacher's labels of the same texts; none may be a hand-checked text."""
    checked = []
    for line_no, obj in read_jsonl(handchecked):
        where = f"{handchecked}:{line_no}"
        if (obj.get("meta") or {}).get("source") != "handchecked":
            raise InputError(f"{where}: not a hand-checked record (meta.source must be 'handchecked')")
        checked.append(span_record_to_doc(nlp, obj, where))
    checked_keys = {normalise_text(doc.text) for doc in checked}

    gold_docs = []
    for path in gold:
        for i, record in enumerate(read_answer_records(path), 1):
            if normalise_text(record["text"]) in checked_keys:
                raise InputError(f"{path}: record {i} is a hand-checked text, which must never be trained on")
            gold_docs.append(answer_record_to_doc(nlp, record, f"{path}:{i}"))
    gold_keys = {normalise_text(doc.text) for doc in gold_docs}

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
        "teacher_labels_replaced_by_gold": replaced,
        "skipped": dict(corpus_filter.skipped),
    }
    return splits, summary
