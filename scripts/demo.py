"""The browser demo (components/inference/demo.py), a Streamlit script: `weasel run demo`, or

    python -m streamlit run scripts/demo.py --server.address 127.0.0.1 -- en_assay_ner \
        --handchecked assets/handchecked.jsonl --guidelines ANNOTATION_GUIDELINES.md

Streamlit runs this file again on every interaction and hands it the words after `--`.
"""

import logging
import sys
from pathlib import Path

import typer

from components.inference.demo import page

cli = typer.Typer(add_completion=False)


@cli.command()
def main(
    model: str = typer.Argument(..., help="Pipeline directory or installed package name"),
    handchecked: Path = typer.Option(
        ..., exists=True, dir_okay=False, help="Hand-checked set: the prefilled description"
    ),
    guidelines: Path = typer.Option(
        ..., exists=True, dir_okay=False, help="ANNOTATION_GUIDELINES.md: the examples"
    ),
    gpu_id: int = typer.Option(-1, help="GPU to use; -1 for CPU"),
):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    page(model, handchecked, guidelines, gpu_id)


if __name__ == "__main__":
    # Not standalone: click's sys.exit() at the end would end Streamlit's run of the page.
    cli(sys.argv[1:], standalone_mode=False)
