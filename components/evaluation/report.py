"""Evaluate the trained pipeline: student vs teacher, student vs truth, teacher vs truth, other systems.

Every comparison is scored with components.evaluation.metrics.score_entities (seqeval-style entity
P/R/F1, string P/R/F1 of the doc-level answers, token and answer accuracy) and broken down into
error kinds per label, each with a few examples, so the page shows what goes wrong, not only how often.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc

from components.data.docs import read_docbin, record_to_doc
from components.data.records import InputError, read_jsonl
from components.evaluation.calibration import (
    calibration,
    calibration_markdown,
    reliability_table,
    tag_outcomes,
)
from components.evaluation.guidelines import read_examples
from components.evaluation.metrics import ALL_LABELS, score_entities
from components.pipeline.labels import ANSWER_KEYS, LABELS, answer_strings
from components.training.transformer import public_name

logger = logging.getLogger(__name__)

ANSWER_COLUMNS = (*LABELS, ALL_LABELS)

# Error kinds, for a gold entity without an exact prediction (counted under the gold label) and a
# prediction that touches no gold entity (counted under the predicted label).
ERROR_KINDS = {
    "boundary": "overlapping span, same label",
    "label": "same span, other label",
    "boundary_and_label": "overlapping span, other label",
    "miss": "gold entity with no overlapping prediction",
    "spurious": "prediction with no overlapping gold entity",
}


@dataclass
class Comparison:
    key: str
    title: str  # e.g. "student vs truth (hand-checked)"
    gold: str  # where the reference labels come from
    predicted: str  # where the predictions come from
    pairs: list[tuple[Doc, Doc]]


def transformer_name(config) -> str | None:
    """The model name (hub id or local path) of the pipeline's transformer component, if it has one."""
    for component in config.get("components", {}).values():
        if component.get("factory") == "transformer":
            return component.get("model", {}).get("name")
    return None


def model_info(nlp: Language, model: str | Path) -> dict:
    """Name, version and transformer (its public name) of a pipeline."""
    meta = nlp.meta
    transformer = transformer_name(nlp.config.interpolate())
    return {
        "model": str(model),
        "name": f"{meta.get('lang', '')}_{meta.get('name', '')}",
        "version": meta.get("version"),
        "transformer": public_name(transformer) if transformer else None,
        "pipeline": list(nlp.pipe_names),
    }


def read_gold(path: str | Path, nlp: Language) -> list[Doc]:
    """A DocBin of reference labels; refuse one with no documents or no entities at all."""
    docs = read_docbin(path, nlp.vocab)
    if not docs:
        raise InputError(f"{path}: no documents to evaluate on")
    if not any(doc.ents for doc in docs):
        raise InputError(f"{path}: {len(docs)} documents but no gold entities at all; is it the right file?")
    return docs


def read_annotations(path: str | Path, nlp: Language) -> list[Doc]:
    """Another system's labels: a DocBin (.spacy) or span records (.jsonl)."""
    path = Path(path)
    if path.suffix == ".spacy":
        docs = read_docbin(path, nlp.vocab)
    elif path.suffix == ".jsonl":
        docs = [record_to_doc(nlp, record, f"{path}:{line}") for line, record in read_jsonl(path)]
    else:
        raise InputError(f"{path}: expected a DocBin (.spacy) or span records (.jsonl)")
    if not docs:
        raise InputError(f"{path}: no documents")
    return docs


def pair_by_text(gold: list[Doc], predicted: list[Doc], source: str) -> list[tuple[Doc, Doc]]:
    """Match predictions to gold docs by text. A system may cover only part of the gold set (the
    teacher is often scored on a sample of it); no overlap at all is an error."""
    by_text = {doc.text: doc for doc in predicted}
    pairs = [(doc, by_text[doc.text]) for doc in gold if doc.text in by_text]
    if not pairs:
        raise InputError(f"{source}: no prediction for any of the {len(gold)} reference texts")
    return pairs


def predict(nlp: Language, gold: list[Doc], batch_size: int | None) -> tuple[list[tuple[Doc, Doc]], float]:
    """Run the pipeline over the gold texts; return (gold, predicted) pairs and the seconds it took."""
    start = time.perf_counter()
    predicted = list(nlp.pipe((doc.text for doc in gold), batch_size=batch_size))
    return list(zip(gold, predicted, strict=True)), time.perf_counter() - start


