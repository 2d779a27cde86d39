"""What review is worth: K descriptions chosen by the project's selection, or K at random, made
gold, the student trained again as `make run` trains it and scored on the hand-checked set.

The reviewer is simulated by the hand labels of the sample's descriptions (assets/tuning.jsonl).
Needs the workflow's outputs (`make run`): the teacher's labels (corpus/annotated.jsonl) and the
student trained on them (training/model-calibrated), which assesses every description once. Then, per
K, way of choosing and seed, the review loop's own code runs as the commands run it: the chosen
descriptions become Label Studio tasks (components.review), the simulated reviewer answers each
task with its hand labels in a Label Studio export, review-import's code makes the gold file,
convert's (build_splits, with project.yml's shares) puts it in train in place of the teacher's
labels, and the train step's commands (bench.tune_ner.run_spacy: configs/ner.cfg, `spacy train`,
project.yml's steps) train a student whose last checkpoint is scored on the hand-checked set.
K = 0 is no review: the workflow's own training data. The selection does not depend on the seed;
the random choice is drawn anew for each seed.

What review costs: the share of the chosen descriptions whose prediction the reviewer changed or
rejected (a selection that finds errors changes more) and the tokens there are to read.

Rows are merged into --results as they arrive: an interrupted run resumes where it stopped.

    python -m bench.review_value --k 50 --k 100 --k 200 --seed 0 --seed 1 --seed 2
"""

from __future__ import annotations

import logging
import random
import statistics
from dataclasses import replace
from pathlib import Path

import spacy
import srsly
import typer

from bench.common import add_result, machine, read_results
from bench.tune_ner import run_spacy
from components.data.corpus import normalise_text
from components.data.docs import build_splits, read_handchecked, read_span_docs, write_docbin
from components.data.records import read_jsonl, write_json
from components.inference.load import load_pipeline
from components.review.loop import import_reviewed
from components.review.select import (
    DIVERSITY_DECAY,
    SIGNALS,
    Candidate,
    assess_corpus,
    choose,
    model_version,
    noisy_or,
    span_keys,
    teacher_route,
)
from components.review.tasks import labels_region, review_task, text_keys

logger = logging.getLogger("bench")
STRATEGIES = ("selection", "random")
# --cost-only: the selection with each signal alone and with all three, with and without the
# diversity decay.
ABLATIONS = {**{f"{name} alone": (name,) for name in SIGNALS}, "all three (noisy OR)": SIGNALS}
EMPTY_COST = {"reviewed": 0, "changed_share": None, "teacher_wrong_share": None, "tokens": 0}


def simulated_review(candidates: list[Candidate], version: str, hand: dict[str, list[dict]]) -> list[dict]:
    """Label Studio's JSON export of the chosen descriptions' tasks, each answered with its hand labels."""
    export = []
    for i, c in enumerate(candidates, start=1):
        task = review_task(c.text, c.ids, c.student, version, c.selection())
        result = [
            labels_region(c.text, s["start"], s["end"], s["label"]) for s in hand[normalise_text(c.text)]
        ]
        answer = {"id": i, "result": result, "was_cancelled": False, "updated_at": "2026-01-01T00:00:00Z"}
        export.append({**task, "id": i, "annotations": [answer]})
    return export


def review(chosen: list[Candidate], settings: dict, hand: dict, work: Path) -> tuple[Path, dict]:
    """The simulated review of `chosen` through review-import's code: the gold file, and what the
    review cost and corrected."""
    export, reviewed = work / "export.json", work / "reviewed.jsonl"
    write_json(export, simulated_review(chosen, settings["version"], hand))
    reviewed.unlink(missing_ok=True)  # a rerun starts from no review, as the bench does
    report = import_reviewed(export, reviewed, settings["handchecked"], work / "review.json")
    verdicts = report["verdicts"]
    teacher_wrong = sum(c.teacher != span_keys(hand[normalise_text(c.text)]) for c in chosen)
    return reviewed, {
        "reviewed": report["reviewed"],
        "changed_share": (verdicts["changed"] + verdicts["rejected"]) / report["reviewed"],
        "teacher_wrong_share": teacher_wrong / report["reviewed"],
        "tokens": sum(c.tokens for c in chosen),
        "verdicts": verdicts,
    }


def train(key: str, reviewed: Path | None, settings: dict, work: Path, args: dict) -> dict:
    """Convert with the review's gold file (None: no review), train as the train step does, score."""
    splits, summary = build_splits(
        spacy.blank("en"), settings["annotated"], settings["handchecked"], settings["dev"], settings["test"],
        gold=[settings["fewshot"]], reviewed=reviewed,
    )  # fmt: skip
    data = {name: work / f"{name}.spacy" for name in ("train", "dev")}
    for name, path in data.items():
        write_docbin(path, splits[name])
    data["test"] = settings["handchecked_docbin"]
    logger.info(
        "%s: training on %d docs (%d reviewed)", key, len(splits["train"]), summary["reviewed_train_docs"]
    )
    return {**run_spacy("default", settings["config"], data, work, args), "train_docs": len(splits["train"])}


