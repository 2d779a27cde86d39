"""Training speed: words per second of `spacy train` on this machine, on the train step's config.

spaCy counts the words of every batch it trains on and hands the running total to its logger at
each evaluation. This benchmark swaps in a logger that also notes the clock, and divides the words
trained on between the first evaluation (step 0) and the last (step --steps) by the seconds between
them: model initialisation and the first evaluation are left out, one evaluation on the dev set is in.

    python -m bench.train_speed --train corpus/train.spacy --dev corpus/dev.spacy --steps 60
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path

import spacy
import typer
from spacy.cli.train import train
from spacy.util import load_config, registry

from bench.common import machine
from components.data.docs import read_docbin
from components.training import registry as project_registry  # noqa: F401  (what configs/ner.cfg names)
from components.training.transformer import write_training_config

CHECKPOINTS: list[dict] = []


@registry.loggers("bench.ClockLogger.v1")
def clock_logger():
    console = registry.loggers.get("spacy.ConsoleLogger.v3")(progress_bar=None)

    def setup(nlp, stdout, stderr):
        log_step, finalize = console(nlp, stdout, stderr)

        def log(info):
            if info is not None:
                clock = time.perf_counter()
                CHECKPOINTS.append({"step": info["step"], "words": info["words"], "clock": clock})
            log_step(info)

        return log, finalize

    return setup


def main(
    config: Path = typer.Option(Path("configs/ner.cfg"), exists=True, dir_okay=False),
    train_path: Path = typer.Option(Path("corpus/train.spacy"), "--train", exists=True, dir_okay=False),
    dev: Path = typer.Option(Path("corpus/dev.spacy"), exists=True, dir_okay=False),
    transformer: str = typer.Option("minilm"),
    gpu_id: int = typer.Option(-1, help="GPU id, -1 for CPU"),
    steps: int = typer.Option(60, help="Training steps timed (after step 0)"),
    threads: int = typer.Option(2, help="torch threads"),
    output: Path = typer.Option(Path("metrics/bench/train_speed.json"), dir_okay=False),
):
    import torch

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        timed_cfg = Path(tmp) / "config.cfg"
        write_training_config(config, timed_cfg, transformer, gpu_id)
        cfg = load_config(timed_cfg, interpolate=False)
        cfg["training"]["logger"] = {"@loggers": "bench.ClockLogger.v1"}
        cfg.to_disk(timed_cfg)
        # One evaluation at step 0 and one at `steps`: the clock runs between them.
        overrides = {"paths.train": str(train_path), "paths.dev": str(dev), "training.max_steps": steps,
                     "training.eval_frequency": steps}  # fmt: skip
        train(timed_cfg, Path(tmp) / "out", use_gpu=gpu_id, overrides=overrides)
    first, last = CHECKPOINTS[0], CHECKPOINTS[-1]
    words, seconds = last["words"] - first["words"], last["clock"] - first["clock"]
    docs = read_docbin(train_path, spacy.blank("en").vocab)
    result = {
        "machine": machine(),
        "transformer": transformer,
        "gpu_id": gpu_id,
        "threads": threads,
        "train_docs": len(docs),
        "train_words": sum(len(doc) for doc in docs),
        "steps": last["step"] - first["step"],
        "words": words,
        "seconds": seconds,
        "words_per_s": words / seconds,
        "seconds_per_step": seconds / (last["step"] - first["step"]),
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf8")
    typer.echo(
        f"{result['words_per_s']:.0f} words/s ({result['seconds_per_step']:.2f} s/step, {words} words in "
        f"{result['steps']} steps, {seconds:.0f} s); {result['machine']}"
    )


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    typer.run(main)