def answer_examples(nlp: Language, guidelines_path: str | Path) -> dict:
    """The pipeline's doc-level answers to the guideline's examples, each beside the expected one:
    the check a user makes first ("the target is X, the substrate is Y")."""
    examples = read_examples(guidelines_path)
    rows = []
    for example, doc in zip(examples, nlp.pipe(eg["text"] for eg in examples), strict=True):
        predicted = answer_strings(doc)
        expected = {key: example[key] for key in ANSWER_KEYS.values()}
        right = {key: predicted[key] == expected[key] for key in ANSWER_KEYS.values()}
        rows.append({"text": example["text"], "expected": expected, "predicted": predicted, "right": right})
    return {
        "path": str(guidelines_path),
        "examples": len(rows),
        "right": {key: sum(row["right"][key] for row in rows) for key in ANSWER_KEYS.values()},
        "rows": rows,
    }


def _ents(doc: Doc) -> dict[tuple[int, int, str], str]:
    return {(e.start_char, e.end_char, e.label_): e.text for e in doc.ents}


def error_summary(pairs: Iterable[tuple[Doc, Doc]], n_examples: int = 3) -> dict:
    """Per label and error kind (see ERROR_KINDS): a count and up to `n_examples` examples."""
    summary = {label: {kind: {"count": 0, "examples": []} for kind in ERROR_KINDS} for label in LABELS}

    def add(label: str, kind: str, doc: Doc, gold: str | None, pred: str | None, pred_label: str | None):
        entry = summary.setdefault(label, {k: {"count": 0, "examples": []} for k in ERROR_KINDS})[kind]
        entry["count"] += 1
        if len(entry["examples"]) < n_examples:
            entry["examples"].append(
                {"gold": gold, "predicted": pred, "predicted_label": pred_label, "text": doc.text}
            )

    for gold_doc, pred_doc in pairs:
        gold, pred = _ents(gold_doc), _ents(pred_doc)
        for (start, end, label), text in gold.items():
            if (start, end, label) in pred:
                continue
            touching = [(s, e, lab) for s, e, lab in pred if s < end and start < e]
            if not touching:
                add(label, "miss", gold_doc, text, None, None)
                continue
            same_span = [p for p in touching if p[:2] == (start, end)]
            same_label = [p for p in touching if p[2] == label]
            if same_span:
                kind, other = "label", same_span[0]
            elif same_label:
                kind, other = "boundary", same_label[0]
            else:
                kind, other = "boundary_and_label", touching[0]
            add(label, kind, gold_doc, text, pred[other], other[2])
        for (start, end, label), text in pred.items():
            if not any(s < end and start < e for s, e, _ in gold):
                add(label, "spurious", gold_doc, None, text, label)
    return summary


def compare(comparison: Comparison) -> dict:
    """score_entities' figures (ents_p, ents_r, ents_f, token_acc, ents_per_type, docs) plus where the
    labels came from and the error breakdown."""
    logger.info("scoring %s: %d docs", comparison.title, len(comparison.pairs))
    return {
        "title": comparison.title,
        "gold": comparison.gold,
        "predicted": comparison.predicted,
        **score_entities(comparison.pairs),
        "errors": error_summary(comparison.pairs),
    }


