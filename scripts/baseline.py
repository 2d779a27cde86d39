"""Fine-tune the plain-transformers baseline on the training split and predict the hand-checked set.

    python -m scripts.baseline corpus/train.spacy corpus/handchecked.spacy training/baseline
"""

import logging
from pathlib import Path

import typer

from components.training.baseline import train_baseline


def main(
    train: Path = typer.Argument(..., exists=True, dir_okay=False),
    handchecked: Path = typer.Argument(..., exists=True, dir_okay=False),
    output: Path = typer.Argument(..., file_okay=False, help="Directory for model/ and handchecked.spacy"),
    transformer: str = typer.Option("auto", help="Hub id, local directory, 'minilm' or 'auto'"),
    gpu_id: int = typer.Option(-1, help="GPU id; -1 for CPU"),
    # The best of the recipes measured in bench/RESULTS.md (10 epochs at 5e-5 is the usual default).
    epochs: int = typer.Option(30),
    batch_size: int = typer.Option(16),
    learn_rate: float = typer.Option(1e-4),
    seed: int = typer.Option(0),
):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    train_baseline(train, handchecked, output, transformer, gpu_id, epochs, batch_size, learn_rate, seed)


if __name__ == "__main__":
    typer.run(main)
