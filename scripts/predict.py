"""Predict TARGET/SUBSTRATE spans and answers for a file of assay descriptions.

python -m scripts.predict training/model-best descriptions.csv predictions.jsonl --n-process 2
"""

import logging
from pathlib import Path

import spacy
import typer

from components.data.records import InputError
from components.inference.predict import predict_file


def main(
    model: str = typer.Argument(..., help="Pipeline directory or installed package name (en_assay_ner)"),
    input_path: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help=".jsonl, .csv, .tsv, .txt or .spacy"
    ),
    output_path: Path = typer.Argument(..., dir_okay=False, help="JSONL with spans, targets and substrates"),
    batch_size: int = typer.Option(64, help="Descriptions per nlp.pipe batch"),
    n_process: int = typer.Option(1, help="Worker processes (CPU only)"),
    gpu_id: int = typer.Option(-1, help="GPU to use; -1 for CPU"),
):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    try:
        stats = predict_file(model, input_path, output_path, batch_size=batch_size, n_process=n_process)
    except (InputError, ValueError) as e:
        typer.echo(f"predict: {e}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"{output_path}: {stats['written']} descriptions written, {stats['skipped']} bad line(s) skipped"
    )


if __name__ == "__main__":
    typer.run(main)
