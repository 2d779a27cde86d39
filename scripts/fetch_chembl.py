"""Write a deterministic sample of N assay descriptions (corpus JSONL) from the bundled sample, a
ChEMBL SQLite dump, or ChEMBL's web services.

    python -m scripts.fetch_chembl corpus/assays.jsonl --n 400 --source sample \
        --sample assets/sample_assays.jsonl
"""

import logging
from pathlib import Path
from typing import Annotated

import typer

from components.data.chembl import DEFAULT_BASE_URL, sample_corpus
from components.data.corpus import MAX_CHARS
from components.data.records import write_jsonl
from scripts import reported_as

logger = logging.getLogger("assets")


def main(
    output: Annotated[Path, typer.Argument(dir_okay=False, help="Corpus JSONL to write")],
    n: Annotated[int, typer.Option("--n", min=1, help="Number of descriptions")],
    source: Annotated[str, typer.Option(help="sample (bundled), sqlite (a ChEMBL dump) or chembl (web)")],
    seed: Annotated[int, typer.Option(help="Seed of the sample")] = 0,
    assay_type: Annotated[str, typer.Option(help="ChEMBL assay types to keep, e.g. B,F; empty: all")] = "",
    sqlite: Annotated[Path | None, typer.Option(dir_okay=False, help="ChEMBL SQLite dump")] = None,
    sample: Annotated[Path | None, typer.Option(dir_okay=False, help="Bundled corpus JSONL")] = None,
    base_url: Annotated[str, typer.Option(help="ChEMBL web services root")] = DEFAULT_BASE_URL,
    cache_dir: Annotated[Path, typer.Option(help="Fetched pages, for resuming")] = Path("cache/chembl"),
    page_size: Annotated[int, typer.Option(min=1, max=1000, help="Assays per web request")] = 20,
    rate: Annotated[float, typer.Option(help="Web requests per second at most")] = 3.0,
    max_chars: Annotated[int, typer.Option(help="Skip descriptions longer than this")] = MAX_CHARS,
):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with reported_as("assets"):
        records, corpus_filter = sample_corpus(
            source, n, seed, assay_type, sqlite=sqlite, sample=sample, base_url=base_url,
            cache_dir=cache_dir, page_size=page_size, rate=rate, max_chars=max_chars,
        )
    write_jsonl(output, records)
    logger.info("wrote %d assays to %s; %s", len(records), output, corpus_filter.report())


if __name__ == "__main__":
    typer.run(main)
