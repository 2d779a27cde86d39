"""The annotate step against a faulty OpenAI-compatible endpoint: every description exact, and what
the faults cost in wall time.

A chat-completions double (tests/llm_double.py, in its own process) answers each request after
--latency seconds, and fails a share of them as a rate-limited, overloaded hosted API does: 429
with Retry-After, 500/502/503, a JSON body cut short, the connection closed without an answer, an
8 s stall (the teacher gives up after --timeout seconds and retries). A few descriptions
(--stubborn) get 429 on every try. Each run is `python -m scripts.annotate` as the annotate step
runs it (compact task: every description is asked), on the same real descriptions:

1. a healthy endpoint: the answers every other run must give, and the wall time to beat;
2. the faulty endpoint with --allow-unanswered: the run must finish (exit 0) without a rerun,
   every answered description exact, the unanswered ones listed;
3. the faulty endpoint with the default (none allowed), fresh cache: the run must fail in one line
   with every answered description exact; then a rerun against the healthy endpoint must ask
   only the unanswered ones and end with every description exact.

    python -m bench.annotate_faults --n-docs 330 --fault-rate 0.47 --stubborn 3
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import typer

from bench.annotate_throughput import RESULTS, double_in_child, write_section
from bench.common import machine, section_head
from components.data.corpus import load_corpus
from components.data.records import read_jsonl, write_jsonl
from components.teacher.annotate import project_arguments
from tests.llm_double import last_user_text

SECTION = "## Annotation against a faulty endpoint"
SAMPLE = Path("assets/sample_assays.jsonl")
STALL_S = 8.0
# The failure kinds, each with its share of the faulty requests, and the fault the double serves.
TRUNCATED = '{"id": "chatcmpl-1", "object": "chat.completion", "choices": [{"index": 0, "message": {"ro'
KINDS = {
    "429 with Retry-After: 1": (0.35, (429, {"Retry-After": "1"}, '{"error": "rate limited"}')),
    "500": (0.10, (500, {}, '{"error": "internal error"}')),
    "502": (0.10, (502, {}, "<html>Bad Gateway</html>")),
    "503": (0.10, (503, {}, '{"error": "overloaded"}')),
    "200 with a truncated JSON body": (0.15, (200, {}, TRUNCATED)),
    "connection closed without an answer": (0.12, ("drop",)),
    f"{STALL_S:g} s stall": (0.08, ("slow", STALL_S)),
}
STUBBORN = (429, {"Retry-After": "1"}, '{"error": "rate limited"}')


class Faults:
    """`fault_for` of the double: the stubborn descriptions' every request fails, and a share
    `rate` of all others fails with a kind drawn by KINDS' weights."""

    def __init__(self, rate: float, stubborn: set[str], seed: int):
        self.rate = rate
        self.stubborn = stubborn
        self.rng = random.Random(seed)
        self.faults = [fault for _, fault in KINDS.values()]
        self.weights = [weight for weight, _ in KINDS.values()]

    def __call__(self, body: dict) -> tuple | None:
        if last_user_text(body) in self.stubborn:
            return STUBBORN
        if self.rng.random() < self.rate:
            return self.rng.choices(self.faults, self.weights)[0]
        return None


def annotate_once(corpus: Path, out: Path, base_url: str, cache: Path, *options: str) -> dict:
    """One annotate step run; its exit status, last stderr line, report and records by assay_id."""
    settings = {
        "backend": "openai", "task": "compact", "model": "bench", "base_url": base_url,
        "max_in_flight": 32, "cache_dir": str(cache),
    }  # fmt: skip
    report = out.with_suffix(".report.json")
    done = subprocess.run(
        [sys.executable, "-m", "scripts.annotate", str(corpus), str(out), "--report", str(report),
         *options, *project_arguments(**settings)],
        capture_output=True, text=True,
    )  # fmt: skip
    records = {obj["meta"]["assay_id"]: obj for _, obj in read_jsonl(out)} if out.exists() else {}
    return {
        "exit": done.returncode,
        "last_line": (done.stderr.strip().splitlines() or [""])[-1],
        "report": json.loads(report.read_text(encoding="utf8")),
        "records": records,
    }


def exact(run: dict, healthy: dict) -> int:
    """Records of `run` whose spans and raw answer are the healthy run's (none may differ)."""
    differ = [
        key
        for key, record in run["records"].items()
        if (record["spans"], record["meta"]["raw_answer"])
        != (healthy["records"][key]["spans"], healthy["records"][key]["meta"]["raw_answer"])
    ]
    assert not differ, f"answers differ from the healthy endpoint's for assay_id {differ[:5]}"
    return len(run["records"])


def faulty_run(corpus, out, cache, latency, faults, *options) -> tuple[dict, dict]:
    with double_in_child(latency, faults) as (base_url, server):
        run = annotate_once(corpus, out, base_url, cache, *options)
    return run, server


