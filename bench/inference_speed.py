"""Inference speed on CPU: en_assay_ner's `nlp.pipe` against transformers' token-classification pipeline.

Both sides run the same backbone (the MiniLM stand-in: our pipeline fine-tuned with configs/ner.cfg,
the baseline with components/training/baseline.py, both on the gold tuning set) over the same texts
(the bundled descriptions cycled to --n-docs) with the same number of torch threads.

What is timed, round-robin (--repeats rounds, so that the other jobs on the machine fall on every
setup alike; the median counts):

- the spaCy pipeline as it ships: `spacy.load(model)` and `nlp.pipe(texts)` with no other argument;
- the same weights under the old defaults (plain TransformerModel.v3, batch 64, fp32) and under
  variants of the new ones (SPACY_SETUPS: each is a set of edits to the pipeline's own config);
- `pipeline("token-classification", aggregation_strategy="simple")` at each --hf-batch-size;
- the upper bound: the backbone's forward pass alone (fp32 and int8) on the texts' word pieces,
  tokenised beforehand, sorted by length and padded per group, with nothing before or after it.

Every spaCy setup (and the transformers pipeline) is also scored on the hand-checked set, and its
predictions on the timed texts are compared with those of the old defaults: a speed-up that changes
the predictions shows what it costs in F1. And each spaCy setup is checked for one answer per
description: over the distinct bundled texts, how many get other entities (or other confidence
bits) in batches of 64, in a shuffled batch or alone (`nlp(text)`) than in its default batch.
"per-batch int8" is torch's own dynamic quantisation (the default before the row-scaled one).

    python -m bench.inference_speed en_assay_ner training/baseline/model
"""

from __future__ import annotations

import copy
import json
import logging
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import spacy
import typer
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import filter_spans, load_model_from_config, registry

from bench.common import benchmark_texts, machine
from components.data.docs import read_span_docs
from components.evaluation.metrics import score_entities

logger = logging.getLogger("bench")

PLAIN_TRANSFORMER = "spacy-transformers.TransformerModel.v3"
BUCKETED_TRANSFORMER = "assay_ner.BucketedTransformerModel.v1"
# The earlier defaults: what configs/ner.cfg shipped with before length bucketing and int8.
OLD_DEFAULTS = {
    "components.transformer.model.@architectures": PLAIN_TRANSFORMER,
    "components.transformer.model.bucket_wordpieces": None,
    "components.transformer.max_batch_items": 4096,
    "nlp.batch_size": 64,
    "components.int8.enabled": False,
}
# name -> edits of the pipeline's config (dotted path -> value; None deletes the key). "defaults"
# is the pipeline as it is; the rest change one or two settings of it.


def bucketed(bucket_wordpieces: int, batch_size: int, int8: bool) -> dict:
    return {
        "components.transformer.model.@architectures": BUCKETED_TRANSFORMER,
        "components.transformer.model.bucket_wordpieces": bucket_wordpieces,
        "nlp.batch_size": batch_size,
        "components.int8.enabled": int8,
    }


PER_BATCH_INT8 = "per-batch int8 (torch dynamic quantisation, the earlier default)"
SPACY_SETUPS: dict[str, dict] = {
    "defaults": {},
    "fp32": {"components.int8.enabled": False},
    PER_BATCH_INT8: {"components.int8.enabled": False},
    "old defaults (plain, batch 64, fp32)": OLD_DEFAULTS,
    "bucketed 1024, batch 1000, int8": bucketed(1024, 1000, int8=True),
    "bucketed 4096, batch 1000, int8": bucketed(4096, 1000, int8=True),
}


@dataclass
class Setup:
    name: str
    system: str  # "spaCy", "transformers" or "backbone"
    run: Callable[[list[str]], list[tuple]]  # texts -> each text's (start, end, label) entities
    scored: bool = True  # scored on the hand-checked set (not the bare backbone)


def edited_config(config, edits: dict):
    config = copy.deepcopy(config)
    for dotted, value in edits.items():
        *path, key = dotted.split(".")
        section = config
        for part in path:
            section = section[part]
        if value is None:
            section.pop(key, None)
        else:
            section[key] = value
    return config


