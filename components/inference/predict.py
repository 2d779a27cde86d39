"""Batch prediction: descriptions in (JSONL, CSV, TSV, Parquet, plain text or DocBin), spans with
their confidence and answers out (JSONL).

A bad input line (malformed JSON, no text) is reported with its file and line and skipped, so one
broken row does not cost a long run. Output is written atomically: a crash leaves no half file.
This is the one-machine path (plain `nlp.pipe`); components.inference.tag runs the same
prediction over a whole corpus on Ray.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span
from thinc.api import CupyOps, get_current_ops
from tqdm import tqdm

from components.data.records import InputError, not_utf8, read_rows, write_jsonl
from components.inference.load import load_pipeline
from components.pipeline.labels import answer_strings

logger = logging.getLogger(__name__)

# Where the description is, in order of preference, in a JSONL object or a CSV/TSV header.
TEXT_FIELDS = ("text", "description")
# Files whose rows all share one set of columns: one without a text column is refused outright.
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet")


@dataclass
class Description:
    where: str  # "file:line", for messages
    text: str
    fields: dict = field(default_factory=dict)  # every other field, passed through to the output


def text_problem(text, max_chars: int | None = None) -> str | None:
    """Why `text` cannot be tagged (None when it can): not text, empty, or over `max_chars`."""
    if text is None:
        return "no text"
    if not isinstance(text, str):
        return f"not text ({type(text).__name__})"
    if not text.strip():
        return "empty text"
    if bad := not_utf8(text):  # read with errors="surrogateescape" (a ChEMBL dump)
        return f"not UTF-8 text ({bad})"
    try:
        text.encode("utf8")
    except UnicodeEncodeError:
        return "not valid Unicode text (a lone surrogate)"
    if max_chars is not None and len(text) > max_chars:
        return f"text longer than {max_chars} characters ({len(text)})"
    return None


def _description(
    obj: dict, where: str, report: Callable[[str], None], max_chars: int | None = None
) -> Description | None:
    name = next((name for name in TEXT_FIELDS if name in obj), None)
    text = obj.get(name) if name else None
    problem = text_problem(text, max_chars) if name else f"no {' or '.join(TEXT_FIELDS)} field"
    if problem:
        report(f"{where}: {problem}")
        return None
    return Description(where, text, {k: v for k, v in obj.items() if k != name})


def _docbin_descriptions(path: Path) -> Iterator[Description]:
    docs = DocBin().from_disk(path).get_docs(spacy.blank("en").vocab)
    for i, doc in enumerate(docs, start=1):
        meta = doc.user_data.get("meta")
        yield Description(f"{path}:doc {i}", doc.text, {"meta": meta} if meta else {})


def read_descriptions(
    path: str | Path, report: Callable[[str], None] = logger.warning, max_chars: int | None = None
) -> Iterator[Description]:
    """Yield the descriptions of a .jsonl, .csv, .tsv, .parquet, .txt (one per line) or .spacy file.

    Bad rows (malformed, no text, text that is not a string, empty, or longer than `max_chars`) go
    to `report` ("file:line: why") and are skipped; a file that cannot be read at all (unknown
    suffix, no header, a table without a text or description column) raises InputError.
    """
    path = Path(path)
    if path.suffix.lower() == ".spacy":
        yield from _docbin_descriptions(path)
        return
    table = path.suffix.lower() in TABLE_SUFFIXES
    for where, row in read_rows(path, report):
        if table and not any(name in row for name in TEXT_FIELDS):
            raise InputError(f"{path}:1: no {' or '.join(TEXT_FIELDS)} column in {list(row)}")
        table = False  # every row of a table has the columns of the first
        if (description := _description(row, where, report, max_chars)) is not None:
            yield description


def confidence(ent: Span) -> float | None:
    """`ent._.confidence` where the pipeline gives one (bio_ner does), else None."""
    return ent._.confidence if Span.has_extension("confidence") else None


def entity_records(doc: Doc) -> list[dict]:
    """The entities as {start, end, label, text, confidence}, character offsets into doc.text."""
    return [
        {
            "start": ent.start_char,
            "end": ent.end_char,
            "label": ent.label_,
            "text": ent.text,
            "confidence": confidence(ent),
        }
        for ent in doc.ents
    ]


def prediction_record(doc: Doc, fields: dict) -> dict:
    return {**fields, "text": doc.text, "spans": entity_records(doc), **answer_strings(doc)}


def predict_file(
    model: str | Path | Language,
    input_path: str | Path,
    output_path: str | Path,
    *,
    batch_size: int | None = None,
    n_process: int = 1,
    progress: bool = True,
) -> dict:
    """Run `model` over the descriptions in `input_path` and write one JSONL record per description.

    Each record keeps the input's other fields and adds "text", "spans" ({start, end, label, text,
    confidence}; confidence is null for an entity no bio_ner scored) and the answer ("targets",
    "substrates"). Returns counts and the problems reported.
    """
    nlp = load_pipeline(model)
    problems: list[str] = []

    def report(problem: str) -> None:
        problems.append(problem)
        logger.warning("skipped %s", problem)

    # Read everything first: descriptions are short, and the progress bar gets a total.
    descriptions = list(read_descriptions(input_path, report))
    if n_process > 1 and isinstance(get_current_ops(), CupyOps):
        raise ValueError("n_process > 1 is for CPU; on GPU use one process and a larger batch_size")
    docs = nlp.pipe(
        ((d.text, d.fields) for d in descriptions), as_tuples=True, batch_size=batch_size, n_process=n_process
    )
    bar = tqdm(docs, total=len(descriptions), unit="doc", desc="predict", disable=not progress)
    written = write_jsonl(output_path, (prediction_record(doc, fields) for doc, fields in bar))
    return {"written": written, "skipped": len(problems), "problems": problems}