def evaluate(
    nlp: Language,
    model: str | Path,
    test_path: str | Path,
    handchecked_path: str | Path,
    teacher_path: str | Path | None = None,
    extras: dict[str, Path] | None = None,
    batch_size: int | None = None,
    guidelines_path: str | Path | None = None,
) -> dict:
    """Score the student against the teacher (test split) and the truth (hand-checked set), the teacher
    against the truth where its annotations of the hand-checked texts are given, and each extra system
    (name -> DocBin/JSONL of predictions on the hand-checked texts) against the truth.

    Returns {"model": ..., "speed": ..., "comparisons": [keys in order], key: compare(...), ...} with keys
    student_vs_teacher, student_vs_truth, teacher_vs_truth and NAME_vs_truth per extra, and
    "guideline_examples" (answer_examples) where the guidelines are given."""
    info = model_info(nlp, model)
    logger.info(
        "evaluating %s (%s %s), transformer %s",
        info["model"],
        info["name"],
        info["version"],
        info["transformer"],
    )
    test, handchecked = read_gold(test_path, nlp), read_gold(handchecked_path, nlp)
    test_pairs, _ = predict(nlp, test, batch_size)
    truth_pairs, seconds = predict(nlp, handchecked, batch_size)
    comparisons = [
        Comparison(
            "student_vs_teacher", "student vs teacher (test split)", str(test_path), info["model"], test_pairs
        ),
        Comparison(
            "student_vs_truth",
            "student vs truth (hand-checked)",
            str(handchecked_path),
            info["model"],
            truth_pairs,
        ),
    ]
    others = ([("teacher", teacher_path)] if teacher_path else []) + list((extras or {}).items())
    for name, path in others:
        if any(c.key == f"{name}_vs_truth" for c in comparisons):
            raise ValueError(f"two systems named {name!r}; give each extra system its own name")
        pairs = pair_by_text(handchecked, read_annotations(path, nlp), str(path))
        coverage = "" if len(pairs) == len(handchecked) else f", {len(pairs)} of {len(handchecked)} docs"
        comparisons.append(
            Comparison(
                f"{name}_vs_truth",
                f"{name} vs truth (hand-checked{coverage})",
                str(handchecked_path),
                str(path),
                pairs,
            )
        )
    return {
        "model": info,
        "comparisons": [c.key for c in comparisons],
        **{c.key: compare(c) for c in comparisons},
        **({"guideline_examples": answer_examples(nlp, guidelines_path)} if guidelines_path else {}),
        # How far the student's entity confidences can be trusted, on the hand-checked set.
        **({"calibration": checked} if (checked := confidence_report(nlp, truth_pairs)) else {}),
        "speed": {
            "docs": len(handchecked),
            "seconds": seconds,
            "docs_per_second": len(handchecked) / seconds if seconds else None,
            "batch_size": batch_size or nlp.batch_size,
        },
    }


def confidence_report(nlp: Language, pairs: list[tuple[Doc, Doc]]) -> dict | None:
    """calibration() of the predictions; for a calibrated bio_ner also its calibration ("fitted")
    and the reliability of the same entities' confidences as trained ("uncalibrated")."""
    checked = calibration(pairs)
    if checked is None or "bio_ner" not in nlp.pipe_names:
        return checked
    fitted = nlp.get_pipe("bio_ner").calibration
    if not fitted.is_identity():
        checked["fitted"] = fitted.to_cfg()
        identity = type(fitted)()  # from the pipeline's own code, which may be an installed package's
        checked["uncalibrated"] = reliability_table(tag_outcomes(nlp, pairs).judged(identity))
    return checked


def _prf(scores: dict) -> str:
    return f"{scores['p']:.4f} / {scores['r']:.4f} / {scores['f']:.4f}"


def _quote(text: str | None, label: str | None = None) -> str:
    if text is None:
        return "(none)"
    return f"`{text}`" + (f" ({label})" if label else "")


def score_table(result: dict) -> list[str]:
    """Markdown rows: every comparison side by side (entity and string P/R/F1 per label)."""
    lines = [
        "| comparison | docs | P | R | F1 | token acc. | "
        + " | ".join(f"{lab} P / R / F1" for lab in LABELS)
        + " | "
        + " | ".join(f"{lab} string F1" for lab in LABELS)
        + f" | answer right ({' / '.join(ANSWER_COLUMNS)}) |",
        "| --- " * (7 + 2 * len(LABELS)) + "|",
    ]
    for s in (result[key] for key in result["comparisons"]):
        per_label = [_prf(s["ents_per_type"][lab]) if lab in s["ents_per_type"] else "" for lab in LABELS]
        strings = [f"{s['strings_per_type'][lab]['f']:.4f}" for lab in LABELS]
        lines.append(
            f"| {s['title']} | {s['docs']} | {s['ents_p']:.4f} | {s['ents_r']:.4f} | {s['ents_f']:.4f} "
            f"| {s['token_acc']:.4f} | "
            + " | ".join(per_label + strings)
            + " | "
            + " / ".join(f"{s['answer_acc'][key]:.2f}" for key in ANSWER_COLUMNS)
            + " |"
        )
    return lines


