"""Calibrate the trained pipeline's confidences on labelled descriptions it did not learn from, and
write the calibrated pipeline and a report.

    python -m scripts.calibrate training/model-last training/model-calibrated \
        --data corpus/dev.spacy --data corpus/test.spacy --report metrics/calibration.json
"""

import logging
from pathlib import Path

import typer

from components.data.records import write_json
from components.inference.load import use_device
from components.training.calibrate import calibrate_pipeline
from scripts import reported_as


def main(
    model: Path = typer.Argument(..., exists=True, file_okay=False, help="The trained pipeline"),
    output: Path = typer.Argument(..., file_okay=False, help="Where the calibrated pipeline goes"),
    data: list[Path] = typer.Option(..., exists=True, dir_okay=False, help="Labelled DocBin; repeatable"),
    report: Path = typer.Option(None, dir_okay=False, help="Write the report JSON here"),
    gpu_id: int = typer.Option(-1, help="GPU to use; -1 for CPU"),
):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with reported_as("calibrate"):
        logging.getLogger("calibrate").info("calibrating on %s", use_device(gpu_id))
        result = calibrate_pipeline(model, data, output)
    if report:
        write_json(report, result)
    before, after = result["before"], result["after"]
    typer.echo(
        f"calibrated on {result['docs']} docs ({before['n']} entities): {result['calibration']}; "
        f"ECE {before['ece']:.3f} -> {after['ece']:.3f}, "
        f"Brier {before['brier']:.3f} -> {after['brier']:.3f}; wrote {output}"
    )


if __name__ == "__main__":
    typer.run(main)
