"""Peak resident memory of annotate, train and inference, each run as a child process.

Each command is the project's own script; os.wait4 returns the rusage of that one child (its
ru_maxrss covers the child and the processes it waited for), so the three figures do not mix.

    python -m bench.memory --model en_assay_ner
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typer

from bench.common import benchmark_texts, machine
from components.data.records import write_jsonl
from components.teacher.annotate import project_arguments
from components.training.transformer import write_training_config


def peak_rss(command: list[str], env: dict | None = None, cwd: Path | None = None) -> dict:
    """Run `command`; return its wall time and peak RSS (MiB). A failing command raises."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, cwd=cwd)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed with status {os.waitstatus_to_exitcode(status)}")
    # Linux reports ru_maxrss in KiB.
    return {"command": " ".join(command), "seconds": seconds, "peak_rss_mib": usage.ru_maxrss / 1024}


def main(
    model: str = typer.Option("en_assay_ner", help="Installed package or pipeline directory for inference"),
    corpus: Path = typer.Option(Path("corpus/assays.jsonl"), exists=True, dir_okay=False),
    train: Path = typer.Option(Path("corpus/train.spacy"), exists=True, dir_okay=False),
    dev: Path = typer.Option(Path("corpus/dev.spacy"), exists=True, dir_okay=False),
    annotate_docs: int = typer.Option(36, help="Descriptions the teacher labels (with a fresh cache)"),
    train_steps: int = typer.Option(30),
    n_docs: int = typer.Option(1000, help="Descriptions for inference"),
    output: Path = typer.Option(Path("metrics/bench/memory.json"), dir_okay=False),
):
    py = [sys.executable, "-m"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = tmp / "config.cfg"
        write_training_config(Path("configs/ner.cfg"), config, "minilm", -1)
        texts = tmp / "texts.jsonl"
        write_jsonl(texts, ({"text": t} for t in benchmark_texts(n_docs)))
        commands = {
            f"annotate ({annotate_docs} docs, the default offline teacher)": py + [
                "scripts.annotate", str(corpus), str(tmp / "ann.jsonl"), "--limit", str(annotate_docs),
                *project_arguments(cache_dir=str(tmp / "cache")),
            ],
            f"train ({train_steps} steps, MiniLM, CPU)": py + [
                "spacy", "train", str(config), "--output", str(tmp / "training"),
                "--code", "components/training/registry.py",
                "--paths.train", str(train), "--paths.dev", str(dev),
                "--training.max_steps", str(train_steps), "--training.eval_frequency", str(train_steps),
            ],
            f"inference ({n_docs} docs, scripts.predict)": py + [
                "scripts.predict", model, str(texts), str(tmp / "predictions.jsonl"),
            ],
        }  # fmt: skip
        rows = {name: peak_rss(command) for name, command in commands.items()}
    result = {"machine": machine(), "model": model, "rows": rows}
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf8")
    lines = ["| process | peak RSS (MiB) | wall s |", "|---|---:|---:|"]
    lines += [f"| {name} | {r['peak_rss_mib']:.0f} | {r['seconds']:.0f} |" for name, r in rows.items()]
    typer.echo("\n".join(lines) + f"\n{result['machine']}")


if __name__ == "__main__":
    typer.run(main)
