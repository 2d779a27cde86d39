"""The examples table of ANNOTATION_GUIDELINES.md: the answers every model of this project must give.

The table's rows are `| description | TARGET | SUBSTRATE |`, names separated by "; " where there
are several, "(none)" for none. Tests and the evaluation report read the table from the file, so
the guidelines stay the one place where the examples are written.
"""

from __future__ import annotations

from pathlib import Path

from components.data.records import InputError
from components.pipeline.labels import ANSWER_KEYS, LABELS

EXAMPLES_HEADING = "## Examples"
NONE = "(none)"


def _names(cell: str) -> list[str]:
    cell = cell.strip()
    return [] if cell == NONE else [name.strip() for name in cell.split("; ")]


def read_examples(path: str | Path) -> list[dict]:
    """`{"text", "targets", "substrates"}` per row of the examples table, in the table's order."""
    lines = Path(path).read_text(encoding="utf8").splitlines()
    try:
        start = lines.index(EXAMPLES_HEADING)
    except ValueError:
        raise InputError(f"{path}: no {EXAMPLES_HEADING!r} section") from None
    examples = []
    for line_no, line in enumerate(lines[start + 1 :], start + 2):
        if line.startswith("## "):
            break
        if not line.startswith("|"):
            continue
        cells = line.strip().strip("|").split("|")
        if len(cells) != 1 + len(LABELS):
            raise InputError(f"{path}:{line_no}: expected {1 + len(LABELS)} columns, found {len(cells)}")
        text = cells[0].strip()
        if text == "description" or set(text) <= {"-", " "}:  # the header and the --- line
            continue
        example = {"text": text}
        for label, cell in zip(LABELS, cells[1:], strict=True):
            names = _names(cell)
            missing = [name for name in names if name not in text]
            if missing:
                raise InputError(f"{path}:{line_no}: {missing} not written in the description")
            example[ANSWER_KEYS[label]] = names
        examples.append(example)
    if not examples:
        raise InputError(f"{path}: the {EXAMPLES_HEADING!r} table has no rows")
    return examples
