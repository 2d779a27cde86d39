"""Ray's overhead: descriptions/s of `tag` (components/inference/tag.py) against plain `nlp.pipe` on
the same texts, model and threads, in one run on this machine; and what a description costs.

Two pairings, measured round-robin --repeats times so that a change in the machine's load falls
on both sides alike (medians count):

- one process of T torch threads: `nlp.pipe` against `tag` with 1 actor of T threads;
- N single-thread workers: `nlp.pipe(n_process=N)` against `tag` with N actors (its default here).

Two measures, because this machine is shared and its load swings:

- steady rate (descriptions/s, wall clock): from the first output to the last, over the
  descriptions after the first output. Starting Ray, the actors and the model is a one-off of
  seconds per run, against hours for ChEMBL. It is fair only while the load is even: more
  processes also take a bigger share of a contended CPU;
- CPU cost (core-milliseconds per description): the CPU time of the work, whoever ran it, read
  from /proc (Linux) every 0.2 s. For `nlp.pipe` (run in a fresh process each time), that process
  and its workers; for `tag`, the whole process tree of the local Ray instance (driver, actors,
  raylet, GCS and agents: Ray's overhead included), less the fixed cost of a run (starting the
  actors, loading the model), measured on a one-block run just before.

The breakdown times each step of the pipeline on one thread, which says how much of a
description is the transformer's forward pass (what a GPU speeds up) and how much is CPU work
around it (tokenising, aligning, decoding, the confidence, the answer): the figures the sizing in
bench/RESULTS.md is built from.

    OMP_WAIT_POLICY=PASSIVE python -m bench.tag_speed main training/model-calibrated
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import typer

from bench.common import benchmark_texts, machine
from components.inference.tag import init_ray, size_pool, tag_corpus

logger = logging.getLogger("bench")
app = typer.Typer(add_completion=False)
TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, tuple[int, int], float]]:
    """pid -> (parent pid, (pid, start time): the process's identity, its own CPU seconds)."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        # after "(comm)": state ppid ... utime stime (12th and 13th) ... starttime (20th)
        pid = int(name)
        found[pid] = (int(fields[1]), (pid, int(fields[19])), (int(fields[11]) + int(fields[12])) / TICKS)
    return found


class TreeCpu(threading.Thread):
    """CPU seconds spent by this process and its descendants while the block runs, sampled every
    `interval` s so that processes which start and end inside it (actors, workers) count too (a
    dying process loses at most its last interval). `only_new`: count, of the descendants, only
    those started inside the block (the spaCy workers, not the Ray daemons that idle meanwhile)."""

    def __init__(self, only_new: bool = False, interval: float = 0.2):
        super().__init__(daemon=True)
        self.only_new, self.interval = only_new, interval
        self.base: dict[tuple[int, int], float] = {}
        self.seen: dict[tuple[int, int], float] = {}
        self.done = threading.Event()

    def sample(self) -> dict[tuple[int, int], float]:
        processes = _processes()
        self_and_descendants = {}
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in processes.items():
            children.setdefault(ppid, []).append(pid)
        todo = [os.getpid()]
        while todo:
            pid = todo.pop()
            if pid in processes:
                self_and_descendants[processes[pid][1]] = processes[pid][2]
                todo += children.get(pid, [])
        return self_and_descendants

    def run(self) -> None:
        while not self.done.wait(self.interval):
            for key, seconds in self.sample().items():
                self.seen[key] = max(seconds, self.seen.get(key, 0.0))

    def __enter__(self) -> TreeCpu:
        self.base = self.sample()
        self.me = next(key for key in self.base if key[0] == os.getpid())
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.join()
        for key, seconds in self.sample().items():
            self.seen[key] = max(seconds, self.seen.get(key, 0.0))

    @property
    def seconds(self) -> float:
        return sum(
            seconds - self.base.get(key, 0.0)
            for key, seconds in self.seen.items()
            if not self.only_new or key == self.me or key not in self.base
        )


def steady(times: list[float], counts: list[int], started: float) -> tuple[float, float]:
    """(steady rate, end-to-end rate) from output arrival times and sizes."""
    total = sum(counts)
    end_to_end = total / (times[-1] - started)
    if len(times) < 2:
        return end_to_end, end_to_end
    return (total - counts[0]) / (times[-1] - times[0]), end_to_end


def time_pipe(model: str, texts_path: Path, threads: int, n_process: int, batch_size: int) -> dict:
    """`nlp.pipe` timed in a fresh process: spaCy's workers fork it, and a process that holds a Ray
    driver must not fork (its gRPC threads can hang the parent)."""
    run = subprocess.run(
        [sys.executable, "-m", "bench.tag_speed", "pipe", model, str(texts_path)]
        + [f"--threads={threads}", f"--n-process={n_process}", f"--batch-size={batch_size}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(run.stdout.strip().splitlines()[-1])


@app.command()
def pipe(model: str, texts_path: Path, threads: int = 1, n_process: int = 1, batch_size: int = 64):
    """Time plain nlp.pipe in this process over the JSONL texts; print the figures as JSON."""
    import torch

    from components.inference.load import load_pipeline

    texts = [json.loads(line)["text"] for line in texts_path.open(encoding="utf8")]
    torch.set_num_threads(threads)
    nlp = load_pipeline(model)
    list(nlp.pipe(texts[:batch_size]))  # warm-up: first-call allocations
    times, counts = [], []
    with TreeCpu(only_new=True) as cpu:
        started = time.perf_counter()
        for i, _ in enumerate(nlp.pipe(texts, batch_size=batch_size, n_process=n_process), start=1):
            if i % batch_size == 0 or i == len(texts):
                times.append(time.perf_counter())
                counts.append(batch_size if i % batch_size == 0 else i % batch_size)
    rate, end_to_end = steady(times, counts, started)
    print(json.dumps({"steady": rate, "end_to_end": end_to_end, "cpu_ms": 1000 * cpu.seconds / len(texts)}))


def run_tag(model: str, src: Path, actors: int, threads: int, batch_size: int, block_rows: int) -> tuple:
    """(run figures, CPU seconds of the whole Ray process tree)."""
    with tempfile.TemporaryDirectory() as out, TreeCpu() as cpu:
        stats = tag_corpus(
            src, out, model=model, actors=actors, threads=threads, batch_size=batch_size,
            block_rows=block_rows, progress=False,
        )  # fmt: skip
        time.sleep(2)  # the actor pool shuts down after the last block
    return stats, cpu.seconds


def time_tag(model: str, src: Path, small: Path, actors: int, threads: int, batch_size: int, block_rows: int):
    _, fixed = run_tag(model, small, actors, threads, batch_size, block_rows)
    stats, cpu = run_tag(model, src, actors, threads, batch_size, block_rows)
    n_small = sum(1 for _ in small.open())
    return {
        "steady": stats["steady_rows_per_s"],
        "end_to_end": stats["tagged"] / stats["total_seconds"],
        "cpu_ms": 1000 * (cpu - fixed) / (stats["tagged"] - n_small),
        "fixed_cpu_s": fixed,
        "first_result_s": stats["first_result_seconds"],
    }


def breakdown(nlp, texts: list[str], batch_size: int) -> dict:
    """Milliseconds per description in each step (one process, the current torch threads)."""
    from components.pipeline.bio_ner import allowed_transitions, span_confidences

    spent: dict[str, float] = {}

    def add(name: str, since: float) -> float:
        now = time.perf_counter()
        spent[name] = spent.get(name, 0.0) + now - since
        return now

    ner = nlp.get_pipe("bio_ner")
    ids = {tag: i for i, tag in enumerate(ner.tags)}
    allowed = allowed_transitions(ner.tags)
    wordpieces = nlp.get_pipe("transformer").model.tokenizer
    hf_model = nlp.get_pipe("transformer").model.transformer
    forward = hf_model.forward

    def timed_forward(*args, **kwargs):  # the forward pass inside the transformer component
        since = time.perf_counter()
        out = forward(*args, **kwargs)
        add("of which: the transformer's forward pass", since)
        return out

    hf_model.forward = timed_forward
    n_pieces = 0
    for start in range(0, len(texts), batch_size):
        batch = texts[start : start + batch_size]
        t = time.perf_counter()
        n_pieces += sum(len(ids_) for ids_ in wordpieces(batch)["input_ids"])
        t = add("of which: wordpiece tokenizer (timed alone)", t)
        docs = [nlp.make_doc(text) for text in batch]
        t = add("spaCy tokenizer", t)
        for name, component in nlp.pipeline:
            if name == "bio_ner":
                scores = component.predict(docs)
                t = add("bio_ner softmax", t)
                component.set_annotations(docs, scores)
                t = add("bio_ner decoding (Viterbi and confidence)", t)
                spans = [
                    [(e.start, e.end, ids[f"B-{e.label_}"], ids[f"I-{e.label_}"]) for e in d.ents]
                    for d in docs
                ]
                span_confidences(scores, spans, allowed)
                t = add("of which: confidence (timed alone)", t)
            else:
                docs = (
                    list(component.pipe(docs)) if hasattr(component, "pipe") else [component(d) for d in docs]
                )
                t = add(name, t)
    hf_model.forward = forward
    result = {name: round(1000 * seconds / len(texts), 3) for name, seconds in spent.items()}
    result["wordpieces per description"] = round(n_pieces / len(texts), 1)
    return result


@app.command()
def main(
    model: str = typer.Argument(
        ..., help="Pipeline directory or installed package (the MiniLM stand-in here)"
    ),
    n_docs: int = typer.Option(6000, help="Descriptions per measurement (the bundled ones, cycled)"),
    repeats: int = typer.Option(3, help="Round-robin repeats; the medians count"),
    batch_size: int = typer.Option(1000, help="nlp.pipe batch size, both sides (the model's default)"),
    block_rows: int = typer.Option(1000, help="tag's block size (several blocks per actor)"),
    output: Path = typer.Option(Path("metrics/tag_speed.json"), help="Where the figures go"),
):
    import ray
    import torch

    from components.inference.load import load_pipeline

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if os.environ.get("OMP_WAIT_POLICY") != "PASSIVE":
        logger.warning("OMP_WAIT_POLICY is not PASSIVE here, as it is in the actors: the sides differ")
    texts = benchmark_texts(n_docs)
    cores = os.cpu_count() or 1
    init_ray()
    pool = size_pool(ray.cluster_resources())  # what `weasel run tag` uses here
    with tempfile.TemporaryDirectory() as tmp:
        src, small = Path(tmp) / "texts.jsonl", Path(tmp) / "small.jsonl"
        src.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf8")
        small.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts[:16]), encoding="utf8")
        n = pool.actors
        setups = {
            f"nlp.pipe, 1 process x {cores} threads": lambda: time_pipe(model, src, cores, 1, batch_size),
            f"tag, 1 actor x {cores} threads": lambda: time_tag(
                model, src, small, 1, cores, batch_size, block_rows
            ),
            f"nlp.pipe, {n} processes x 1 thread": lambda: time_pipe(model, src, 1, n, batch_size),
            f"tag, {n} actors x 1 thread (default)": lambda: time_tag(
                model, src, small, n, 1, batch_size, block_rows
            ),
        }
        runs: dict[str, list[dict]] = {name: [] for name in setups}
        for repeat in range(repeats):
            for name, run in setups.items():
                runs[name].append(run())
                found = runs[name][-1]
                logger.warning(
                    "repeat %d, %s: %.1f desc/s steady, %.1f core-ms/desc", repeat + 1, name, found["steady"],
                    found["cpu_ms"],
                )  # fmt: skip
    ray.shutdown()
    figures = {
        name: {key: round(statistics.median(r[key] for r in found), 2) for key in found[0]}
        | {
            "steady_each": [round(r["steady"], 1) for r in found],
            "cpu_ms_each": [round(r["cpu_ms"], 1) for r in found],
        }
        for name, found in runs.items()
    }
    names = list(setups)
    ratios = {}
    for label, pipe, tag in (
        ("one process", names[0], names[1]),
        ("single-thread workers", names[2], names[3]),
    ):
        ratios[label] = {
            "steady_rate": round(figures[tag]["steady"] / figures[pipe]["steady"], 3),
            "cpu_per_description": round(figures[tag]["cpu_ms"] / figures[pipe]["cpu_ms"], 3),
        }
    result = {
        "machine": machine(),
        "model": model,
        "n_docs": n_docs,
        "repeats": repeats,
        "batch_size": batch_size,
        "block_rows": block_rows,
        "default_pool": pool.describe(),
        "setups": figures,
        "tag_over_pipe": ratios,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf8")
    torch.set_num_threads(1)
    nlp = load_pipeline(model)
    list(nlp.pipe(texts[:batch_size]))  # warm-up: first-call allocations
    result["ms_per_description_one_thread"] = breakdown(nlp, texts[: min(len(texts), 640)], batch_size)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    app()
