"""Importing annotations made elsewhere: a span JSONL (ours, Prodigy, doccano) or a
description/target/substrate table (CSV, TSV, parquet).

Span offsets off token boundaries are snapped, table strings are aligned as annotate aligns an
LLM's answer; every change is noted in the record's meta, nothing is dropped silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc

from components.data.corpus import MAX_CHARS, CorpusFilter
from components.data.docs import mentions_to_doc, record_text, span_record_to_doc
from components.data.records import InputError, read_rows
from components.pipeline.labels import SUBSTRATE, TARGET

TABLE_COLUMNS = ("description", "target", "substrate")
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet")
# Cells of a table: one string, several joined by ";" or "|", or none.
_CELL_SEPARATOR = re.compile(r"[;|]")
_NONE_CELLS = {"", "none", "null", "nan", "n/a"}


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


def split_cell(value) -> list[str]:
    """The strings of one table cell: "A", "A; B", "A|B", or none ("", "None", null)."""
    if value is None:
        return []
    parts = (p.strip() for p in _CELL_SEPARATOR.split(str(value)))
    return [p for p in parts if p.casefold() not in _NONE_CELLS]


def _check_columns(columns, where: str) -> None:
    missing = [c for c in TABLE_COLUMNS if c not in columns]
    if missing:
        raise InputError(f"{where}: missing column(s) {missing}; the table needs {list(TABLE_COLUMNS)}")


def table_mentions(row: dict) -> list[tuple[str, str]]:
    return [(TARGET, m) for m in split_cell(row["target"])] + [
        (SUBSTRATE, m) for m in split_cell(row["substrate"])
    ]


def table_row_to_doc(nlp: Language, row: dict, where: str) -> Doc:
    meta = {"imported_from": where}
    for key in ("assay_id", "assay_chembl_id"):
        if row.get(key) not in (None, ""):
            meta[key] = row[key]
    return mentions_to_doc(nlp, str(row["description"]), table_mentions(row), meta)


def import_annotations(
    nlp: Language, path: str | Path, max_chars: int | None = MAX_CHARS
) -> tuple[list[Doc], ImportReport]:
    """Docs from a span JSONL (ours, Prodigy, doccano) or a description/target/substrate table."""
    path = Path(path)
    report = ImportReport(filter=CorpusFilter(max_chars))
    docs = []
    is_table = path.suffix.lower() in TABLE_SUFFIXES
    for row_no, (where, row) in enumerate(read_rows(path)):
        if is_table:
            if row_no == 0:  # the header, line 1 of a CSV/TSV file
                _check_columns(row, str(path) if path.suffix.lower() == ".parquet" else f"{path}:1")
            if not report.filter.keep(row["description"], where):
                continue
            doc = table_row_to_doc(nlp, row, where)
            unaligned = doc.user_data["meta"]["unaligned"]
            report.mentions += len(table_mentions(row))
            report.unaligned += len(unaligned)
            report.docs_with_unaligned += bool(unaligned)
        else:
            if row.get("answer", "accept") != "accept":
                report.not_accepted += 1
                continue
            if not report.filter.keep(record_text(row, where), where):
                continue
            doc = span_record_to_doc(nlp, row, where)
            doc.user_data["meta"].setdefault("imported_from", where)
        report.notes += len(doc.user_data["meta"].get("alignment_notes", []))
        report.docs += 1
        docs.append(doc)
    return docs, report
