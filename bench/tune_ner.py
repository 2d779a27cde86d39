"""Tune configs/ner.cfg against the plain-transformers baseline (issue 5): same data, same backbone.

Each variant is a set of config overrides (VARIANTS below). For each one, scripts/train.py trains
the spaCy pipeline from a copy of configs/ner.cfg with the overrides applied, and the last
checkpoint (model-last: no checkpoint is picked on the scored docs) is scored with
components.evaluation.metrics.score_entities. `--variant baseline` runs scripts/baseline.py on the same data.

Two data settings:

- `teacher`: the workflow's data. Train on the teacher's labels (corpus/train.spacy), score on the
  hand-checked set (corpus/handchecked.spacy).
- `gold`: a proxy with true labels, for this benchmark only. The hand-checked set is split by text
  hash (components.data.corpus.assign_splits) into 180 training and 77 scored documents; both systems get
  the same split. The shipped model never trains on the hand-checked set.

Results are merged into --results as they arrive, so an interrupted run resumes where it stopped.

    python -m bench.tune_ner gold --variant baseline --variant default --max-steps 360
    python -m bench.tune_ner gold --variant transition+lr2e-4 --max-steps 600
"""

from __future__ import annotations

import copy
import json
import logging
import subprocess
import sys
import time
from enum import StrEnum
from pathlib import Path

import spacy
import typer
from spacy.util import load_config

from bench.common import machine
from components.data.corpus import assign_splits, normalise_text, span_record_to_doc
from components.data.records import read_docbin, read_jsonl, write_docbin
from components.evaluation.metrics import score_entities
from components.evaluation.report import pair_by_text, predict, read_gold

logger = logging.getLogger("bench")

# spaCy's transition-based `ner` (the head of sessions 1-2) in the place of `bio_ner`, for comparison;
# the component keeps its name so that the other variants' paths apply to both heads.
TRANSITION_NER = {
    "factory": "ner",
    "incorrect_spans_key": None,
    "moves": None,
    "scorer": {"@scorers": "spacy.ner_scorer.v1"},
    "update_with_oracle_cut_size": 100,
    "model": {
        "@architectures": "spacy.TransitionBasedParser.v2",
        "state_type": "ner",
        "extra_state_tokens": False,
        "hidden_width": 64,
        "maxout_pieces": 2,
        "use_upper": False,
        "nO": None,
        "tok2vec": {
            "@architectures": "spacy-transformers.TransformerListener.v1",
            "grad_factor": 1.0,
            "pooling": {"@layers": "reduce_mean.v1"},
            "upstream": "*",
        },
    },
}

# name -> dotted config path -> value. "baseline" is scripts/baseline.py, not a config; "a+b" applies
# the overrides of a, then b. upper128 needs transition first; seq16+warmup36 is the baseline's
# batching and warm-up.
VARIANTS: dict[str, dict] = {
    "default": {},
    "transition": {"components.bio_ner": TRANSITION_NER},
    "lr5e-5": {"training.optimizer.learn_rate.initial_rate": 5e-5},
    "lr1e-4": {"training.optimizer.learn_rate.initial_rate": 1e-4},
    "lr2e-4": {"training.optimizer.learn_rate.initial_rate": 2e-4},
    "upper128": {"components.bio_ner.model.use_upper": True, "components.bio_ner.model.hidden_width": 128},
    "dropout0.2": {"training.dropout": 0.2},
    "first": {"components.bio_ner.model.tok2vec.pooling": {"@layers": "reduce_first.v1"}},
    "batch2000": {"training.batcher.size": 2000},
    "batch250": {"training.batcher.size": 250},
    "seq16": {
        "training.batcher": {"@batchers": "spacy.batch_by_sequence.v1", "size": 16, "get_length": None}
    },
    "warmup36": {"training.optimizer.learn_rate.warmup_steps": 36},
    "noL2": {"training.optimizer.L2": 0.0},
    "noclip": {"training.optimizer.grad_clip": 0.0},
}


class Data(StrEnum):
    teacher = "teacher"
    gold = "gold"


def gold_split(handchecked: Path, out_dir: Path, test_share: float) -> dict[str, Path]:
    """Split the hand-checked records by text hash into train and test DocBins (the `gold` proxy).

    assign_splits always carves out a dev share; it goes back into train (both systems train on
    the same documents) and serves as spaCy's dev set, for its log only: model-last is scored."""
    nlp = spacy.blank("en")
    docs = [span_record_to_doc(nlp, obj, f"{handchecked}:{line}") for line, obj in read_jsonl(handchecked)]
    assignment = assign_splits((doc.text for doc in docs), dev=0.1, test=test_share)
    split = {name: [] for name in ("train", "dev", "test")}
    for doc in docs:
        split[assignment[normalise_text(doc.text)]].append(doc)
    paths = {name: out_dir / f"gold_{name}.spacy" for name in split}
    write_docbin(paths["train"], split["train"] + split["dev"])
    write_docbin(paths["dev"], split["dev"])
    write_docbin(paths["test"], split["test"])
    return paths


def overrides_of(name: str) -> dict:
    unknown = [part for part in name.split("+") if part not in VARIANTS]
    if unknown:
        raise typer.BadParameter(f"unknown variant(s) {unknown}; known: baseline, {', '.join(VARIANTS)}")
    return {k: v for part in name.split("+") for k, v in VARIANTS[part].items()}


def set_dotted(config, dotted: str, value) -> None:
    *parents, key = dotted.split(".")
    section = config
    for name in parents:
        section = section[name]
    if key not in section:
        raise KeyError(f"{dotted}: no such setting in the config")
    # A copy: later overrides write into nested sections, which must not change VARIANTS.
    section[key] = copy.deepcopy(value)


