"""Choose the descriptions most worth a reviewer's time and write them as Label Studio tasks, the
student's spans as scored pre-annotations, with the labelling config; with --url, add them to a
running Label Studio's project (created if missing)."""

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from components.inference.load import use_device
from components.review.loop import export_for_review, push
from scripts import reported_as

logger = logging.getLogger("assay_ner")
HANDCHECKED = Path("assets/handchecked.jsonl")


def main(
    annotated: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="The teacher's span records")
    ],
    output: Annotated[Path, typer.Argument(dir_okay=False, help="Label Studio tasks to write (JSON)")],
    label_config: Annotated[
        Path, typer.Option(dir_okay=False, help="Labelling config to write (XML)")
    ] = Path("review/label_config.xml"),
    model: Annotated[
        str, typer.Option(help="The student: a pipeline directory or package")
    ] = "training/model-calibrated",
    k: Annotated[int, typer.Option(min=1, help="Descriptions to choose")] = 100,
    handchecked: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="Never chosen")
    ] = HANDCHECKED,
    gold: Annotated[
        list[Path] | None,
        typer.Option(exists=True, dir_okay=False, help="Span records already gold, never chosen; repeatable"),
    ] = None,
    url: Annotated[
        str, typer.Option(help="Label Studio to add the tasks to; empty: write the files only")
    ] = "",
    token_env: Annotated[
        str, typer.Option(help="Environment variable holding its token")
    ] = "LABEL_STUDIO_API_KEY",
    project: Annotated[
        str, typer.Option(help="Project title (created if missing) or id")
    ] = "en_assay_ner review",
    gpu_id: Annotated[int, typer.Option(help="GPU to use; -1 for CPU")] = -1,
):
    with reported_as("review-export"):
        logger.info("assessing on %s", use_device(gpu_id))
        tasks, summary = export_for_review(model, annotated, output, label_config, handchecked, gold or [], k)
        logger.info("%s: %s", output, json.dumps(summary))
        if url:
            pushed = push(url, token_env, project, tasks)
            logger.info("Label Studio %s, project %d: %d task(s) added, %d there already", url,
                        pushed["project"], pushed["added"], pushed["already_there"])  # fmt: skip


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    typer.run(main)
