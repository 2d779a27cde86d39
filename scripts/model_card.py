"""Write the model card: the meta.json that `spacy package --meta-path` packages (spaCy writes the
README from it).

    python -m scripts.model_card training/model-calibrated/meta.json metrics/evaluation.json \
        metrics/annotate.json packages/meta.json --name assay_ner --version 0.1.0
"""

import json
from pathlib import Path

import typer

from components.data.records import write_json
from components.evaluation.card import DATA, card_meta


def main(
    model_meta: Path = typer.Argument(..., exists=True, dir_okay=False, help="The pipeline's meta.json"),
    evaluation: Path = typer.Argument(..., exists=True, dir_okay=False, help="metrics/evaluation.json"),
    annotate_report: Path = typer.Argument(..., exists=True, dir_okay=False, help="metrics/annotate.json"),
    output: Path = typer.Argument(..., dir_okay=False, help="meta.json for spacy package --meta-path"),
    name: str = typer.Option("assay_ner", help="Package name without the language prefix"),
    version: str = typer.Option("0.1.0"),
    data_source: str = typer.Option("sample", help=f"Where the descriptions came from: {', '.join(DATA)}"),
    url: str = typer.Option("", help="Project URL"),
):
    if data_source not in DATA:
        raise typer.BadParameter(f"data source {data_source!r}; expected one of {list(DATA)}")
    meta = card_meta(
        *(json.loads(path.read_text(encoding="utf8")) for path in (model_meta, evaluation, annotate_report)),
        {"name": name, "version": version, "url": url, "data_source": data_source},
    )
    write_json(output, meta)
    typer.echo(f"wrote {output} for en_{name} {version}")


if __name__ == "__main__":
    typer.run(main)
