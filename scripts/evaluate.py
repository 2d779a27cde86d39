"""Evaluate a trained pipeline; write OUTPUT_DIR/evaluation.json and OUTPUT_DIR/evaluation.md.

    python -m scripts.evaluate training/model-calibrated metrics --test corpus/test.spacy \
        --handchecked corpus/handchecked.spacy --teacher corpus/handchecked_teacher.jsonl \
        --extra baseline=training/baseline/handchecked.spacy --guidelines ANNOTATION_GUIDELINES.md
"""

import logging
from pathlib import Path

import typer

from components.data.records import write_json, write_text
from components.evaluation.calibration import reliability_svg
from components.evaluation.report import evaluate, reliability_plots, render_markdown
from components.inference.load import load_pipeline, use_device
from scripts import reported_as


def _extra(value: str) -> tuple[str, Path]:
    name, sep, path = value.partition("=")
    if not sep or not name or not path:
        raise typer.BadParameter(f"expected NAME=PATH, got {value!r}")
    if not Path(path).is_file():
        raise typer.BadParameter(f"{path}: no such file")
    return name, Path(path)


def main(
    model: str = typer.Argument(..., help="Pipeline directory or installed package name"),
    output_dir: Path = typer.Argument(Path("metrics"), file_okay=False, help="Where evaluation.json/.md go"),
    test: Path = typer.Option(..., exists=True, dir_okay=False, help="Test split, labelled by the teacher"),
    handchecked: Path = typer.Option(..., exists=True, dir_okay=False, help="Hand-checked set (the truth)"),
    teacher: Path = typer.Option(
        None, exists=True, dir_okay=False, help="Teacher's labels of the hand-checked texts"
    ),
    extra: list[str] = typer.Option([], help="NAME=PATH: another system's predictions (.spacy/.jsonl)"),
    guidelines: Path = typer.Option(
        None, exists=True, dir_okay=False, help="ANNOTATION_GUIDELINES.md: check the answers to its examples"
    ),
    batch_size: int = typer.Option(None, help="nlp.pipe batch size (default: the pipeline's own)"),
    gpu_id: int = typer.Option(-1, help="GPU to use; -1 for CPU"),
):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    extras = dict(_extra(value) for value in extra)
    with reported_as("evaluate"):
        logging.getLogger("evaluate").info("evaluating on %s", use_device(gpu_id))
        nlp = load_pipeline(model)
        result = evaluate(nlp, model, test, handchecked, teacher, extras, batch_size, guidelines)
    write_json(output_dir / "evaluation.json", result)
    write_text(output_dir / "evaluation.md", render_markdown(result))
    if "calibration" in result:
        for title, file, reliability in reliability_plots(result["calibration"]):
            write_text(output_dir / file, reliability_svg(reliability, f"Entity confidence ({title})"))
    for s in (result[key] for key in result["comparisons"]):
        typer.echo(
            f"{s['title']}: P {s['ents_p']:.4f} R {s['ents_r']:.4f} F1 {s['ents_f']:.4f}; string F1 "
            + ", ".join(f"{label} {v['f']:.4f}" for label, v in s["strings_per_type"].items())
        )
    if "guideline_examples" in result:
        check = result["guideline_examples"]
        right = ", ".join(f"{key} {n}" for key, n in check["right"].items())
        typer.echo(f"guideline examples ({check['examples']}), answers right: {right}")
    speed = result["speed"]["docs_per_second"]
    typer.echo(f"{speed:.1f} docs/s; wrote {output_dir}/evaluation.json and evaluation.md")


if __name__ == "__main__":
    typer.run(main)
