"""Calibration of trained students, as the workflow's calibrate step does it, over several runs.

Each model (a `spacy train` output trained on the workflow's data, e.g. bench.tune_ner's teacher
runs) is calibrated on the corpus's dev and test splits (the teacher's labels) by
components.training.calibrate, and its entity confidences are judged before and after on the
hand labels of those same texts (`assets/tuning.jsonl`: where a calibration method may be chosen)
and on the hand-checked set (where it is reported).

    python -m bench.calibration training/bench/teacher/default-300steps-seed0/model-last ...
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import spacy
import typer

from bench.common import machine
from bench.tune_ner import heldout_truth
from components.data.docs import read_docbin, read_handchecked
from components.data.records import write_json
from components.evaluation.calibration import reliability_table, tag_outcomes
from components.inference.load import load_pipeline
from components.pipeline.bio_ner import Calibration
from components.training.calibrate import calibrate_pipeline

logger = logging.getLogger("bench")
FIGURES = ("n", "ece", "brier", "log_loss", "auroc")


def judge(nlp, gold: list, calibration: Calibration) -> dict:
    found = tag_outcomes(nlp, list(zip(gold, nlp.pipe(doc.text for doc in gold), strict=True)))
    table = reliability_table(found.judged(calibration))
    return {key: table[key] for key in FIGURES}


def main(
    models: list[Path] = typer.Argument(..., exists=True, file_okay=False, help="Trained pipelines"),
    corpus: Path = typer.Option(Path("corpus"), file_okay=False, help="Where dev.spacy and test.spacy are"),
    tuning: Path = typer.Option(Path("assets/tuning.jsonl"), exists=True, dir_okay=False),
    handchecked: Path = typer.Option(Path("assets/handchecked.jsonl"), exists=True, dir_okay=False),
    output: Path = typer.Option(Path("metrics/bench/calibration.json"), dir_okay=False),
):
    splits = [corpus / "dev.spacy", corpus / "test.spacy"]
    blank = spacy.blank("en")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        sets = {
            "held-out truth": read_docbin(heldout_truth(corpus, tuning, Path(tmp)), blank.vocab),
            "hand-checked": read_handchecked(blank, handchecked),
        }
    for model in models:
        with tempfile.TemporaryDirectory() as tmp:
            report = calibrate_pipeline(model, splits, Path(tmp) / "calibrated")
        nlp = load_pipeline(model)
        fitted = Calibration(**report["calibration"])
        row = {"model": str(model), "calibration": report["calibration"], "fit": report}
        for name, gold in sets.items():
            row[name] = {"before": judge(nlp, gold, Calibration()), "after": judge(nlp, gold, fitted)}
        rows.append(row)
        logger.info("%s: %s", model, json.dumps({name: row[name]["after"] for name in sets}))
    write_json(output, {"rows": rows, "machine": machine()})
    typer.echo(render(rows))


def render(rows: list[dict]) -> str:
    lines = [
        "| model | temperature, scale, shift | set | ECE before -> after | Brier before -> after "
        "| log loss before -> after | AUROC before -> after | entities |",
        "|---|---|---|---|---|---|---|---:|",
    ]
    for row in rows:
        fitted = ", ".join(f"{value:.3f}" for value in row["calibration"].values())
        for name in ("held-out truth", "hand-checked"):
            before, after = row[name]["before"], row[name]["after"]
            cells = " | ".join(f"{before[key]:.3f} -> {after[key]:.3f}" for key in FIGURES[1:])
            lines.append(f"| {row['model']} | {fitted} | {name} | {cells} | {after['n']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    typer.run(main)
