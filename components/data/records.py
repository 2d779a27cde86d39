"""Reading and writing the project's files: errors that name the file and line, atomic writes.

JSONL is read strictly (`read_jsonl`: the first malformed line raises) for the project's own
files, and row by row with a `report` callback (`read_rows`: a bad row is reported and skipped)
for the tables and JSONL files users bring: .jsonl, .csv, .tsv, .parquet or .txt (one text a
line). Nothing here imports spaCy: the Doc side is components.data.docs.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from components.errors import UserError
from components.pipeline.labels import LABELS

ROW_SUFFIXES = (".jsonl", ".csv", ".tsv", ".parquet", ".txt")


class InputError(UserError, ValueError):
    """Bad input data; the message names the file and line."""


def check_labels(labels: Iterable[str], where: str) -> None:
    """Refuse labels outside the label set, naming where they came from."""
    unknown = sorted(set(labels) - set(LABELS))
    if unknown:
        raise InputError(f"{where}: unknown label(s) {unknown}; expected one of {list(LABELS)}")


def _raise(problem: str) -> None:
    raise InputError(problem)


def _jsonl_rows(path: Path, report: Callable[[str], None]) -> Iterator[tuple[str, dict]]:
    with path.open(encoding="utf8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                report(f"{where}: malformed JSON ({e.msg})")
                continue
            if not isinstance(obj, dict):
                report(f"{where}: expected a JSON object, got {type(obj).__name__}")
                continue
            yield where, obj


def _table_rows(path: Path, delimiter: str, report: Callable[[str], None]) -> Iterator[tuple[str, dict]]:
    with path.open(encoding="utf8", newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        if not reader.fieldnames:
            raise InputError(f"{path}:1: no header row")
        first_line = 2
        for row in reader:
            # A quoted cell may span lines: name the row by the line it starts on.
            where, first_line = f"{path}:{first_line}", reader.line_num + 1
            if None in row:
                report(f"{where}: {len(row[None])} more cell(s) than the header has")
                continue
            yield where, row


def _parquet_rows(path: Path) -> Iterator[tuple[str, dict]]:
    import pyarrow.parquet as pq

    row_no = 0
    for batch in pq.ParquetFile(path).iter_batches():
        for row in batch.to_pylist():
            row_no += 1
            yield f"{path}:row {row_no}", row


def _text_rows(path: Path) -> Iterator[tuple[str, dict]]:
    with path.open(encoding="utf8") as f:
        for line_no, line in enumerate(f, start=1):
            if line.strip():
                yield f"{path}:{line_no}", {"text": line.rstrip("\n")}


def read_rows(path: str | Path, report: Callable[[str], None] | None = None) -> Iterator[tuple[str, dict]]:
    """Yield ("file:line", row) for each row of a .jsonl, .csv, .tsv, .parquet or .txt file.

    A malformed row goes to `report` ("file:line: why") and is skipped; without `report` it raises
    InputError. A file that cannot be read at all (unknown suffix, no header) always raises.
    """
    path = Path(path)
    report = report or _raise
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        yield from _jsonl_rows(path, report)
    elif suffix in (".csv", ".tsv"):
        yield from _table_rows(path, "," if suffix == ".csv" else "\t", report)
    elif suffix == ".parquet":
        yield from _parquet_rows(path)
    elif suffix == ".txt":
        yield from _text_rows(path)
    else:
        raise InputError(f"{path}: unknown format {suffix!r}; expected one of {list(ROW_SUFFIXES)}")


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line; the first malformed line raises."""
    for where, obj in _jsonl_rows(Path(path), _raise):
        yield int(where.rsplit(":", 1)[1]), obj


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


def write_json(path: str | Path, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf8")


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf8")
