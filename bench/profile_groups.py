"""Where the annotate client's CPU goes: py-spy's raw samples grouped by what the code does.

    py-spy record -r 500 -f raw -o client.txt -- python -m bench.annotate_throughput --profile-run ...
    python -m bench.profile_groups client.txt

Only samples taken inside `components.teacher.annotate.annotate` count (not imports or setup).
A sample goes to the first group (in the order below) that one of its frames belongs to.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer

INSIDE = "annotate (components/teacher/annotate.py"
# The event loop waiting for the network: not CPU.
WAITING = ("EpollSelector.select (selectors.py",)
# (group, markers): a frame `function (file:line)` whose text holds a marker puts the sample in the
# group. py-spy shortens some file names to their base name, so markers name the function too.
GROUPS = (
    (
        "align answers to tokens (align_mentions)",
        ("align_mentions (", "find_occurrences (", "snap_to_tokens ("),
    ),
    ("guideline cues (apply_cues)", ("apply_cues (",)),
    ("parse answers, set doc.ents, meta (task)", ("parse_responses (components/teacher/task.py",)),
    ("render prompts (task.generate_prompts)", ("generate_prompts (components/teacher/task.py",)),
    ("cache key (PromptEncoder.encode)", ("PromptEncoder.encode (",)),
    ("cache put (JSONL line, flush)", ("AnswerCache.put (",)),
    ("request body (PromptEncoder.messages_json)", ("OpenAICompatTeacher._body (",)),
    ("HTTP: open connections (connect)", ("Connection._connect (",)),
    ("HTTP: requests and answers (components.data.http)", ("Connection.post (",)),
    ("answer JSON (json.loads, _answer)", ("OpenAICompatTeacher._answer (", "loads (json/")),
    ("progress bar (tqdm)", ("(tqdm/",)),
    ("asyncio event loop", ("(asyncio/",)),
    ("spacy-llm pipeline (tee, merging docs)", ("(spacy_llm/",)),
)


def group_samples(path: Path) -> tuple[Counter, int]:
    """Samples per group (CPU only: the event loop's waits are left out) and their total."""
    counts: Counter = Counter()
    total = 0
    for line in path.read_text(encoding="utf8").splitlines():
        stack, _, n = line.rpartition(" ")
        if INSIDE not in stack:
            continue
        frames = stack.split(";")
        if frames[-1].startswith(WAITING):
            continue
        total += int(n)
        for group, markers in GROUPS:
            if any(marker in frame for frame in frames for marker in markers):
                counts[group] += int(n)
                break
        else:
            counts["other (spaCy, Python)"] += int(n)
    return counts, total


def render(counts: Counter, total: int, cpu_ms_per_doc: float | None = None) -> str:
    lines = ["| where | share of client CPU | ms/doc |" if cpu_ms_per_doc else "| where | share |"]
    lines.append("| --- | ---: | ---: |" if cpu_ms_per_doc else "| --- | ---: |")
    for group, n in counts.most_common():
        share = n / total
        row = f"| {group} | {share:.1%} |"
        lines.append(row + (f" {share * cpu_ms_per_doc:.3f} |" if cpu_ms_per_doc else ""))
    return "\n".join(lines)


def main(
    raw: Path = typer.Argument(..., help="py-spy record -f raw output"),
    cpu_ms_per_doc: float = typer.Option(0.0, help="Client CPU ms per description, to split by share"),
):
    counts, total = group_samples(raw)
    typer.echo(f"{total} samples inside annotate()")
    typer.echo(render(counts, total, cpu_ms_per_doc or None))


if __name__ == "__main__":
    typer.run(main)