def main(
    n_docs: int = typer.Option(330, help="Real descriptions (the bundled sample's first N)"),
    fault_rate: float = typer.Option(0.47, help="Share of requests that fail"),
    stubborn: int = typer.Option(3, help="Descriptions whose every request fails"),
    allow: int = typer.Option(10, help="--allow-unanswered of the run that must finish"),
    latency: float = typer.Option(0.5, help="Seconds the double takes per answer"),
    timeout: float = typer.Option(5.0, help="The teacher's timeout_s: a stall longer than this is retried"),
    seed: int = typer.Option(0),
    write: bool = typer.Option(True, help="Write the section into --results"),
    results: Path = typer.Option(RESULTS, help="Markdown file whose section this benchmark rewrites"),
):
    where = machine()
    records, _ = load_corpus(SAMPLE)
    records = records[:n_docs]
    stubborn_texts = {r["text"] for r in random.Random(seed).sample(records, stubborn)}
    options = ("--teachers.openai.timeout_s", str(timeout))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = tmp / "corpus.jsonl"
        write_jsonl(corpus, records)
        with double_in_child(latency) as (base_url, _):
            healthy = annotate_once(corpus, tmp / "healthy.jsonl", base_url, tmp / "cache-healthy", *options)
        assert healthy["exit"] == 0 and len(healthy["records"]) == n_docs, healthy["last_line"]

        faults = Faults(fault_rate, stubborn_texts, seed)
        allowed, served = faulty_run(
            corpus, tmp / "allowed.jsonl", tmp / "cache-allowed", latency, faults,
            *options, "--allow-unanswered", str(allow),
        )  # fmt: skip
        unanswered = allowed["report"]["unanswered"]
        assert allowed["exit"] == 0, allowed["last_line"]
        assert exact(allowed, healthy) + len(unanswered) == n_docs

        faults = Faults(fault_rate, stubborn_texts, seed + 1)
        strict, strict_served = faulty_run(
            corpus, tmp / "strict.jsonl", tmp / "cache-strict", latency, faults, *options
        )
        strict_unanswered = strict["report"]["unanswered"]
        assert strict["exit"] == 1 and strict["last_line"].startswith("annotate: "), strict["last_line"]
        strict["last_line"] = strict["last_line"].replace(f"{tmp}/", "")
        assert exact(strict, healthy) + len(strict_unanswered) == n_docs
        with double_in_child(latency) as (base_url, rerun_served):
            rerun = annotate_once(corpus, tmp / "strict.jsonl", base_url, tmp / "cache-strict", *options)
        assert rerun["exit"] == 0 and rerun_served["requests"] == len(strict_unanswered)
        assert exact(rerun, healthy) == n_docs

    rows = [
        ("healthy endpoint", healthy, None, None),
        (f"faulty, --allow-unanswered {allow}", allowed, served, None),
        ("faulty, none allowed", strict, strict_served, rerun),
    ]
    command = (
        f"python -m bench.annotate_faults --n-docs {n_docs} --fault-rate {fault_rate} --stubborn {stubborn} "
        f"--allow {allow} --latency {latency} --timeout {timeout} --seed {seed}"
    )
    section = render(rows, [served, strict_served], n_docs, stubborn, latency, timeout, command, where)
    typer.echo(section)
    if write:
        write_section(section, results, SECTION)


def fault_shares(served: dict, stubborn_requests: int) -> dict[str, int]:
    """Requests per failure kind (the stubborn descriptions' 429s counted apart)."""
    by_key = dict(served["faults"])
    counts = {}
    for label, (_, fault) in KINDS.items():
        key = str(fault[0])
        counts[label] = by_key.get(key, 0) - (stubborn_requests if fault == STUBBORN else 0)
    counts["429 on every try (stubborn descriptions)"] = stubborn_requests
    return counts


def render(rows, serveds, n_docs, stubborn, latency, timeout, command, where) -> str:
    retries = 6  # configs/annotate.cfg's max_retries: each stubborn description is tried 7 times
    shares = [fault_shares(served, stubborn * (retries + 1)) for served in serveds]
    lines = [
        *section_head(SECTION, command, where),
        f"{n_docs} real ChEMBL descriptions (the bundled sample's first), each run `python -m "
        "scripts.annotate` as the annotate step runs it with the OpenAI-compatible teacher (compact "
        f"task: every description is asked; 32 requests in flight, timeout_s {timeout:g}, the "
        f"config's 6 retries with backoff from 1 s). A chat-completions double (tests/llm_double.py, "
        f"own process) answers after {latency:g} s; on the faulty runs it fails a share of the "
        f'requests as below, and {stubborn} descriptions get 429 on every try. "Exact": the '
        "description's spans and raw answer are the healthy run's; every answered description was. "
        "Seconds: the annotation itself (the report's), not the process start.",
        "",
        "| run | exit | descriptions exact | unanswered (listed in the report) | requests | failed requests "
        "| seconds | rerun: requests, exact, exit |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for (name, run, served, rerun), share in zip(rows, [None, *shares], strict=True):
        report = run["report"]
        requests = served["requests"] if served else report["answers_from_model"]
        failed = sum(share.values()) if share else 0
        rerun_cell = (
            f"{rerun['report']['answers_from_model']} (the unanswered only), {len(rerun['records'])} of "
            f"{n_docs}, {rerun['exit']}"
            if rerun
            else "none needed"
            if served
            else ""
        )
        lines.append(
            f"| {name} | {run['exit']} | {len(run['records'])} of {n_docs} | {len(report['unanswered'])} "
            f"| {requests} | {failed} ({failed / requests:.0%}) | {report['seconds']:.1f} | {rerun_cell} |"
        )
    lines += ["", "The failed requests by kind (share of all requests of that run):", ""]
    lines += ["| failure | " + " | ".join(name for name, _, served, _ in rows if served) + " |"]
    lines += ["| --- | ---: | ---: |"]
    for label in shares[0]:
        cells = [
            f"{share[label]} ({share[label] / served['requests']:.1%})"
            for share, served in zip(shares, serveds, strict=True)
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    strict_line = rows[2][1]["last_line"]
    lines += ["", f"The run with none allowed ended with: `{strict_line}`"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    typer.run(main)
