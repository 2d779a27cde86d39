"""Wall time of `weasel run all` on the defaults, step by step, from a fresh clone.

Clones the repository into --dest (removed first), then runs each step of project.yml's `all`
workflow with `weasel run STEP` and the weasel of this Python's environment, offline
(HF_HUB_OFFLINE=1), and times each one and the whole. The package step installs en_assay_ner
with pip; by default it goes into DEST/.bench_site (on PYTHONPATH for the later steps) so the
benchmark leaves the environment as it found it.

    python -m bench.workflow_time --repo /work/main --dest /tmp/assay_ner_clone
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import typer
from weasel.util import load_project_config

from bench.common import machine
from bench.memory import peak_rss


def main(
    repo: Path = typer.Option(Path("."), exists=True, file_okay=False, help="Repository to clone"),
    dest: Path = typer.Option(Path("/tmp/assay_ner_workflow"), file_okay=False, help="Clone here (replaced)"),
    workflow: str = typer.Option("all"),
    var: list[str] = typer.Option([], help="KEY=VALUE: a project.yml variable to override (repeatable)"),
    isolate_install: bool = typer.Option(True, help="Install the package into DEST/.bench_site"),
    output: Path = typer.Option(Path("metrics/bench/workflow_time.json"), dir_okay=False),
):
    if dest.exists():
        shutil.rmtree(dest)
    subprocess.run(["git", "clone", "--quiet", str(repo.resolve()), str(dest)], check=True)
    commit = subprocess.run(
        ["git", "-C", str(dest), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    steps = load_project_config(dest)["workflows"][workflow]
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    if isolate_install:
        site = dest / ".bench_site"
        env |= {"PIP_TARGET": str(site), "PYTHONPATH": str(site)}
    rows = {}
    start = time.perf_counter()
    for step in steps:
        command = [str(bin_dir / "weasel"), "run", step, ".", *(f"--vars.{v}" for v in var)]
        rows[step] = peak_rss(command, env=env, cwd=dest)
        typer.echo(f"{step}: {rows[step]['seconds']:.0f} s, peak RSS {rows[step]['peak_rss_mib']:.0f} MiB")
    total = time.perf_counter() - start
    result = {"machine": machine(), "commit": commit, "workflow": workflow, "vars": var}
    result |= {"total_seconds": total, "steps": rows}
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf8")
    lines = ["| step | wall s | peak RSS (MiB) |", "|---|---:|---:|"]
    lines += [f"| {s} | {r['seconds']:.0f} | {r['peak_rss_mib']:.0f} |" for s, r in rows.items()]
    lines.append(f"| **{workflow}** | **{total:.0f}** | |")
    typer.echo("\n".join(lines) + f"\ncommit {commit}; {result['machine']}")


if __name__ == "__main__":
    typer.run(main)
