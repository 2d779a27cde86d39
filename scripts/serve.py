"""Serve one static displaCy page of the given descriptions (arguments, a file or both) on
127.0.0.1, as the model marks them. To type descriptions in the browser: `weasel run demo`.

python -m scripts.serve training/model-calibrated "Inhibition of human JNK2 using ATF2 as substrate"
python -m scripts.serve en_assay_ner --file descriptions.jsonl --port 5002
"""

from pathlib import Path

import typer
from spacy import displacy

from components.evaluation.display import OPTIONS
from components.inference.load import load_pipeline
from components.inference.predict import read_descriptions
from scripts import reported_as


def main(
    model: str = typer.Argument(..., help="Pipeline directory or installed package name"),
    texts: list[str] = typer.Argument(None, help="Descriptions to show"),
    file: Path = typer.Option(
        None, exists=True, dir_okay=False, help="More descriptions: .jsonl/.csv/.tsv/.parquet/.txt/.spacy"
    ),
    port: int = typer.Option(5002, help="Port on 127.0.0.1"),
):
    with reported_as("serve"):
        texts = list(texts or []) + ([d.text for d in read_descriptions(file)] if file else [])
        if not texts:
            raise typer.BadParameter("give descriptions as arguments or with --file")
        docs = list(load_pipeline(model).pipe(texts))
    displacy.serve(docs, style="ent", options=OPTIONS, host="127.0.0.1", port=port)


if __name__ == "__main__":
    typer.run(main)
