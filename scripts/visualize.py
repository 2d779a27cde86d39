"""Write displaCy pages: OUTPUT_DIR/predictions.html (a sample of predictions) and
OUTPUT_DIR/handchecked.html (hand-checked answer above the model's, differing rows marked).

    python -m scripts.visualize en_assay_ner visualizations --texts corpus/test.spacy \
        --handchecked corpus/handchecked.spacy
"""

from pathlib import Path

import spacy
import typer

from components.evaluation.display import write_pages


def main(
    model: str = typer.Argument(..., help="Pipeline directory or installed package name"),
    output_dir: Path = typer.Argument(Path("visualizations"), file_okay=False, help="Where the pages go"),
    texts: Path = typer.Option(
        ..., exists=True, dir_okay=False, help="Texts to sample: .spacy/.jsonl/.csv/.tsv/.txt"
    ),
    handchecked: Path = typer.Option(..., exists=True, dir_okay=False, help="Hand-checked DocBin"),
    n: int = typer.Option(50, help="How many texts to sample"),
    seed: int = typer.Option(0, help="Sampling seed"),
):
    for path in write_pages(spacy.load(model), texts, handchecked, output_dir, n=n, seed=seed):
        typer.echo(f"wrote {path}")


if __name__ == "__main__":
    typer.run(main)