def plans(candidates: list[Candidate], sizes: list[int], seed: int) -> list[tuple[str, int, list[Candidate]]]:
    """(strategy, K, chosen) for one seed: no review, then per K the selection and K at random."""
    found = [("none", 0, [])]
    for size in sizes:
        found.append(("selection", size, choose(candidates, size)))
        found.append(("random", size, random.Random(seed).sample(candidates, min(size, len(candidates)))))
    return found


def main(
    k: list[int] = typer.Option(..., help="Descriptions reviewed; repeatable"),
    seed: list[int] = typer.Option([0], help="Repeatable: one training run per seed"),
    annotated: Path = typer.Option(Path("corpus/annotated.jsonl"), exists=True, dir_okay=False),
    model: str = typer.Option("training/model-calibrated", help="The student that chooses (make run's)"),
    tuning: Path = typer.Option(Path("assets/tuning.jsonl"), exists=True, dir_okay=False),
    fewshot: Path = typer.Option(Path("assets/fewshot.jsonl"), exists=True, dir_okay=False),
    handchecked: Path = typer.Option(Path("assets/handchecked.jsonl"), exists=True, dir_okay=False),
    config: Path = typer.Option(Path("configs/ner.cfg"), exists=True, dir_okay=False),
    transformer: str = typer.Option("minilm"),
    max_steps: int = typer.Option(None, help="Default: project.yml's"),
    cost_only: bool = typer.Option(False, help="Simulate the reviews and print their cost; train nothing"),
    work: Path = typer.Option(Path("training/bench/review"), file_okay=False),
    results: Path = typer.Option(Path("metrics/bench/review_value.json"), dir_okay=False),
):
    project = srsly.read_yaml("project.yml")["vars"]
    steps = max_steps or project["max_steps"]
    hand = {
        normalise_text(doc.text): [
            {"start": e.start_char, "end": e.end_char, "label": e.label_} for e in doc.ents
        ]
        for doc in read_span_docs(spacy.blank("en"), tuning, source="tuning")
    }
    nlp = load_pipeline(model)
    candidates = assess_corpus(nlp, annotated, text_keys([handchecked, fewshot]))
    unlabelled = [c.text for c in candidates if normalise_text(c.text) not in hand]
    if unlabelled:
        raise typer.BadParameter(
            f"{len(unlabelled)} description(s) of {annotated} have no hand label in {tuning}, e.g. "
            f"{unlabelled[0][:60]!r}: the bench needs the bundled sample"
        )
    settings = {
        "version": model_version(nlp), "annotated": annotated, "handchecked": handchecked, "fewshot": fewshot,
        "dev": project["dev_share"], "test": project["test_share"], "config": config,
        "handchecked_docbin": work / "handchecked.spacy",
    }  # fmt: skip
    write_docbin(settings["handchecked_docbin"], read_handchecked(spacy.blank("en"), handchecked))
    logger.info("%d candidates, assessed by %s (%s)", len(candidates), settings["version"], model)
    costs: dict[str, dict] = {}
    for run_seed in seed:
        args = {"transformer": transformer, "max_steps": steps, "eval_frequency": project["eval_frequency"],
                "seed": run_seed, "checkpoint": "last"}  # fmt: skip
        for strategy, size, chosen in plans(candidates, k, run_seed):
            key = f"{strategy} | K {size} | {steps} steps | seed {run_seed}"
            if cost_only and not chosen:
                continue
            if not cost_only and key in read_results(results):
                logger.info("%s: already measured", key)
                continue
            out = work / f"{strategy}-k{size}-seed{run_seed}"
            out.mkdir(parents=True, exist_ok=True)
            reviewed, cost = review(chosen, settings, hand, out) if chosen else (None, EMPTY_COST)
            if cost_only:
                costs[key.replace(f" | {steps} steps", "")] = cost
                continue
            row = {**train(key, reviewed, settings, out, args), **cost, "machine": machine()}
            add_result(results, key, row)
            logger.info("%s: F1 %.4f", key, row["ents_f"])
    if cost_only:
        typer.echo(
            "\n".join([render_costs(costs), teacher_errors(annotated, hand), ablation(candidates, hand, k)])
        )
    else:
        typer.echo(render(read_results(results)))


def _mean(values: list[float]) -> float | None:
    return statistics.mean(values) if values else None


def _spread(values: list[float]) -> str:
    """Mean (min-max) over seeds."""
    return f"{_mean(values):.3f} ({min(values):.3f}-{max(values):.3f})" if values else "-"


def _gain(a: list[float], b: list[float]) -> str:
    return f"{_mean(a) - _mean(b):+.3f}" if a and b else "-"