def _names(names: list[str]) -> str:
    return ", ".join(f"`{name}`" for name in names) or "(none)"


def guideline_table(check: dict) -> list[str]:
    """Markdown: the model's answer to each guideline example under the expected one."""
    right = ", ".join(f"{key} {n} of {check['examples']}" for key, n in check["right"].items())
    lines = [
        "",
        "## The guideline's examples",
        "",
        f"Doc-level answers to the examples of `{check['path']}`, right: {right}.",
        "",
        "| description | "
        + " | ".join(f"{key}: expected / predicted" for key in ANSWER_KEYS.values())
        + " |",
        "| --- " * (1 + len(ANSWER_KEYS)) + "|",
    ]
    for row in check["rows"]:
        cells = [
            f"{_names(row['expected'][key])} / {_names(row['predicted'][key])}"
            + ("" if row["right"][key] else " **wrong**")
            for key in ANSWER_KEYS.values()
        ]
        lines.append(f"| {row['text']} | " + " | ".join(cells) + " |")
    return lines


def calibration_section(checked: dict) -> list[str]:
    """Markdown: do the student's entity confidences mean what they say (hand-checked set)?"""
    return [
        "",
        "## Entity confidences",
        "",
        "Each entity's `ent._.confidence` against whether it is right on the hand-checked set: precision "
        "per confidence band, and what keeping only the entities above a threshold gives. Reliability "
        "diagrams: "
        + ", ".join(f"[{title}]({file})" for title, file, _ in reliability_plots(checked))
        + ".",
        "",
        *calibration_markdown(
            checked["reliability"],
            checked["thresholds"],
            checked.get("uncalibrated"),
            checked.get("fitted"),
        ),
    ]


def reliability_plots(checked: dict) -> list[tuple[str, str, dict]]:
    """The reliability diagrams evaluate writes beside the page: (title, file name, reliability)."""
    if "uncalibrated" not in checked:
        return [("confidences", "reliability.svg", checked["reliability"])]
    return [
        ("calibrated", "reliability.svg", checked["reliability"]),
        ("as trained", "reliability_uncalibrated.svg", checked["uncalibrated"]),
    ]


def render_markdown(result: dict) -> str:
    """The evaluation page: the comparisons side by side, then the error breakdown with examples."""
    info, speed = result["model"], result["speed"]
    lines = [
        f"# Evaluation of `{info['model']}`",
        "",
        f"Pipeline {info['name']} {info['version']} ({', '.join(info['pipeline'])}), "
        f"transformer `{info['transformer']}`.",
        f"Speed: {speed['docs_per_second']:.1f} docs/s over the {speed['docs']} hand-checked descriptions "
        f"(batch size {speed['batch_size']}).",
        "",
        "Entity P/R/F1 are seqeval-style (exact span and label); token accuracy compares BIO tags; "
        "answer right is the share of descriptions whose doc-level answer (`doc._.targets`, "
        "`doc._.substrates`: the distinct names of each label) equals the truth's, per label and for both.",
        "",
        *score_table(result),
        *(guideline_table(result["guideline_examples"]) if "guideline_examples" in result else []),
        *(calibration_section(result["calibration"]) if "calibration" in result else []),
        "",
        "## Errors per label",
        "",
        "Kinds: " + "; ".join(f"**{kind}**: {why}" for kind, why in ERROR_KINDS.items()) + ".",
    ]
    for comp in (result[key] for key in result["comparisons"]):
        lines += ["", f"### {comp['title']}", "", "| label | " + " | ".join(ERROR_KINDS) + " |"]
        lines.append("| --- " * (1 + len(ERROR_KINDS)) + "|")
        for label, kinds in comp["errors"].items():
            lines.append(f"| {label} | " + " | ".join(str(kinds[k]["count"]) for k in ERROR_KINDS) + " |")
        lines.append("")
        for label, kinds in comp["errors"].items():
            for kind, entry in kinds.items():
                for ex in entry["examples"]:
                    lines.append(
                        f"- {label} {kind}: gold {_quote(ex['gold'])}, predicted "
                        f"{_quote(ex['predicted'], ex['predicted_label'] if kind != 'boundary' else None)}"
                        f' in "{ex["text"]}"'
                    )
    return "\n".join(lines) + "\n"
