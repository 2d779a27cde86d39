"""Split annotate's span records into train/dev/test DocBins by text hash, and convert the
hand-checked set into its own DocBin; hand-checked texts never reach train/dev/test.
Hand-labelled records (--gold, the few-shot examples; --reviewed, the review loop's) join the
training split as they are."""

import logging
from pathlib import Path
from typing import Annotated

import spacy
import typer

from components.data.docs import build_splits, write_docbin
from components.data.records import write_json
from scripts import reported_as

logger = logging.getLogger("assay_ner")
HANDCHECKED = Path("assets/handchecked.jsonl")


def main(
    annotated: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Span JSONL from annotate")],
    output_dir: Annotated[Path, typer.Argument(file_okay=False, help="Directory for the .spacy files")],
    handchecked: Annotated[Path, typer.Option(exists=True, dir_okay=False)] = HANDCHECKED,
    dev: Annotated[float, typer.Option(help="Share of distinct texts for dev")] = 0.1,
    test: Annotated[float, typer.Option(help="Share of distinct texts for test")] = 0.1,
    keep_flagged: Annotated[bool, typer.Option(help="Also train on records with meta.flags")] = False,
    gold: Annotated[
        list[Path] | None,
        typer.Option(
            exists=True, dir_okay=False, help="Hand-labelled span records for the training split; repeatable"
        ),
    ] = None,
    reviewed: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="review-import's gold records (empty: no review yet)"),
    ] = None,
    lang: Annotated[str, typer.Option(help="Language whose tokenizer makes the docs")] = "en",
    summary: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Default: OUTPUT_DIR/summary.json")
    ] = None,
):
    with reported_as("convert"):
        nlp = spacy.blank(lang)
        splits, counts = build_splits(
            nlp, annotated, handchecked, dev, test, keep_flagged, gold or [], reviewed
        )
    # Everything is checked before the first file is written.
    for name, docs in splits.items():
        write_docbin(output_dir / f"{name}.spacy", docs)
    write_json(summary or output_dir / "summary.json", counts)
    logger.info(
        "%s; %d flagged record(s) %s, %d hand-checked text(s) dropped from training data, "
        "%d hand-written answer(s) in train (%d of them reviewed)",
        ", ".join(f"{name} {c['docs']}" for name, c in counts["splits"].items()),
        counts["flagged"],
        "kept" if keep_flagged else "left out",
        counts["handchecked_dropped"],
        counts["gold_train_docs"],
        counts["reviewed_train_docs"],
    )


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    typer.run(main)
