"""The spaCy pipeline (configs/ner.cfg) against the plain-transformers baseline: same data, same backbone.

Each variant is a set of config overrides (VARIANTS below) on configs/ner.cfg, trained with the
train step's own commands (scripts.resolve_transformer, then `spacy train`); the last checkpoint
(model-last: no checkpoint is picked on the scored docs) is scored with
components.evaluation.metrics.score_entities. `--variant baseline` runs scripts.baseline on the same data.

Two data settings, both scored on the real hand-checked set (assets/handchecked.jsonl):

- `teacher`: the workflow's data: the teacher's labels (corpus/train.spacy, corpus/dev.spacy). Each
  run is also scored where settings may be chosen: against the teacher on the test split (the
  agreement the workflow reports) and against the hand labels of the dev and test splits' texts
  (`assets/tuning.jsonl`: true labels of sample descriptions the student did not train on).
- `gold`: true labels: the hand labels of the sample's real descriptions (assets/tuning.jsonl),
  9 in 10 to train and 1 in 10 for spaCy's dev log, split by text hash.

Results are merged into --results as they arrive, so an interrupted run resumes where it stopped.

    python -m bench.tune_ner gold --variant baseline --variant default --seed 0 --seed 1 --seed 2
"""

from __future__ import annotations

import copy
import logging
import subprocess
import sys
import time
from enum import StrEnum
from pathlib import Path

import spacy
import typer
from spacy.util import load_config

from bench.common import add_result, machine, read_results
from components.data.corpus import assign_splits, normalise_text
from components.data.docs import read_docbin, read_handchecked, read_span_docs, write_docbin
from components.evaluation.metrics import score_entities
from components.evaluation.report import pair_by_text, predict, read_gold
from components.inference.load import load_pipeline
from components.training.transformer import write_training_config

logger = logging.getLogger("bench")

# name -> dotted config path -> value. "baseline" is scripts/baseline.py, not a config; "a+b" applies
# the overrides of a, then b; seq16+warmup36 is the baseline's batching and warm-up.
VARIANTS: dict[str, dict] = {
    "default": {},
    "lr5e-5": {"training.optimizer.learn_rate.initial_rate": 5e-5},
    "lr1e-4": {"training.optimizer.learn_rate.initial_rate": 1e-4},
    "lr2e-4": {"training.optimizer.learn_rate.initial_rate": 2e-4},
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


def gold_split(tuning: Path, out_dir: Path) -> dict[str, Path]:
    """The hand labels of the sample's descriptions as train (with dev folded back in: both systems
    train on the same documents) and dev DocBins; the dev set serves spaCy's log only."""
    docs = read_span_docs(spacy.blank("en"), tuning)
    assignment = assign_splits((doc.text for doc in docs), dev=0.1, test=0.0)
    split = {"train": [], "dev": []}
    for doc in docs:
        split[assignment[normalise_text(doc.text)]].append(doc)
    paths = {name: out_dir / f"gold_{name}.spacy" for name in split}
    write_docbin(paths["train"], split["train"] + split["dev"])
    write_docbin(paths["dev"], split["dev"])
    return paths


def heldout_truth(corpus: Path, tuning: Path, out_dir: Path) -> Path:
    """The hand labels (from `tuning`) of the texts in the corpus's dev and test splits, as a DocBin."""
    nlp = spacy.blank("en")
    held_out = {
        normalise_text(doc.text)
        for name in ("dev", "test")
        for doc in read_docbin(corpus / f"{name}.spacy", nlp.vocab)
    }
    docs = [doc for doc in read_span_docs(nlp, tuning) if normalise_text(doc.text) in held_out]
    path = out_dir / "heldout_truth.spacy"
    write_docbin(path, docs)
    return path


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
        **{f"{label}_string_f": v["f"] for label, v in s["strings_per_type"].items()},
    }


