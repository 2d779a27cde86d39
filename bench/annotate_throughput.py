"""Annotation throughput against an OpenAI-compatible endpoint with a fixed latency.

A chat-completions double (tests/llm_double.py: an asyncio server in its own process, so that it
neither shares the client's GIL nor holds it up) answers every request after --latency seconds with
a valid compact answer. Our annotate path (spacy-llm pipeline from configs/annotate.cfg with
assay_ner.OpenAICompatible.v1, compact task, guideline cues on as configured, cold cache: prompt
rendering, cache lookup and put, HTTP, parsing, cues, alignment) labels --n-docs distinct
descriptions at each --in-flight setting, one setting after the other in one run; the ideal is
in_flight / latency documents per second. Beside it, stock spacy-llm's OpenAI model (spacy.GPT-4.v3
pointed at the same double) shows its one-request-at-a-time rate.

    python -m bench.annotate_throughput --n-docs 1000 --latency 0.2 --in-flight 1 --in-flight 8 \
        --in-flight 32 --in-flight 128

Where the client's CPU goes: run one setting under py-spy (not a dependency of the project), then
group the samples with bench/profile_groups.py:

    py-spy record -r 500 -f raw -o /tmp/client.txt -- python -m bench.annotate_throughput \
        --n-docs 1000 --in-flight 128 --stock-docs 0 --no-write
    python -m bench.profile_groups /tmp/client.txt --cpu-ms-per-doc <client CPU ms/doc of that run>
"""

from __future__ import annotations

import gc
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

from bench.common import TEXT_SOURCES, machine, section_head
from components.data.records import read_jsonl
from components.teacher.annotate import annotate, load_annotator, project_overrides, teacher_of
from tests.llm_double import ChatCompletionsDouble, last_user_text

CONFIG = Path("configs/annotate.cfg")
RESULTS = Path("bench/RESULTS.md")
SECTION = "## Annotation throughput"
# The distinct descriptions bundled with the project (sample corpus, hand-checked set, few-shot pool).
DESCRIPTION_SOURCES = (*TEXT_SOURCES, Path("assets/fewshot.jsonl"))


def distinct_texts(n: int) -> list[str]:
    """`n` distinct descriptions: the bundled ones, then copies marked as such if more are needed,
    so that no answer comes from the cache."""
    seen: dict[str, None] = {}
    for path in DESCRIPTION_SOURCES:
        for _, obj in read_jsonl(path):
            seen.setdefault(obj["text"], None)
    texts = list(seen)
    out = texts[:n]
    copy = 2
    while len(out) < n:
        out += [f"{t} (copy {copy})" for t in texts[: n - len(out)]]
        copy += 1
    return out


def valid_answer(body: dict) -> str:
    """A compact answer naming the description's first word, so that every answer aligns."""
    return json.dumps({"targets": [last_user_text(body).split()[0]], "substrates": []})


def _serve(latency: float, conn, fault_for) -> None:
    server = ChatCompletionsDouble(
        answer=valid_answer, latency_s=latency, full_bodies=False, fault_for=fault_for
    )
    server.serve_forever(on_ready=conn.send)


