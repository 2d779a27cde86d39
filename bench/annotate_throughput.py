"""Annotation throughput against an OpenAI-compatible endpoint with a fixed latency.

A chat-completions double on 127.0.0.1 answers every request after --latency seconds with a
valid compact answer. Our annotate path (spacy-llm pipeline from configs/annotate.cfg with
assay_ner.OpenAICompatible.v1, cold cache) labels --n-docs descriptions at each --in-flight
setting; the ideal is in_flight / latency documents per second. Beside it, stock spacy-llm's
OpenAI model (spacy.GPT-4.v3 pointed at the same double) shows its one-request-at-a-time rate.
Writes the "Annotation throughput" section of bench/RESULTS.md.

    python -m bench.annotate_throughput --n-docs 300 --latency 0.2
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import typer

import components.teacher  # noqa: F401  (registers the assay_ner.* tasks and models)
from bench.common import benchmark_texts, machine
from components.teacher.annotate import annotate, load_annotator, project_overrides
from tests.llm_double import ChatCompletionsDouble, last_user_text

CONFIG = Path("configs/annotate.cfg")
RESULTS = Path("bench/RESULTS.md")
SECTION = "## Annotation throughput"


def valid_answer(body: dict) -> str:
    """A compact answer naming the description's first word, so that every answer aligns."""
    return json.dumps({"targets": [last_user_text(body).split()[0]], "substrates": []})


def _serve(latency: float, conn) -> None:
    with ChatCompletionsDouble(answer=valid_answer, latency_s=latency) as server:
        conn.send(server.base_url)
        conn.recv()  # until the benchmark says stop


@contextmanager
def double_in_child(latency: float) -> Iterator[tuple[str, dict]]:
    """The double in its own process, so that its request handling does not share our GIL.
    Yields its base URL and a dict that receives its counters when the block ends."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(latency, child), daemon=True)
    process.start()
    base_url, stats = parent.recv(), {}
    try:
        yield base_url, stats
        stats.update(httpx.get(base_url + "/stats").json())
    finally:
        parent.send("stop")
        process.join(10)


def _row(
    path: str, in_flight: int, docs: int, seconds: float, cpu_s: float, latency: float, server: dict
) -> dict:
    rate, ideal = docs / seconds, in_flight / latency
    return {
        "path": path,
        "in_flight": in_flight,
        "docs": docs,
        "seconds": round(seconds, 2),
        "docs_per_s": round(rate, 2),
        "ideal_docs_per_s": round(ideal, 2),
        "ratio": round(rate / ideal, 3),
        "client_cpu_ms_per_doc": round(1000 * cpu_s / docs, 2),
        "server_max_in_flight": server["max_in_flight"],
    }


def ours(texts: list[str], latency: float, in_flight: int) -> dict:
    with double_in_child(latency) as (base_url, server), tempfile.TemporaryDirectory() as tmp:
        nlp = load_annotator(CONFIG, {**project_overrides(),
                "vars.backend": "openai",
                "vars.task": "compact",
                "vars.model": "bench",
                "vars.base_url": base_url,
                "vars.max_in_flight": in_flight,
                "vars.cache_dir": tmp,
            },
        )
        cpu = time.process_time()
        docs, seconds = annotate(nlp, [nlp.make_doc(t) for t in texts], desc=f"{in_flight} in flight")
        cpu = time.process_time() - cpu
    assert all(doc.ents for doc in docs), "every answer should align"
    return _row("ours (assay_ner.OpenAICompatible.v1)", in_flight, len(texts), seconds, cpu, latency, server)


def stock(texts: list[str], latency: float) -> dict:
    """spacy-llm's own OpenAI model, on its real request path, against the same double."""
    from spacy_llm.models.rest.openai.model import OpenAI

    class LocalOpenAI(OpenAI):
        def _verify_auth(self) -> None:
            # Stock code GETs api.openai.com/v1/models here, which this machine cannot reach;
            # everything after it (one blocking request per prompt) is stock.
            pass

    os.environ.setdefault("OPENAI_API_KEY", "bench-key")
    with double_in_child(latency) as (base_url, server):
        model = LocalOpenAI(
            name="bench",
            endpoint=base_url + "/chat/completions",
            config={"temperature": 0.0},
            strict=True,
            max_tries=5,
            interval=1.0,
            max_request_time=30.0,
            context_length=None,
        )
        cpu, start = time.process_time(), time.perf_counter()
        answers = list(model([[t] for t in texts]))
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert len(answers) == len(texts)
    return _row("stock spacy-llm (spacy.GPT-4.v3 model class)", 1, len(texts), seconds, cpu, latency, server)


def render(rows: list[dict], latency: float, command: str, where: dict) -> str:
    lines = [
        SECTION,
        "",
        f"Command: `{command}`  ",
        f"Machine: {where['cpu']}, {where['cores']} cores, load average {where['load_avg']} "
        f"(shared), Python {where['python']}; {where['date']}.  ",
        f"A chat-completions double (tests/llm_double.py, own process) on 127.0.0.1 answers each request "
        f"after {latency * 1000:.0f} ms; "
        "ideal = in flight / latency. Cold answer cache (every document is asked). Our path includes "
        "prompting, caching, parsing and aligning each answer; stock spacy-llm is its model call alone. "
        "Client and double (a thread-per-connection Python server) share the 2 cores, so the ratio "
        "falls when anything else runs: read the load average above.",
        "",
        "| path | in flight | docs | seconds | docs/s | ideal docs/s | ratio to ideal | client CPU ms/doc "
        "| server saw at once |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['path']} | {r['in_flight']} | {r['docs']} | {r['seconds']} | {r['docs_per_s']} | "
            f"{r['ideal_docs_per_s']} | {r['ratio']} | {r['client_cpu_ms_per_doc']} | "
            f"{r['server_max_in_flight']} |"
        )
    return "\n".join(lines) + "\n"


def write_section(text: str, path: Path = RESULTS) -> None:
    """Replace this benchmark's section of RESULTS.md (or append it), leaving the others alone."""
    old = path.read_text(encoding="utf8") if path.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    new = pattern.sub(lambda _: text + "\n", old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text
    path.write_text(new, encoding="utf8")


def main(
    n_docs: int = typer.Option(300, help="Descriptions per setting"),
    latency: float = typer.Option(0.2, help="Seconds the double takes per answer"),
    in_flight: list[int] = typer.Option([1, 8, 32], help="Concurrency settings to measure"),
    stock_docs: int = typer.Option(50, help="Descriptions for stock spacy-llm (sequential: slow)"),
    write: bool = typer.Option(True, help="Write the section of bench/RESULTS.md"),
):
    logging.basicConfig(level=logging.WARNING)
    texts = benchmark_texts(n_docs)
    rows = [ours(texts, latency, k) for k in in_flight]
    rows.append(stock(texts[:stock_docs], latency))
    command = (
        f"python -m bench.annotate_throughput --n-docs {n_docs} --latency {latency} "
        + " ".join(f"--in-flight {k}" for k in in_flight)
        + f" --stock-docs {stock_docs}"
    )
    section = render(rows, latency, command, machine())
    typer.echo(section)
    if write:
        write_section(section)


if __name__ == "__main__":
    typer.run(main)
