"""Write the training config with the transformer chosen: `auto` picks BioLinkBERT where it can be
loaded, else the shipped MiniLM stand-in (with a warning); what spaCy's own CLI cannot decide. A
named transformer that cannot be loaded stops the train step here, in one line.

    python -m scripts.resolve_transformer configs/ner.cfg training/config.cfg --transformer auto --gpu-id -1
"""

import logging
from pathlib import Path

import typer

from components.training.transformer import write_training_config
from scripts import reported_as


def main(
    base: Path = typer.Argument(..., exists=True, dir_okay=False, help="configs/ner.cfg"),
    output: Path = typer.Argument(..., dir_okay=False, help="The config spacy train reads"),
    transformer: str = typer.Option("auto", help="Hub id, local directory, 'minilm' or 'auto'"),
    gpu_id: int = typer.Option(-1, help="GPU to train on; -1 for CPU (mixed precision on GPU)"),
):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with reported_as("train"):
        write_training_config(base, output, transformer, gpu_id)


if __name__ == "__main__":
    typer.run(main)
