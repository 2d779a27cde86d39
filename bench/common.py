"""What every benchmark shares: the benchmark texts and a note of the machine and its load."""

from __future__ import annotations

import datetime
import itertools
import json
import os
import platform
import subprocess
from pathlib import Path

from components.data.records import read_jsonl, write_json

# The bundled real descriptions: the sample corpus and the hand-checked set.
TEXT_SOURCES = (Path("assets/sample_assays.jsonl"), Path("assets/handchecked.jsonl"))


def benchmark_texts(n: int, sources: tuple[Path, ...] = TEXT_SOURCES) -> list[str]:
    """The texts of `sources`, cycled to exactly `n`."""
    texts = [obj["text"] for path in sources for _, obj in read_jsonl(path)]
    return list(itertools.islice(itertools.cycle(texts), n))


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown"
    names = [line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")]
    return names[0] if names else "unknown"


def machine() -> dict:
    """CPU, cores, load average (1/5/15 min) and date: the context every figure needs."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
    }


def section_head(section: str, command: str, where: dict) -> list[str]:
    """The first lines of a RESULTS.md section: its title, the command and the machine it ran on."""
    return [
        section,
        "",
        f"Command: `{command}`  ",
        f"Machine: {where['cpu']}, {where['cores']} cores, load average {where['load_avg']} at the start "
        f"(1/5/15 min; shared with other engineers' jobs), Python {where['python']}; {where['date']}.  ",
    ]


def read_results(path: Path) -> dict:
    """A resumable benchmark's rows so far, by key; {} before the first."""
    return json.loads(path.read_text(encoding="utf8")) if path.exists() else {}


def add_result(path: Path, key: str, row: dict) -> None:
    """Merge one row into the results file, read again first: another run may have added rows."""
    table = read_results(path)
    table[key] = row
    write_json(path, table)
