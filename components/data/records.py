"""Reading and writing the project's files: errors that name the file and line, atomic writes.

JSONL is read strictly (`read_jsonl`: the first malformed line raises) for the project's own
files, and row by row with a `report` callback (`read_rows`: a bad row is reported and skipped)
for the tables and JSONL files users bring: .jsonl, .csv, .tsv, .parquet or .txt (one text a
line). Nothing here imports spaCy: the Doc side is components.data.docs.

Bytes that are not UTF-8 (a Latin-1 "caf\xe9" from a spreadsheet saved on Windows, a stray \xff)
are bad input like a malformed line: the line or row is reported with the byte and where it
stands, and skipped where the reader skips bad rows. Only a table whose header is not UTF-8 is
refused outright: its columns cannot be known. Text files are read with "utf-8-sig", so a byte
order mark at the start is not part of the first line.
"""

from __future__ import annotations

import csv
import json
import os
import re
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


# Text files are decoded with errors="surrogateescape": each byte that is not UTF-8 becomes one of
# these lone surrogates (U+DC80..U+DCFF), which no UTF-8 text can hold, instead of an exception.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


def _open_text(path: Path):
    return path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")


def not_utf8(text: str) -> str | None:
    """Where `text`, decoded with errors="surrogateescape", holds a byte that is not UTF-8
    ("byte 0xe9 at character 4"); None when it holds none."""
    found = _ESCAPED_BYTE.search(text)
    if found is None:
        return None
    return f"byte 0x{ord(found.group()) - 0xDC00:02x} at character {found.start() + 1}"


def _lines(path: Path, report: Callable[[str], None]) -> Iterator[tuple[str, str]]:
    """("file:line", line) for each line that is not blank; one that is not UTF-8 goes to `report`."""
    with _open_text(path) as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_no}"
            if bad := not_utf8(line):
                report(f"{where}: not UTF-8 text ({bad} of the line)")
                continue
            yield where, line


def _jsonl_rows(path: Path, report: Callable[[str], None]) -> Iterator[tuple[str, dict]]:
    for where, line in _lines(path, report):
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
    with _open_text(path) as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        if not reader.fieldnames:
            raise InputError(f"{path}:1: no header row")
        if bad := not_utf8(delimiter.join(reader.fieldnames)):
            raise InputError(f"{path}:1: the header row is not UTF-8 text ({bad}); save the file as UTF-8")
        first_line = 2
        for row in reader:
            # A quoted cell may span lines: name the row by the line it starts on.
            where, first_line = f"{path}:{first_line}", reader.line_num + 1
            if None in row:
                report(f"{where}: {len(row[None])} more cell(s) than the header has")
                continue
            bad = next(((name, b) for name, cell in row.items() if cell and (b := not_utf8(cell))), None)
            if bad:
                report(f"{where}: column {bad[0]!r} is not UTF-8 text ({bad[1]})")
                continue
            yield where, row


def _parquet_rows(path: Path, report: Callable[[str], None]) -> Iterator[tuple[str, dict]]:
    import pyarrow.parquet as pq

    row_no = 0
    for batch in pq.ParquetFile(path).iter_batches():
        try:
            rows = batch.to_pylist()
        except UnicodeDecodeError:  # a string column holds bytes that are not UTF-8: row by row
            rows = [_parquet_row(batch, i, f"{path}:row {row_no + i + 1}", report) for i in range(len(batch))]
        for row in rows:
            row_no += 1
            if row is not None:
                yield f"{path}:row {row_no}", row


def _parquet_row(batch, i: int, where: str, report: Callable[[str], None]) -> dict | None:
    row = {}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        try:
            row[name] = column[i].as_py()
        except UnicodeDecodeError as e:
            report(f"{where}: column {name!r} is not UTF-8 text (byte 0x{e.object[e.start]:02x})")
            return None
    return row


def _text_rows(path: Path, report: Callable[[str], None]) -> Iterator[tuple[str, dict]]:
    for where, line in _lines(path, report):
        yield where, {"text": line.rstrip("\r\n")}


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
        yield from _parquet_rows(path, report)
    elif suffix == ".txt":
        yield from _text_rows(path, report)
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