def load_setup(model: str, edits: dict) -> Language:
    """The pipeline with its own config edited: built from the edited config, weights from disk."""
    base = spacy.load(model)
    if not edits:
        return base
    nlp = load_model_from_config(edited_config(base.config, edits), auto_fill=False)
    return nlp.from_disk(base.path)


def per_batch_int8(nlp: Language) -> Language:
    """torch's dynamic quantisation of the transformer's linear layers: activations scaled by each
    forward pass's range over the whole padded batch."""
    import torch

    for node in nlp.get_pipe("transformer").model.walk():
        for shim in node.shims:
            torch.ao.quantization.quantize_dynamic(
                shim._model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True
            )
    return nlp


def answers(docs) -> list[tuple]:
    return [tuple((e.start_char, e.end_char, e.label_, e._.confidence) for e in doc.ents) for doc in docs]


def batch_dependence(nlp: Language, texts: list[str]) -> dict:
    """How many of `texts` get other entities (or confidences) than in the pipeline's default batch:
    in batches of 64, in a shuffled default batch, alone."""
    import random

    default = answers(nlp.pipe(texts))
    order = list(range(len(texts)))
    random.Random(0).shuffle(order)
    shuffled = dict(zip(order, answers(nlp.pipe([texts[i] for i in order])), strict=True))
    others = {
        "batch_64": answers(nlp.pipe(texts, batch_size=64)),
        "shuffled": [shuffled[i] for i in range(len(texts))],
        "alone": answers(nlp(text) for text in texts),
    }
    result = {"texts": len(texts)}
    for name, other in others.items():
        result[f"{name}_entities"] = sum(
            [e[:3] for e in a] != [e[:3] for e in b] for a, b in zip(default, other, strict=True)
        )
        result[f"{name}_bits"] = sum(a != b for a, b in zip(default, other, strict=True))
    return result


def spacy_run(nlp: Language) -> Callable[[list[str]], list[tuple]]:
    def run(texts: list[str]) -> list[tuple]:
        return [tuple((e.start_char, e.end_char, e.label_) for e in doc.ents) for doc in nlp.pipe(texts)]

    return run


def hf_run(hf, batch_size: int) -> Callable[[list[str]], list[tuple]]:
    def run(texts: list[str]) -> list[tuple]:
        outputs = hf(texts, batch_size=batch_size)
        return [tuple((e["start"], e["end"], e["entity_group"]) for e in ents) for ents in outputs]

    return run


def backbone_run(nlp: Language, texts: list[str], bucket_wordpieces: int) -> Callable[[list[str]], list]:
    """The transformer's forward pass alone over `texts`' word pieces, tokenised here, beforehand,
    sorted by length and padded per group of at most `bucket_wordpieces`: the most the pipeline
    could do on these texts if everything around the backbone took no time."""
    import torch

    # The installed package's copy where there is one (the functions are the same).
    buckets = sys.modules[registry.architectures.get("assay_ner.BucketedTransformerModel.v1").__module__]

    trf = nlp.get_pipe("transformer").model
    ids = trf.tokenizer(texts, add_special_tokens=True)["input_ids"]
    widths = [buckets.padded_width(len(x)) for x in ids]
    batches = []
    for bucket in buckets.length_buckets(widths, [1] * len(ids), bucket_wordpieces):
        width = widths[bucket[0]]
        input_ids = torch.zeros((len(bucket), width), dtype=torch.long)
        mask = torch.zeros((len(bucket), width), dtype=torch.long)
        for row, i in enumerate(bucket):
            input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
            mask[row, : len(ids[i])] = 1
        batches.append((input_ids, mask))
    backbone = trf.transformer

    def run(_texts: list[str]) -> list:
        backbone.eval()
        with torch.inference_mode():
            for input_ids, mask in batches:
                backbone(input_ids=input_ids, attention_mask=mask)
        return []

    return run


