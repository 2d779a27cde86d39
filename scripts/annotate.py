"""Label assay descriptions with a teacher LLM through spacy-llm; write span records and a report.

    python -m scripts.annotate corpus/assays.jsonl corpus/annotated.jsonl --config configs/annotate.cfg \
        --report metrics/annotate.json --handchecked assets/handchecked.jsonl \
        --vars.backend llamacpp --vars.model smollm2 --vars.task constrained --vars.cache_dir cache/llm

`--vars.*` set configs/annotate.cfg's [vars]; those not given take project.yml's defaults.
Every answer is cached as it arrives: a re-run, or a run after Ctrl-C or a crash, asks only what
is not answered yet; `--vars.backend replay` re-parses the cached answers alone. A description
whose request failed every retry is left out and listed in the report; the run then fails unless
`--allow-unanswered` allows that many.
"""

import os

# llama.cpp's OpenMP threads spin while they wait: with anything else on the cores, SmolLM2 ran
# 6-8x slower here. OpenMP reads this once, when torch loads it during the imports below.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import logging
from pathlib import Path

import typer
from spacy.cli._util import parse_config_overrides

from components.data.records import write_json
from components.teacher.annotate import (
    check_unanswered,
    load_annotator,
    project_overrides,
    render_report,
    run,
)
from scripts import reported_as

app = typer.Typer(add_completion=False)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def main(
    ctx: typer.Context,
    corpus: Path = typer.Argument(..., exists=True, dir_okay=False, help="Corpus JSONL (assets step)"),
    output: Path = typer.Argument(..., dir_okay=False, help="Span records {text, spans, meta}"),
    config: Path = typer.Option(Path("configs/annotate.cfg"), exists=True, dir_okay=False),
    report: Path = typer.Option(None, dir_okay=False, help="Write the report JSON here"),
    limit: int = typer.Option(None, help="Only the first N descriptions"),
    handchecked: Path = typer.Option(None, exists=True, dir_okay=False, help="Score the teacher on this set"),
    handchecked_output: Path = typer.Option(None, dir_okay=False, help="Teacher's labels of that set"),
    handchecked_limit: int = typer.Option(0, help="Score on the first N hand-checked docs (0: all)"),
    allow_unanswered: int = typer.Option(
        0, min=0, help="Descriptions that may get no answer (every retry failed) without failing the run"
    ),
):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        with reported_as("annotate"):
            nlp = load_annotator(config, {**project_overrides(), **parse_config_overrides(ctx.args)})
            result = run(nlp, corpus, output, limit, handchecked, handchecked_output, handchecked_limit)
            if report:
                write_json(report, result)
            typer.echo(render_report(result))
            check_unanswered(result, allow_unanswered, report)
    except KeyboardInterrupt:
        typer.echo("annotate: interrupted; every answer so far is cached: run again to resume", err=True)
        raise typer.Exit(130) from None


if __name__ == "__main__":
    app()
