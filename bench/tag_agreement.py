"""One answer per description, end to end: the Parquet rows `tag` writes on Ray Data against plain
`nlp.pipe` and against `nlp(text)` one description at a time, on the same texts and model.

`tag` runs at its defaults (the pool sized from the machine, the model's own batch size and int8
setting); the texts are the bundled real descriptions cycled to --n-docs, so each distinct text
also comes back in other batches and blocks. A row equals when its entities (label, offsets, text)
and their confidences (rounded to float32, as Parquet keeps them) are the same.

    python -m bench.tag_agreement training/model-calibrated --n-docs 6600
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import numpy
import pyarrow.dataset as pads
import typer

from bench.common import benchmark_texts, machine
from components.data.records import write_json, write_jsonl
from components.inference.load import load_pipeline
from components.inference.tag import tag_corpus

logger = logging.getLogger("bench")


FIELDS = ("label", "start", "end", "text", "confidence")


def entities(doc) -> list[tuple]:
    """A doc's entities as a Parquet row holds them (confidence in float32)."""
    return [
        (e.label_, e.start_char, e.end_char, e.text, float(numpy.float32(e._.confidence))) for e in doc.ents
    ]


def main(
    model: str = typer.Argument(..., help="Pipeline directory or installed package name"),
    n_docs: int = typer.Option(6600, help="Texts to tag (the bundled descriptions, cycled)"),
    output: Path = typer.Option(Path("metrics/bench/tag_agreement.json"), dir_okay=False),
):
    texts = benchmark_texts(n_docs)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "descriptions.jsonl"
        write_jsonl(source, ({"assay_id": i, "text": text} for i, text in enumerate(texts)))
        stats = tag_corpus(source, Path(tmp) / "tagged", model=model, progress=False)
        rows = pads.dataset(Path(tmp) / "tagged", format="parquet").to_table().to_pylist()
    tagged = {row["assay_id"]: [tuple(e[f] for f in FIELDS) for e in row["entities"]] for row in rows}
    nlp = load_pipeline(model)
    piped = [entities(doc) for doc in nlp.pipe(texts)]
    distinct = list(dict.fromkeys(texts))
    alone = dict(zip(distinct, (entities(nlp(text)) for text in distinct), strict=True))
    result = {
        "model": model,
        "rows": len(rows),
        "tag": {key: stats[key] for key in ("rows", "skipped", "blocks") if key in stats},
        "equal_to_nlp_pipe": sum(tagged[i] == piped[i] for i in range(len(texts))) / len(texts),
        "equal_to_nlp_alone": sum(tagged[i] == alone[text] for i, text in enumerate(texts)) / len(texts),
        "machine": machine(),
    }
    write_json(output, result)
    typer.echo(json.dumps(result, indent=2))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    typer.run(main)