def score(pairs: list) -> dict:
    s = score_entities(pairs)
    return {
        "ents_p": s["ents_p"],
        "ents_r": s["ents_r"],
        "ents_f": s["ents_f"],
        "token_acc": s["token_acc"],
        **{f"{label}_f": v["f"] for label, v in s["ents_per_type"].items()},
    }


def run_spacy(name: str, config_path: Path, data: dict[str, Path], work: Path, args: dict) -> dict:
    config = load_config(config_path)
    for dotted, value in overrides_of(name).items():
        set_dotted(config, dotted, value)
    label = system_label(name, config_path)
    variant_cfg = work / f"{label}.cfg"
    config.to_disk(variant_cfg)
    output = work / label
    command = [
        sys.executable, "-m", "scripts.train", str(variant_cfg), str(output),
        "--train", str(data["train"]), "--dev", str(data["dev"]), "--transformer", args["transformer"],
        "--gpu-id", "-1", "--max-steps", str(args["max_steps"]),
        "--eval-frequency", str(args["eval_frequency"]), "--seed", str(args["seed"]),
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - start
    nlp = spacy.load(output / "model-last")
    pairs, _ = predict(nlp, read_gold(data["test"], nlp), 64)
    return {"seconds": seconds, **score(pairs)}


def system_label(name: str, config_path: Path) -> str:
    """The variant's name, prefixed by its config's name when that is not configs/ner.cfg."""
    return name if config_path.name == "ner.cfg" else f"{config_path.stem}+{name}"


def run_baseline(data: dict[str, Path], work: Path, args: dict) -> dict:
    output = work / "baseline"
    command = [
        sys.executable, "-m", "scripts.baseline", str(data["train"]), str(data["test"]), str(output),
        "--transformer", args["transformer"], "--epochs", str(args["baseline_epochs"]),
        "--learn-rate", str(args["baseline_lr"]), "--gpu-id", "-1",
        "--seed", str(args["seed"]),
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - start
    vocab = spacy.blank("en").vocab
    gold = read_docbin(data["test"], vocab)
    pairs = pair_by_text(gold, read_docbin(output / "handchecked.spacy", vocab), str(output))
    return {"seconds": seconds, **score(pairs)}


def main(
    data: Data = typer.Argument(..., help="teacher: workflow labels; gold: the hand-checked split proxy"),
    variant: list[str] = typer.Option(..., help=f"Repeatable: baseline, or of {list(VARIANTS)} joined by +"),
    config: Path = typer.Option(Path("configs/ner.cfg"), exists=True, dir_okay=False),
    corpus: Path = typer.Option(Path("corpus"), file_okay=False, help="teacher: where the .spacy files are"),
    handchecked: Path = typer.Option(Path("assets/handchecked.jsonl"), exists=True, dir_okay=False),
    test_share: float = typer.Option(0.3, help="gold: share of the hand-checked set that is scored"),
    transformer: str = typer.Option("minilm"),
    max_steps: int = typer.Option(300),
    eval_frequency: int = typer.Option(100),
    baseline_epochs: int = typer.Option(30),
    baseline_lr: float = typer.Option(1e-4, help="The baseline's peak learning rate"),
    seed: int = typer.Option(0),
    work: Path = typer.Option(Path("training/bench"), file_okay=False, help="Configs and trained models"),
    results: Path = typer.Option(Path("metrics/bench/tune_ner.json"), dir_okay=False),
):
    overrides = {name: {} if name == "baseline" else overrides_of(name) for name in variant}
    work = work / data.value
    work.mkdir(parents=True, exist_ok=True)
    if data is Data.gold:
        paths = gold_split(handchecked, work, test_share)
    else:
        paths = {name: corpus / f"{name}.spacy" for name in ("train", "dev")}
        paths["test"] = corpus / "handchecked.spacy"
    args = {
        "transformer": transformer,
        "max_steps": max_steps,
        "eval_frequency": eval_frequency,
        "baseline_epochs": baseline_epochs,
        "baseline_lr": baseline_lr,
        "seed": seed,
    }
    table = json.loads(results.read_text(encoding="utf8")) if results.exists() else {}
    for name in variant:
        system, length = system_label(name, config), f"{max_steps} steps"
        if name == "baseline":
            system, length = name, f"{baseline_epochs} epochs, lr {baseline_lr:g}"
        key = f"{data.value} | {system} | {length} | seed {seed}"
        if key in table:
            logger.info("%s: already measured", key)
            continue
        logger.info("%s: training", key)
        if name == "baseline":
            row = run_baseline(paths, work, args)
        else:
            row = run_spacy(name, config, paths, work, args)
        # Read again before writing: another run may have added rows meanwhile.
        table = json.loads(results.read_text(encoding="utf8")) if results.exists() else {}
        table[key] = {
            **row,
            "overrides": overrides[name],
            "train_docs": len(read_docbin(paths["train"], spacy.blank("en").vocab)),
            "machine": machine(),
        }
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(table, indent=2) + "\n", encoding="utf8")
        logger.info("%s: F1 %.4f", key, row["ents_f"])
    typer.echo(render(table))


def render(table: dict) -> str:
    lines = [
        "| data | system | length | seed | P | R | F1 | TARGET F1 | SUBSTRATE F1 | train s | load |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key, r in table.items():
        lines.append(
            f"| {key} | {r['ents_p']:.3f} | {r['ents_r']:.3f} | {r['ents_f']:.3f} "
            f"| {r['TARGET_f']:.3f} | {r['SUBSTRATE_f']:.3f} | {r['seconds']:.0f} "
            f"| {r['machine']['load_avg'][0]} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    typer.run(main)
