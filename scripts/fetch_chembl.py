"""Write a deterministic sample of N assay descriptions (corpus JSONL) from ChEMBL's web services, a
ChEMBL SQLite dump, or the bundled sample."""

import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from components.data.chembl import (
    DEFAULT_BASE_URL,
    ChemblClient,
    ChemblError,
    JsonlSource,
    SqliteSource,
    WebSource,
    parse_assay_types,
    sample_assays,
)
from components.data.corpus import MAX_CHARS, CorpusFilter
from components.data.records import InputError, write_jsonl

logger = logging.getLogger("assay_ner")


class SourceName(StrEnum):
    sample = "sample"
    chembl = "chembl"
    sqlite = "sqlite"


def _source_name(source: SourceName | None, sqlite: Path | None, sample: Path | None) -> SourceName:
    # project.yml always names the source; by hand, the path given says which one is meant.
    if source is not None:
        return source
    if sqlite and sample:
        raise typer.BadParameter("--sqlite and --sample both given: say which with --source")
    return SourceName.sqlite if sqlite else SourceName.sample if sample else SourceName.chembl


def main(
    output: Annotated[Path, typer.Argument(dir_okay=False, help="Corpus JSONL to write")],
    n: Annotated[int, typer.Option("--n", min=1, help="Number of descriptions")],
    seed: Annotated[int, typer.Option(help="Seed of the sample")] = 0,
    source: Annotated[
        SourceName | None, typer.Option(help="Default: from --sqlite / --sample, else chembl")
    ] = None,
    assay_type: Annotated[str, typer.Option(help="ChEMBL assay types to keep, e.g. B,F; empty: all")] = "",
    sqlite: Annotated[Path | None, typer.Option(dir_okay=False, help="ChEMBL SQLite dump")] = None,
    sample: Annotated[
        Path | None, typer.Option("--sample", "--offline-sample", dir_okay=False, help="Bundled corpus JSONL")
    ] = None,
    base_url: Annotated[str, typer.Option(help="ChEMBL web services root")] = DEFAULT_BASE_URL,
    cache_dir: Annotated[Path, typer.Option(help="Fetched pages, for resuming")] = Path("cache/chembl"),
    page_size: Annotated[int, typer.Option(min=1, max=1000, help="Assays per web request")] = 20,
    rate: Annotated[float, typer.Option(help="Web requests per second at most")] = 3.0,
    max_chars: Annotated[int, typer.Option(help="Skip descriptions longer than this")] = MAX_CHARS,
):
    chosen = _source_name(source, sqlite, sample)
    corpus_filter = CorpusFilter(max_chars)
    client = None
    try:
        types = parse_assay_types(assay_type)
        if chosen is SourceName.chembl:
            client = ChemblClient(base_url, rate=rate)
            src = WebSource(client, types, page_size, cache_dir)
        elif chosen is SourceName.sqlite:
            if sqlite is None:
                raise typer.BadParameter("--source sqlite needs --sqlite PATH")
            src = SqliteSource(sqlite, types)
        else:
            if sample is None:
                raise typer.BadParameter("--source sample needs --sample PATH")
            src = JsonlSource(sample, types)
        logger.info("sampling %d assays (seed %d, types %s) from %s", n, seed, types or "all", chosen.value)
        records = sample_assays(src, n, seed, corpus_filter)
        if not records:
            raise ChemblError(f"no usable assay descriptions in the {chosen.value} source")
    except (InputError, ChemblError, ValueError) as e:
        logger.error("%s", e)
        raise typer.Exit(1) from None
    finally:
        if client is not None:
            client.close()
    write_jsonl(output, records)
    logger.info("wrote %d assays to %s; %s", len(records), output, corpus_filter.report())


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    typer.run(main)