def run_spacy(name: str, config_path: Path, data: dict[str, Path], work: Path, args: dict) -> dict:
    label = system_label(name, config_path)
    output = work / f"{label}-{args['max_steps']}steps-seed{args['seed']}"
    variant_cfg = output / "config.cfg"
    write_training_config(config_path, variant_cfg, args["transformer"], -1)
    config = load_config(variant_cfg, interpolate=False)
    for dotted, value in overrides_of(name).items():
        set_dotted(config, dotted, value)
    config.to_disk(variant_cfg)
    command = [
        sys.executable, "-m", "spacy", "train", str(variant_cfg), "--output", str(output),
        "--code", "components/training/registry.py", "--gpu-id", "-1",
        "--paths.train", str(data["train"]), "--paths.dev", str(data["dev"]),
        "--training.max_steps", str(args["max_steps"]),
        "--training.eval_frequency", str(args["eval_frequency"]),
        "--system.seed", str(args["seed"]),
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - start
    nlp = load_pipeline(output / f"model-{args['checkpoint']}")
    pairs, _ = predict(nlp, read_gold(data["test"], nlp), None)
    row = {"seconds": seconds, **score(pairs)}
    # Where settings are chosen (teacher data): never the hand-checked set above.
    for name in ("vs_teacher", "heldout_truth"):
        if name in data:
            held_out, _ = predict(nlp, read_gold(data[name], nlp), None)
            row[name] = score(held_out)
    return row


def system_label(name: str, config_path: Path) -> str:
    """The variant's name, prefixed by its config's name when that is not configs/ner.cfg."""
    return name if config_path.name == "ner.cfg" else f"{config_path.stem}+{name}"


def run_baseline(data: dict[str, Path], work: Path, args: dict) -> dict:
    output = work / f"baseline-seed{args['seed']}"
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
    data: Data = typer.Argument(..., help="teacher: the workflow's labels; gold: hand labels of the sample"),
    variant: list[str] = typer.Option(..., help=f"Repeatable: baseline, or of {list(VARIANTS)} joined by +"),
    seed: list[int] = typer.Option([0], help="Repeatable: one run of each variant per seed"),
    config: Path = typer.Option(Path("configs/ner.cfg"), exists=True, dir_okay=False),
    corpus: Path = typer.Option(Path("corpus"), file_okay=False, help="teacher: where the .spacy files are"),
    tuning: Path = typer.Option(Path("assets/tuning.jsonl"), exists=True, dir_okay=False),
    handchecked: Path = typer.Option(Path("assets/handchecked.jsonl"), exists=True, dir_okay=False),
    transformer: str = typer.Option("minilm"),
    max_steps: int = typer.Option(300),
    checkpoint: str = typer.Option("last", help="Score model-last or model-best"),
    eval_frequency: int = typer.Option(100),
    baseline_epochs: int = typer.Option(30),
    baseline_lr: float = typer.Option(1e-4, help="The baseline's peak learning rate"),
    work: Path = typer.Option(Path("training/bench"), file_okay=False, help="Configs and trained models"),
    results: Path = typer.Option(Path("metrics/bench/tune_ner.json"), dir_okay=False),
):
    overrides = {name: {} if name == "baseline" else overrides_of(name) for name in variant}
    work = work / data.value if corpus == Path("corpus") else work / f"{data.value}-{corpus.name}"
    work.mkdir(parents=True, exist_ok=True)
    if data is Data.gold:
        paths = gold_split(tuning, work)
    else:
        paths = {name: corpus / f"{name}.spacy" for name in ("train", "dev")}
        paths["vs_teacher"] = corpus / "test.spacy"
        paths["heldout_truth"] = heldout_truth(corpus, tuning, work)
    paths["test"] = work / "handchecked.spacy"
    write_docbin(paths["test"], read_handchecked(spacy.blank("en"), handchecked))
    for run_seed in seed:
        args = {
            "transformer": transformer,
            "max_steps": max_steps,
            "eval_frequency": eval_frequency,
            "baseline_epochs": baseline_epochs,
            "baseline_lr": baseline_lr,
            "seed": run_seed,
            "checkpoint": checkpoint,
        }
        for name in variant:
            system, length = system_label(name, config), f"{max_steps} steps"
            if checkpoint != "last":
                length += f", model-{checkpoint}"
            if corpus != Path("corpus"):
                system += f" on {corpus}"
            if name == "baseline":
                system, length = name, f"{baseline_epochs} epochs, lr {baseline_lr:g}"
            key = f"{data.value} | {system} | {length} | seed {run_seed}"
            if key in read_results(results):
                logger.info("%s: already measured", key)
                continue
            logger.info("%s: training", key)
            if name == "baseline":
                row = run_baseline(paths, work, args)
            else:
                row = run_spacy(name, config, paths, work, args)
            train_docs = len(read_docbin(paths["train"], spacy.blank("en").vocab))
            row.update(overrides=overrides[name], train_docs=train_docs, machine=machine())
            add_result(results, key, row)
            logger.info("%s: F1 %.4f", key, row["ents_f"])
    typer.echo(render(read_results(results)))


def render(table: dict) -> str:
    """Every run, then the mean over seeds of each data | system | length. F1 is on the hand-checked
    set; "vs teacher" (test split) and "held-out truth" (hand labels of the dev and test texts) are
    where teacher-data settings are chosen."""
    lines = [
        "| data | system | length | seed | P | R | F1 | TARGET F1 | SUBSTRATE F1 | string F1 T / S "
        "| vs teacher F1 | held-out truth F1 | train s | load |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    groups: dict[str, list[dict]] = {}
    for key, r in table.items():
        groups.setdefault(key.rsplit(" | ", 1)[0], []).append(r)
        lines.append(
            f"| {key} | {r['ents_p']:.3f} | {r['ents_r']:.3f} | {r['ents_f']:.3f} "
            f"| {r['TARGET_f']:.3f} | {r['SUBSTRATE_f']:.3f} "
            f"| {r['TARGET_string_f']:.3f} / {r['SUBSTRATE_string_f']:.3f} "
            f"| {_f1(r, 'vs_teacher')} | {_f1(r, 'heldout_truth')} | {r['seconds']:.0f} "
            f"| {r['machine']['load_avg'][0]} |"
        )
    lines += [
        "",
        "| data | system | length | seeds | mean F1 | mean TARGET F1 | mean SUBSTRATE F1 "
        "| mean vs teacher F1 "
        "| mean held-out truth F1 |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for group, rows in groups.items():
        mean = {k: sum(r[k] for r in rows) / len(rows) for k in ("ents_f", "TARGET_f", "SUBSTRATE_f")}
        figures = " | ".join(f"{mean[k]:.3f}" for k in ("ents_f", "TARGET_f", "SUBSTRATE_f"))
        extra = " | ".join(_mean_f1(rows, name) for name in ("vs_teacher", "heldout_truth"))
        lines.append(f"| {group} | {len(rows)} | {figures} | {extra} |")
    return "\n".join(lines) + "\n"


def _f1(row: dict, name: str) -> str:
    return f"{row[name]['ents_f']:.3f}" if name in row else "-"


def _mean_f1(rows: list[dict], name: str) -> str:
    found = [row[name]["ents_f"] for row in rows if name in row]
    return f"{sum(found) / len(found):.3f}" if len(found) == len(rows) else "-"


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    typer.run(main)
