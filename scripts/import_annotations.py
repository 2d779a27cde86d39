"""Import existing annotations into span records and/or a DocBin: a span JSONL (ours, Prodigy,
doccano) or a CSV/TSV/parquet table with description, target and substrate columns."""

import json
import logging
from pathlib import Path
from typing import Annotated

import spacy
import typer

from components.data.corpus import MAX_CHARS
from components.data.docs import doc_to_record, write_docbin
from components.data.importing import import_annotations
from components.data.records import write_jsonl
from scripts import reported_as

logger = logging.getLogger("assay_ner")


def main(
    input_path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL, CSV, TSV, parquet")],
    jsonl_out: Annotated[Path | None, typer.Option(dir_okay=False, help="Span records to write")] = None,
    docbin_out: Annotated[Path | None, typer.Option(dir_okay=False, help="DocBin (.spacy) to write")] = None,
    lang: Annotated[str, typer.Option(help="Language whose tokenizer the spans are snapped to")] = "en",
    max_chars: Annotated[int, typer.Option(help="Skip descriptions longer than this")] = MAX_CHARS,
):
    if jsonl_out is None and docbin_out is None:
        raise typer.BadParameter("give --jsonl-out and/or --docbin-out")
    with reported_as("import"):
        docs, report = import_annotations(spacy.blank(lang), input_path, max_chars)
    if jsonl_out:
        write_jsonl(jsonl_out, (doc_to_record(doc) for doc in docs))
    if docbin_out:
        write_docbin(docbin_out, docs)
    logger.info("imported %s: %s; %s", input_path, json.dumps(report.as_dict()), report.filter.report())
    if report.unaligned:
        logger.warning(
            "%d of %d strings could not be aligned (in %d records; see meta.unaligned)",
            report.unaligned,
            report.mentions,
            report.docs_with_unaligned,
        )


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    typer.run(main)
