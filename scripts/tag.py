"""Tag a whole corpus on Ray Data into a Parquet dataset, resumably (components/inference/tag.py).

python -m scripts.tag assets/chembl_35.db tagged/chembl_35 --assay-types B,F
python -m scripts.tag descriptions/ tagged/mine --model training/model-calibrated --ray-address auto
"""

import logging
from pathlib import Path

import typer

from components.data.chembl import ChemblError, parse_assay_types
from components.data.records import InputError
from components.inference.tag import BLOCK_ROWS, MAX_CHARS, TagError, tag_corpus


def main(
    input_path: Path = typer.Argument(
        ...,
        exists=True,
        help="ChEMBL SQLite dump, or a .jsonl/.csv/.tsv/.parquet/.txt file or folder of them",
    ),
    output: Path = typer.Argument(..., file_okay=False, help="Parquet dataset folder (resumed if it exists)"),
    model: str = typer.Option("en_assay_ner", help="Installed package name or pipeline directory"),
    ray_address: str = typer.Option(
        "", help="'' starts a local Ray instance; 'auto' joins this machine's; 'host:port' a cluster"
    ),
    actors: int = typer.Option(
        0, help="Actors in the pool (0: one per CPU, or per GPU with --gpus-per-actor)"
    ),
    threads: int = typer.Option(0, help="Torch threads per actor (0: 1, or CPUs / actors with --actors)"),
    gpus_per_actor: float = typer.Option(0.0, help="GPUs each actor holds (0: tag on CPUs)"),
    batch_size: int = typer.Option(1000, help="Descriptions per nlp.pipe batch in each actor"),
    block_rows: int = typer.Option(BLOCK_ROWS, help="Input rows per output file: the unit of resuming"),
    assay_types: str = typer.Option("", help="ChEMBL assay types to keep, e.g. 'B,F' (empty: all)"),
    max_chars: int = typer.Option(MAX_CHARS, help="Longer descriptions are reported and skipped"),
    int8: bool | None = typer.Option(
        None, "--int8/--no-int8", help="int8 transformer on a CPU (default: the model's own, on)"
    ),
):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        types = parse_assay_types(assay_types)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--assay-types") from None
    try:
        tag_corpus(
            input_path,
            output,
            model=model,
            address=ray_address,
            actors=actors,
            threads=threads,
            gpus_per_actor=gpus_per_actor,
            batch_size=batch_size,
            block_rows=block_rows,
            assay_types=types,
            max_chars=max_chars,
            int8=int8,
        )
    except (TagError, InputError, ChemblError) as e:
        typer.echo(f"tag: {e}", err=True)
        raise typer.Exit(1) from None


if __name__ == "__main__":
    typer.run(main)
