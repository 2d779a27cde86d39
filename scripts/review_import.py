"""Bring a review back from Label Studio: its JSON export (a file, or with --url pulled from the
project first) becomes gold span records, merged into the review's gold file that the convert step
trains on; the report says per task whether the reviewer accepted, changed or rejected the
prediction."""

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from components.review.loop import import_reviewed, pull
from scripts import reported_as

logger = logging.getLogger("assay_ner")
HANDCHECKED = Path("assets/handchecked.jsonl")


def main(
    export: Annotated[
        Path, typer.Argument(dir_okay=False, help="Label Studio's JSON export (written with --url)")
    ],
    gold: Annotated[Path, typer.Argument(dir_okay=False, help="The review's gold span records (JSONL)")],
    handchecked: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="Refused in a review")
    ] = HANDCHECKED,
    report: Annotated[Path, typer.Option(dir_okay=False, help="Per-task verdicts (JSON)")] = Path(
        "metrics/review.json"
    ),
    url: Annotated[str, typer.Option(help="Label Studio to pull the export from; empty: read EXPORT")] = "",
    token_env: Annotated[
        str, typer.Option(help="Environment variable holding its token")
    ] = "LABEL_STUDIO_API_KEY",
    project: Annotated[str, typer.Option(help="Project title or id")] = "en_assay_ner review",
    lang: Annotated[str, typer.Option(help="Language whose tokenizer the spans are snapped to")] = "en",
):
    with reported_as("review-import"):
        if url:
            logger.info("%s: %d task(s) pulled from %s", export, pull(url, token_env, project, export), url)
        elif not export.is_file():
            raise typer.BadParameter(
                f"{export}: no such file; save Label Studio's JSON export there, or give --url"
            )
        result = import_reviewed(export, gold, handchecked, report, lang)
    logger.info(
        "%s: %d reviewed (%s), %d skipped, %d not reviewed yet; %s holds %d record(s) (%d new, %d replaced)",
        export, result["reviewed"], json.dumps(result["verdicts"]), result["skipped"], result["unreviewed"],
        gold, result["gold_records"], result["added"], result["replaced"],
    )  # fmt: skip


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    typer.run(main)