def as_docs(nlp: Language, texts: list[str], entities: list[tuple]) -> list[Doc]:
    """Character-offset entities as Docs, snapped outwards to spaCy's tokens for scoring."""
    docs = []
    for text, ents in zip(texts, entities, strict=True):
        doc = nlp.make_doc(text)
        spans = (doc.char_span(a, b, label=label, alignment_mode="expand") for a, b, label in ents)
        doc.ents = filter_spans([s for s in spans if s is not None])
        docs.append(doc)
    return docs


def time_once(setup: Setup, texts: list[str], threads: int) -> tuple[float, list[tuple]]:
    import torch

    torch.set_num_threads(threads)
    start = time.perf_counter()
    out = setup.run(texts)
    return time.perf_counter() - start, out


def main(
    model: str = typer.Argument("en_assay_ner", help="Installed package name or pipeline directory"),
    baseline: Path = typer.Argument(Path("training/baseline/model"), exists=True, file_okay=False),
    handchecked: Path = typer.Option(Path("assets/handchecked.jsonl"), exists=True, dir_okay=False),
    n_docs: int = typer.Option(1000, help="Texts per measurement"),
    threads: int = typer.Option(2, help="torch threads, the same for every setup"),
    setup: list[str] = typer.Option(list(SPACY_SETUPS), help="spaCy setups (SPACY_SETUPS names)"),
    hf_batch_size: list[int] = typer.Option([16, 32, 64, 128], help="transformers pipeline batch sizes"),
    upper_bound_wordpieces: int = typer.Option(2048, help="Padded word pieces per backbone-only batch"),
    repeats: int = typer.Option(3, help="Rounds over all setups"),
    output: Path = typer.Option(Path("metrics/bench/inference_speed.json"), dir_okay=False),
):
    import torch
    from transformers import pipeline

    if Path(model).is_dir():  # an installed package registers its own copies of these
        from components.pipeline import answer, bio_ner, bucketing, int8  # noqa: F401

    torch.set_num_threads(threads)
    texts = benchmark_texts(n_docs)
    pipelines = {name: load_setup(model, SPACY_SETUPS[name]) for name in setup}
    if PER_BATCH_INT8 in pipelines:
        per_batch_int8(pipelines[PER_BATCH_INT8])
    shipped = {
        "batch_size": pipelines["defaults"].batch_size,
        "transformer": pipelines["defaults"].config["components"]["transformer"]["model"]["@architectures"],
        "bucket_wordpieces": pipelines["defaults"]
        .config["components"]["transformer"]["model"]
        .get("bucket_wordpieces"),
        "max_batch_items": pipelines["defaults"].config["components"]["transformer"]["max_batch_items"],
        "int8": pipelines["defaults"].config["components"]["int8"]["enabled"],
    }
    hf = pipeline("token-classification", model=str(baseline), aggregation_strategy="simple", device=-1)
    fp32 = load_setup(model, {"components.int8.enabled": False})
    quantized = load_setup(model, {"components.int8.enabled": True})
    setups = [Setup(f"spaCy {name}", "spaCy", spacy_run(nlp)) for name, nlp in pipelines.items()]
    setups += [Setup(f"transformers batch {bs}", "transformers", hf_run(hf, bs)) for bs in hf_batch_size]
    setups += [
        Setup(f"backbone only, {kind}", "backbone", backbone_run(nlp, texts, upper_bound_wordpieces), False)
        for kind, nlp in (("fp32", fp32), ("int8", quantized))
    ]

    distinct = list(dict.fromkeys(benchmark_texts(10**6)))
    dependence = {name: batch_dependence(nlp, distinct) for name, nlp in pipelines.items()}

    # Accuracy first; it also warms every setup up.
    gold = read_span_docs(spacy.blank("en"), handchecked)
    gold_texts = [doc.text for doc in gold]
    accuracy = {}
    for s in setups:
        if s.scored:
            _, entities = time_once(s, gold_texts, threads)
            predicted = as_docs(fp32, gold_texts, entities)
            accuracy[s.name] = score_entities(zip(gold, predicted, strict=True))
        else:
            time_once(s, texts, threads)

    loads = []
    seconds: dict[str, list[float]] = {s.name: [] for s in setups}
    predictions: dict[str, list[tuple]] = {}
    for round_no in range(repeats):
        for s in setups:
            took, predictions[s.name] = time_once(s, texts, threads)
            seconds[s.name].append(took)
            logger.info("round %d, %s: %.1f docs/s", round_no + 1, s.name, n_docs / took)
        loads.append(machine()["load_avg"])
    reference = f"spaCy {next(iter(n for n in setup if n.startswith('old defaults')), setup[0])}"
    rows = []
    for s in setups:
        row = {
            "setup": s.name,
            "system": s.system,
            "docs_per_s": n_docs / statistics.median(seconds[s.name]),
            "docs_per_s_runs": [round(n_docs / x, 1) for x in seconds[s.name]],
            "ents_f": accuracy[s.name]["ents_f"] if s.scored else None,
        }
        if s.system == "spaCy":
            row["docs_differing_from_old_defaults"] = sum(
                a != b for a, b in zip(predictions[s.name], predictions[reference], strict=True)
            )
            row["batch_dependence"] = dependence[s.name.removeprefix("spaCy ")]
        rows.append(row)
    hf_best = max((r for r in rows if r["system"] == "transformers"), key=lambda r: r["docs_per_s"])
    for row in rows:
        row["ratio_to_hf_best"] = row["docs_per_s"] / hf_best["docs_per_s"]
    defaults = next(r for r in rows if r["setup"] == "spaCy defaults")
    result = {
        "machine": machine(),
        "load_avg_after_each_round": loads,
        "torch": torch.__version__,
        "model": model,
        "shipped_defaults": shipped,
        "baseline": str(baseline),
        "n_docs": n_docs,
        "threads": threads,
        "repeats": repeats,
        "rows": rows,
        "accuracy": accuracy,
        "hf_best": hf_best["setup"],
        "ratio_defaults_to_hf_best": defaults["ratio_to_hf_best"],
        "defaults_share_of_upper_bound": {
            r["setup"]: defaults["docs_per_s"] / r["docs_per_s"] for r in rows if r["system"] == "backbone"
        },
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf8")
    typer.echo(render(result))


def render(result: dict) -> str:
    m = result["machine"]
    lines = [
        f"{result['n_docs']} texts, {result['threads']} torch threads, median of {result['repeats']} "
        f"rounds; {m['cpu']}, {m['cores']} cores, {m['date']}; load average (1/5/15 min) at the end "
        f"of each round: {'; '.join(' / '.join(map(str, x)) for x in result['load_avg_after_each_round'])}",
        f"shipped defaults: {result['shipped_defaults']}",
        "",
        "| setup | docs/s (median) | each round | / transformers best | hand-checked F1 "
        "| docs differing from old defaults | other entities: batch 64 / shuffled / alone "
        "| other bits: batch 64 / shuffled / alone |",
        "|---|---:|---|---:|---:|---:|---|---|",
        *(
            f"| {r['setup']} | {r['docs_per_s']:.1f} | {', '.join(map(str, r['docs_per_s_runs']))} "
            f"| {r['ratio_to_hf_best']:.2f}x | {'-' if r['ents_f'] is None else format(r['ents_f'], '.4f')} "
            f"| {r.get('docs_differing_from_old_defaults', '-')} | {_dependence(r, 'entities')} "
            f"| {_dependence(r, 'bits')} |"
            for r in result["rows"]
        ),
        "",
        f"defaults / best transformers ({result['hf_best']}): {result['ratio_defaults_to_hf_best']:.2f}x; "
        "defaults / upper bound: "
        + ", ".join(f"{k} {v:.2f}" for k, v in result["defaults_share_of_upper_bound"].items()),
    ]
    return "\n".join(lines) + "\n"


def _dependence(row: dict, kind: str) -> str:
    if "batch_dependence" not in row:
        return "-"
    found = row["batch_dependence"]
    return " / ".join(str(found[f"{name}_{kind}"]) for name in ("batch_64", "shuffled", "alone")) + (
        f" of {found['texts']}"
    )


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    typer.run(main)
