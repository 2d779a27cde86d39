"""Inference speed on CPU: en_assay_ner's nlp.pipe against transformers' token-classification pipeline.

Both sides run the same backbone (the MiniLM stand-in: our pipeline fine-tuned by scripts/train.py,
the baseline by scripts/baseline.py) over the same texts (the bundled descriptions cycled to
--n-docs) with the same number of torch threads. The configurations are measured round-robin,
--repeats times, so that a change in the machine's load falls on every side alike; the median counts.
Every configuration is also scored on the hand-checked set, so a speed-up that changes the
predictions shows what it costs in F1 (int8's dynamic quantisation scales each batch's activations
by that batch's range, so with int8 even the batch size changes the predictions a little).

    python -m bench.inference_speed en_assay_ner training/baseline/model
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import spacy
import typer
from spacy.tokens import Doc
from spacy.util import filter_spans

import components  # noqa: F401  (registers assay_answer and int8 for a pipeline directory)
from bench.common import benchmark_texts, machine
from components.evaluation.metrics import score_entities
from components.evaluation.report import read_gold

logger = logging.getLogger("bench")


@dataclass
class Setup:
    name: str
    system: str  # "spaCy fp32", "spaCy int8" or "transformers"
    run: Callable[[list[str]], list[tuple]]  # texts -> each text's (start, end, label) entities
    threads: int  # torch threads in each process


def spacy_run(nlp, batch_size: int, n_process: int):
    def run(texts: list[str]) -> list[tuple]:
        docs = nlp.pipe(texts, batch_size=batch_size, n_process=n_process)
        return [tuple((e.start_char, e.end_char, e.label_) for e in doc.ents) for doc in docs]

    return run


def hf_run(hf, batch_size: int):
    def run(texts: list[str]) -> list[tuple]:
        outputs = hf(texts, batch_size=batch_size)
        return [tuple((e["start"], e["end"], e["entity_group"]) for e in ents) for ents in outputs]

    return run


def as_docs(nlp, texts: list[str], entities: list[tuple]) -> list[Doc]:
    """Character-offset entities as Docs, snapped outwards to spaCy's tokens for scoring."""
    docs = []
    for text, ents in zip(texts, entities, strict=True):
        doc = nlp.make_doc(text)
        spans = (doc.char_span(a, b, label=label, alignment_mode="expand") for a, b, label in ents)
        doc.ents = filter_spans([s for s in spans if s is not None])
        docs.append(doc)
    return docs


def time_once(setup: Setup, texts: list[str]) -> tuple[float, list[tuple]]:
    import torch

    torch.set_num_threads(setup.threads)
    start = time.perf_counter()
    out = setup.run(texts)
    return time.perf_counter() - start, out


def main(
    model: str = typer.Argument("en_assay_ner", help="Installed package name or pipeline directory"),
    baseline: Path = typer.Argument(Path("training/baseline/model"), exists=True, file_okay=False),
    handchecked: Path = typer.Option(Path("corpus/handchecked.spacy"), exists=True, dir_okay=False),
    n_docs: int = typer.Option(1000, help="Texts per measurement"),
    threads: int = typer.Option(2, help="torch threads in all, shared by the processes of n_process"),
    spacy_batch_size: list[int] = typer.Option([64, 256], help="nlp.pipe batch sizes (repeatable)"),
    n_process: list[int] = typer.Option([1, 2], help="nlp.pipe process counts (repeatable)"),
    int8: bool = typer.Option(True, help="Also measure the int8-quantised transformer"),
    hf_batch_size: list[int] = typer.Option([1, 32, 128], help="transformers pipeline batch sizes"),
    repeats: int = typer.Option(3, help="Rounds over all configurations"),
    output: Path = typer.Option(Path("metrics/bench/inference_speed.json"), dir_okay=False),
):
    from transformers import pipeline

    texts = benchmark_texts(n_docs)
    pipelines = {"spaCy fp32": spacy.load(model)}
    if int8:
        pipelines["spaCy int8"] = spacy.load(model, config={"components": {"int8": {"enabled": True}}})
    hf = pipeline("token-classification", model=str(baseline), aggregation_strategy="simple", device=-1)
    setups = [
        Setup(f"{system} batch {bs} n_process {n}", system, spacy_run(nlp, bs, n), max(1, threads // n))
        for system, nlp in pipelines.items()
        for bs in spacy_batch_size
        for n in n_process
    ] + [Setup(f"transformers batch {bs}", "transformers", hf_run(hf, bs), threads) for bs in hf_batch_size]

    # Accuracy first; it also warms every setup up.
    gold = read_gold(handchecked, pipelines["spaCy fp32"])
    gold_texts = [doc.text for doc in gold]
    accuracy = {}
    for setup in setups:
        _, entities = time_once(setup, gold_texts)
        predicted = as_docs(pipelines["spaCy fp32"], gold_texts, entities)
        accuracy[setup.name] = score_entities(zip(gold, predicted, strict=True))

    seconds: dict[str, list[float]] = {s.name: [] for s in setups}
    predictions: dict[str, list[tuple]] = {}
    for round_no in range(repeats):
        for setup in setups:
            took, predictions[setup.name] = time_once(setup, texts)
            seconds[setup.name].append(took)
            logger.info("round %d, %s: %.1f docs/s", round_no + 1, setup.name, n_docs / took)
    # Does batching change a system's predictions? Compare each setup with its system's first one.
    reference = {}
    for s in setups:
        reference.setdefault(s.system, s.name)
    rows = [
        {
            "setup": s.name,
            "docs_per_s": n_docs / statistics.median(seconds[s.name]),
            "docs_per_s_runs": [round(n_docs / x, 1) for x in seconds[s.name]],
            "ents_f": accuracy[s.name]["ents_f"],
            "same_predictions_as": reference[s.system]
            if predictions[s.name] == predictions[reference[s.system]]
            else None,
        }
        for s in setups
    ]
    best = {
        side: max((r for r in rows if r["setup"].startswith(side)), key=lambda r: r["docs_per_s"])
        for side in ("spaCy", "transformers")
    }
    result = {
        "machine": machine(),
        "model": model,
        "baseline": str(baseline),
        "n_docs": n_docs,
        "threads": threads,
        "repeats": repeats,
        "rows": rows,
        "accuracy": accuracy,
        "best": {side: r["setup"] for side, r in best.items()},
        "ratio_best": best["spaCy"]["docs_per_s"] / best["transformers"]["docs_per_s"],
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf8")
    typer.echo(render(result))


def render(result: dict) -> str:
    m = result["machine"]
    lines = [
        f"{result['n_docs']} texts, {result['threads']} torch threads, median of {result['repeats']} rounds; "
        f"{m['cpu']}, {m['cores']} cores, load {m['load_avg']}, {m['date']}",
        "",
        "| setup | docs/s (median) | each round | hand-checked F1 | same predictions as |",
        "|---|---:|---|---:|---|",
        *(
            f"| {r['setup']} | {r['docs_per_s']:.1f} | {', '.join(map(str, r['docs_per_s_runs']))} "
            f"| {r['ents_f']:.4f} | {r['same_predictions_as'] or 'differ'} |"
            for r in result["rows"]
        ),
        "",
        f"best spaCy ({result['best']['spaCy']}) / best transformers ({result['best']['transformers']}): "
        f"{result['ratio_best']:.2f}x",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    typer.run(main)