def render(table: dict) -> str:
    """Every run, then per K: no review, the selection and random (mean and range over seeds), the
    gains, and what review cost."""
    lines = ["| strategy | K | steps | seed | F1 | TARGET F1 | SUBSTRATE F1 | changed | tokens | train s |",
             "|---|---:|---|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    groups: dict[tuple[str, int, str], list[dict]] = {}
    for key, r in table.items():
        strategy, size, steps, run_seed = key.split(" | ")
        size = int(size.removeprefix("K "))
        groups.setdefault((strategy, size, steps), []).append(r)
        changed = "-" if r["changed_share"] is None else f"{r['changed_share']:.2f}"
        figures = f"{r['ents_f']:.3f} | {r['TARGET_f']:.3f} | {r['SUBSTRATE_f']:.3f}"
        lines.append(
            f"| {strategy} | {size} | {steps} | {run_seed} | {figures} | {changed} | {r['tokens']} "
            f"| {r['seconds']:.0f} |"
        )
    lines += ["", "| K | steps | seeds | no review F1 | selection F1 | random F1 | selection - none "
              "| selection - random | changed: selection / random | teacher wrong: selection / random "
              "| tokens: selection / random |",
              "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for size, steps in sorted({(size, steps) for _, size, steps in groups if size}):
        none = [r["ents_f"] for r in groups.get(("none", 0, steps), [])]
        rows = {s: groups.get((s, size, steps), []) for s in STRATEGIES}
        f1 = {s: [r["ents_f"] for r in rows[s]] for s in STRATEGIES}
        cost = {
            name: " / ".join(
                fmt.format(_mean([r[name] for r in rows[s]])) if rows[s] else "-" for s in STRATEGIES
            )
            for name, fmt in (
                ("changed_share", "{:.2f}"),
                ("teacher_wrong_share", "{:.2f}"),
                ("tokens", "{:.0f}"),
            )
        }
        seeds = min(len(f1["selection"]), len(f1["random"]))
        scores = f"{_spread(none)} | {_spread(f1['selection'])} | {_spread(f1['random'])}"
        gains = f"{_gain(f1['selection'], none)} | {_gain(f1['selection'], f1['random'])}"
        costs = f"{cost['changed_share']} | {cost['teacher_wrong_share']} | {cost['tokens']}"
        lines.append(f"| {size} | {steps} | {seeds} | {scores} | {gains} | {costs} |")
    return "\n".join(lines) + "\n"


def teacher_errors(annotated: Path, hand: dict) -> str:
    """How often the hand labels correct the teacher, by the route it took (TEACHER_DOUBT's source)."""
    counts: dict[str, list[int]] = {}
    for _, obj in read_jsonl(annotated):
        wrong = span_keys(obj["spans"]) != span_keys(hand[normalise_text(obj["text"])])
        tally = counts.setdefault(str(teacher_route(obj.get("meta") or {})), [0, 0])
        tally[0] += wrong
        tally[1] += 1
    lines = ["| teacher's route | wrong | of | share |", "|---|---:|---:|---:|"]
    lines += [f"| {route} | {w} | {n} | {w / n:.2f} |" for route, (w, n) in sorted(counts.items())]
    return "\n".join(lines) + "\n"


def ablation(candidates: list[Candidate], hand: dict, sizes: list[int]) -> str:
    """What the selection finds with each signal alone and all three, with and without the decay:
    the share of the chosen with a wrong teacher label and with a wrong student prediction."""
    lines = ["| priority | decay | " + " | ".join(f"K {k}: teacher / student wrong, phrasings" for k in sizes)
             + " |", "|---|---:|" + "---|" * len(sizes)]  # fmt: skip
    for name, signals in ABLATIONS.items():
        variant = [replace(c, priority=noisy_or(c.signals[s] for s in signals)) for c in candidates]
        for decay in (DIVERSITY_DECAY, 1.0):
            cells = []
            for size in sizes:
                chosen = choose(variant, size, decay)
                gold = [span_keys(hand[normalise_text(c.text)]) for c in chosen]
                teacher = sum(c.teacher != g for c, g in zip(chosen, gold, strict=True)) / len(chosen)
                student = sum(span_keys(c.student) != g for c, g in zip(chosen, gold, strict=True)) / len(
                    chosen
                )
                cells.append(f"{teacher:.2f} / {student:.2f}, {len({c.phrasing for c in chosen})}")
            lines.append(f"| {name} | {decay:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_costs(costs: dict) -> str:
    """Per K and way of choosing, the mean over seeds of what the simulated review cost and found."""
    groups: dict[tuple[int, str], list[dict]] = {}
    for key, cost in costs.items():
        strategy, size, _ = key.split(" | ")
        groups.setdefault((int(size.removeprefix("K ")), strategy), []).append(cost)
    lines = ["| K | strategy | seeds | prediction changed | teacher's label wrong | tokens to read |",
             "|---:|---|---:|---:|---:|---:|"]  # fmt: skip
    for (size, strategy), rows in sorted(groups.items()):
        means = [
            _mean([r[name] for r in rows]) for name in ("changed_share", "teacher_wrong_share", "tokens")
        ]
        lines.append(
            f"| {size} | {strategy} | {len(rows)} | {means[0]:.2f} | {means[1]:.2f} | {means[2]:.0f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    typer.run(main)