@contextmanager
def double_in_child(latency: float, fault_for=None) -> Iterator[tuple[str, dict]]:
    """The double in its own process (failing requests as `fault_for` says, if given). Yields its
    base URL and a dict that receives its counters (requests, most in flight at once, connections,
    faults served, CPU seconds) when the block ends."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(latency, child, fault_for), daemon=True)
    process.start()
    base_url, stats = parent.recv(), {}
    try:
        before = httpx.get(base_url + "/stats").json()
        yield base_url, stats
        after = httpx.get(base_url + "/stats").json()
        stats.update(after, cpu_s=after["cpu_s"] - before["cpu_s"])
    finally:
        process.terminate()
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
        "client_cpu_ms_per_doc": round(1000 * cpu_s / docs, 3),
        "server_cpu_ms_per_doc": round(1000 * server["cpu_s"] / docs, 3),
        "server_max_in_flight": server["max_in_flight"],
        "load_avg": [round(x, 2) for x in os.getloadavg()],
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
        docs = [nlp.make_doc(t) for t in texts]
        gc.collect()  # the garbage of the settings before is not this one's to collect
        cpu, began = time.process_time(), time.monotonic()
        docs, seconds = annotate(nlp, docs, desc=f"{in_flight} in flight")
        cpu, ended = time.process_time() - cpu, time.monotonic()
        teacher_of(nlp).close()
        # The same path without HTTP: the replay teacher answers from the cache just written.
        replay = load_annotator(CONFIG, {**project_overrides(),
                "vars.backend": "replay",
                "vars.task": "compact",
                "vars.model": "openai:bench",
                "vars.cache_dir": tmp,
            },
        )
        replay_docs = [replay.make_doc(t) for t in texts]
        gc.collect()
        replay_cpu = time.process_time()
        annotate(replay, replay_docs, desc="replay")
        replay_cpu = time.process_time() - replay_cpu
    assert all(doc.ents for doc in docs), "every answer should align"
    assert server["requests"] == len(texts), "every description should be asked (cold cache)"
    row = _row("ours (assay_ner.OpenAICompatible.v1)", in_flight, len(texts), seconds, cpu, latency, server)
    # Where the wall time beyond the requests goes: before the first request, after the last answer.
    row["to_first_request_s"] = round(server["first_arrival"] - began, 3)
    row["after_last_answer_s"] = round(ended - server["last_answer"], 3)
    row["replay_cpu_ms_per_doc"] = round(1000 * replay_cpu / len(texts), 3)
    return row


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
        *section_head(SECTION, command, where),
        f"A chat-completions double (tests/llm_double.py: asyncio, own process) on 127.0.0.1 answers each "
        f"request after {latency * 1000:.0f} ms; ideal = in flight / latency. Distinct descriptions, cold "
        "answer cache (every document is asked). Our path is the annotate step's: prompting, cache "
        "lookup and put, HTTP, parsing, guideline cues and alignment; stock spacy-llm is its model "
        "call alone. Client CPU is the client process's (user + system); the double's is its own "
        'process\'s. "Of which without HTTP": the same descriptions through the same pipeline with the '
        "replay teacher answering from the cache just written (prompting, cache keys and lookups, "
        "parsing, cues, alignment, spacy-llm), so the rest of the client CPU is the HTTP path. The "
        "seconds before the first request reached the double and after its last answer left show "
        "what is not overlapped with requests (setup, parsing and aligning the "
        "batch). The load average column is read at the end of each setting.",
        "",
        "| path | in flight | docs | seconds | docs/s | ideal docs/s | ratio to ideal | client CPU ms/doc "
        "| of which without HTTP | double CPU ms/doc | double saw at once | s to first request "
        "| s after last answer | load avg |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['path']} | {r['in_flight']} | {r['docs']} | {r['seconds']} | {r['docs_per_s']} | "
            f"{r['ideal_docs_per_s']} | {r['ratio']} | {r['client_cpu_ms_per_doc']} | "
            f"{r.get('replay_cpu_ms_per_doc', '')} | {r['server_cpu_ms_per_doc']} | "
            f"{r['server_max_in_flight']} | "
            f"{r.get('to_first_request_s', '')} | {r.get('after_last_answer_s', '')} | "
            f"{' / '.join(str(x) for x in r['load_avg'])} |"
        )
    return "\n".join(lines) + "\n"


def write_section(text: str, path: Path = RESULTS, section: str = SECTION) -> None:
    """Replace the benchmark's `section` of `path` (or append it), leaving the others alone."""
    old = path.read_text(encoding="utf8") if path.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(section)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    new = pattern.sub(lambda _: text + "\n", old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text
    path.write_text(new, encoding="utf8")


def main(
    n_docs: int = typer.Option(1000, help="Distinct descriptions per setting"),
    latency: float = typer.Option(0.2, help="Seconds the double takes per answer"),
    in_flight: list[int] = typer.Option([1, 8, 32, 128], help="Concurrency settings to measure"),
    stock_docs: int = typer.Option(50, help="Descriptions for stock spacy-llm (sequential: slow; 0: skip)"),
    write: bool = typer.Option(True, help="Write the section into --results"),
    results: Path = typer.Option(RESULTS, help="Markdown file whose section this benchmark rewrites"),
):
    logging.basicConfig(level=logging.WARNING)
    where = machine()
    texts = distinct_texts(n_docs)
    rows = [ours(texts, latency, k) for k in in_flight]
    if stock_docs:
        rows.append(stock(texts[:stock_docs], latency))
    command = (
        f"python -m bench.annotate_throughput --n-docs {n_docs} --latency {latency} "
        + " ".join(f"--in-flight {k}" for k in in_flight)
        + f" --stock-docs {stock_docs}"
    )
    section = render(rows, latency, command, where)
    typer.echo(section)
    if write:
        write_section(section, results)


if __name__ == "__main__":
    typer.run(main)
