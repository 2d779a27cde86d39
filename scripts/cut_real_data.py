"""Cut the hand-labelled ChEMBL descriptions into the bundled assets (see components/data/real_assets.py).
A developer's tool, run once when the labelled file changes; the workflow never reads the source.

    python -m scripts.cut_real_data ../shared/data/chembl_handlabelled.jsonl assets
"""

from pathlib import Path

import typer

from components.data.real_assets import DEFAULT_SIZES, write_assets
from scripts import reported_as


def main(
    source: Path = typer.Argument(..., exists=True, dir_okay=False, help="Hand-labelled ChEMBL JSONL"),
    output_dir: Path = typer.Argument(Path("assets"), file_okay=False),
    handchecked: int = typer.Option(DEFAULT_SIZES["handchecked"], help="Descriptions in the evaluation set"),
    fewshot: int = typer.Option(DEFAULT_SIZES["fewshot"], help="Descriptions in the few-shot pool"),
):
    with reported_as("cut_real_data"):
        sizes = write_assets(source, output_dir, {"handchecked": handchecked, "fewshot": fewshot})
    typer.echo(f"wrote {output_dir}: " + ", ".join(f"{name} {n}" for name, n in sizes.items()))


if __name__ == "__main__":
    typer.run(main)
