"""Predict TARGET/SUBSTRATE spans, confidences and answers for a file of assay descriptions: plain
`nlp.pipe` on one machine (for a corpus the size of ChEMBL, see scripts/tag.py).

python -m scripts.predict en_assay_ner descriptions.csv predictions.jsonl --n-process 2
"""

import logging
from pathlib import Path

import typer

from components.inference.load import use_device
from components.inference.predict import predict_file
from scripts import reported_as


def main(
    model: str = typer.Argument(..., help="Pipeline directory or installed package name (en_assay_ner)"),
    input_path: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help=".jsonl, .csv, .tsv, .parquet, .txt or .spacy"
    ),
    output_path: Path = typer.Argument(..., dir_okay=False, help="JSONL with spans, targets and substrates"),
    batch_size: int = typer.Option(None, help="Descriptions per nlp.pipe batch (default: the pipeline's)"),
    n_process: int = typer.Option(1, help="Worker processes (CPU only)"),
    gpu_id: int = typer.Option(-1, help="GPU to use; -1 for CPU"),
):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with reported_as("predict"):
        logging.getLogger("predict").info("predicting on %s", use_device(gpu_id))
        stats = predict_file(model, input_path, output_path, batch_size=batch_size, n_process=n_process)
    typer.echo(
        f"{output_path}: {stats['written']} descriptions written, {stats['skipped']} bad line(s) skipped"
    )


if __name__ == "__main__":
    typer.run(main)
