"""Batch prediction: descriptions in (JSONL, CSV, TSV, Parquet, text, DocBin), spans and answers out (JSONL).

A bad input line (malformed JSON, no text) is reported with its file and line and skipped, so one
broken row does not cost a long run. Output is written atomically: a crash leaves no half file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.tokens import DocBin
from thinc.api import CupyOps, get_current_ops
from tqdm import tqdm

from components.data.docs import doc_to_record
from components.data.records import InputError, read_rows, write_jsonl
from components.inference.load import load_pipeline
from components.pipeline.labels import answer_strings

logger = logging.getLogger(__name__)

# Where the description is, in order of preference, in a JSONL object or a CSV/TSV header.
TEXT_FIELDS = ("text", "description")


@dataclass
class Description:
    where: str  # "file:line", for messages
    text: str
    fields: dict = field(default_factory=dict)  # every other field, passed through to the output


def _description(obj: dict, where: str, report: Callable[[str], None]) -> Description | None:
    name = next((name for name in TEXT_FIELDS if name in obj), None)
    text = obj.get(name) if name else None
    if not isinstance(text, str) or not text.strip():
        report(f"{where}: missing or empty {' / '.join(TEXT_FIELDS)}")
        return None
    return Description(where, text, {k: v for k, v in obj.items() if k != name})


def _docbin_descriptions(path: Path) -> Iterator[Description]:
    docs = DocBin().from_disk(path).get_docs(spacy.blank("en").vocab)
    for i, doc in enumerate(docs, start=1):
        meta = doc.user_data.get("meta")
        yield Description(f"{path}:doc {i}", doc.text, {"meta": meta} if meta else {})


def read_descriptions(
    path: str | Path, report: Callable[[str], None] = logger.warning
) -> Iterator[Description]:
    """Yield the descriptions of a .jsonl, .csv, .tsv, .parquet, .txt (one per line) or .spacy file.

    Bad rows go to `report` ("file:line: why") and are skipped; a file that cannot be read at all
    (unknown suffix, no header) raises InputError.
    """
    path = Path(path)
    if path.suffix.lower() == ".spacy":
        yield from _docbin_descriptions(path)
        return
    for row_no, (where, row) in enumerate(read_rows(path, report)):
        if row_no == 0 and path.suffix.lower() in (".csv", ".tsv") and not set(TEXT_FIELDS) & set(row):
            raise InputError(f"{path}:1: no {' or '.join(TEXT_FIELDS)} column in header {list(row)}")
        if (description := _description(row, where, report)) is not None:
            yield description


def prediction_record(doc, fields: dict) -> dict:
    return {**fields, "text": doc.text, "spans": doc_to_record(doc)["spans"], **answer_strings(doc)}


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

    Each record keeps the input's other fields and adds "text", "spans" ({start, end, label, text})
    and the answer ("targets", "substrates"). Returns counts and the problems reported.
    """
    nlp = load_pipeline(model)
    problems: list[str] = []

    def report(problem: str) -> None:
        problems.append(problem)
        logger.warning("skipped %s", problem)

    # Read everything first: descriptions are short, and the progress bar gets a total.
    descriptions = list(read_descriptions(input_path, report))
    if n_process > 1 and isinstance(get_current_ops(), CupyOps):
        raise InputError("n_process > 1 is for CPU; on GPU use one process and a larger batch_size")
    docs = nlp.pipe(
        ((d.text, d.fields) for d in descriptions), as_tuples=True, batch_size=batch_size, n_process=n_process
    )
    bar = tqdm(docs, total=len(descriptions), unit="doc", desc="predict", disable=not progress)
    written = write_jsonl(output_path, (prediction_record(doc, fields) for doc, fields in bar))
    return {"written": written, "skipped": len(problems), "problems": problems}
