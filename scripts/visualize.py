"""Write displaCy pages: OUTPUT_DIR/predictions.html (a sample of predictions) and
OUTPUT_DIR/handchecked.html (hand-checked answer above the model's, differing rows marked).

    python -m scripts.visualize training/model-calibrated visualizations --texts corpus/test.spacy \
        --handchecked corpus/handchecked.spacy
"""

import logging
from pathlib import Path

import typer

from components.evaluation.display import write_pages
from components.inference.load import load_pipeline, use_device
from scripts import reported_as


def main(
    model: str = typer.Argument(..., help="Pipeline directory or installed package name"),
    output_dir: Path = typer.Argument(Path("visualizations"), file_okay=False, help="Where the pages go"),
    texts: Path = typer.Option(..., exists=True, dir_okay=False, help="Texts to sample"),
    handchecked: Path = typer.Option(..., exists=True, dir_okay=False, help="Hand-checked DocBin"),
    n: int = typer.Option(50, help="How many texts to sample"),
    seed: int = typer.Option(0, help="Sampling seed"),
    gpu_id: int = typer.Option(-1, help="GPU to use; -1 for CPU"),
):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with reported_as("visualize"):
        logging.getLogger("visualize").info("predicting on %s", use_device(gpu_id))
        for path in write_pages(load_pipeline(model), texts, handchecked, output_dir, n=n, seed=seed):
            typer.echo(f"wrote {path}")


if __name__ == "__main__":
    typer.run(main)
