"""Entity-level precision/recall/F1 per label and token accuracy, computed like seqeval on BIO tags.

seqeval's default (non-strict) mode counts an entity as correct when its label, start and end
match; that is the same as comparing (start token, end token, label) triples, which is what we do.
Token accuracy is the share of tokens whose BIO tag matches, as seqeval's accuracy_score.
String P/R/F1 compares the doc-level answers instead of spans: per document, the distinct
(label, string) pairs, as `doc._.targets` / `doc._.substrates` give them, against the truth's; it is
how a teacher's answer is judged before alignment decides where its strings sit. Answer accuracy is
the share of documents whose answer for a label (or for all labels) equals the truth's exactly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from spacy.tokens import Doc

from components.pipeline.labels import LABELS

ALL_LABELS = "all"  # answer_acc key: every label's answer right in the same document


def _prf(tp: int, n_pred: int, n_gold: int) -> dict:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"p": p, "r": r, "f": f, "support": n_gold}


def _answer(text: str, ents: set[tuple[int, int, str]]) -> dict[str, set[str]]:
    return {label: {text[start:end] for start, end, lab in ents if lab == label} for label in LABELS}


def _bio(doc: Doc, ents: set[tuple[int, int, str]]) -> list[str]:
    """BIO tags of `doc`'s tokens for character-offset entities (which may come from another tokenisation)."""
    tags = ["O"] * len(doc)
    for start, end, label in ents:
        inside = [t.i for t in doc if t.idx < end and t.idx + len(t) > start]
        for k, i in enumerate(inside):
            tags[i] = f"{'B' if k == 0 else 'I'}-{label}"
    return tags


def score_entities(pairs: Iterable[tuple[Doc, Doc]]) -> dict:
    """Score (gold, predicted) doc pairs over the same text: entity (span) P/R/F1 overall and per
    label, string P/R/F1 per label ("strings"), token accuracy and answer accuracy."""
    tp, n_pred, n_gold, answers_right = Counter(), Counter(), Counter(), Counter()
    s_tp, s_pred, s_gold = Counter(), Counter(), Counter()
    tokens = correct_tokens = n_docs = 0
    for gold, pred in pairs:
        if gold.text != pred.text:
            raise ValueError(f"gold and predicted texts differ: {gold.text[:60]!r} vs {pred.text[:60]!r}")
        n_docs += 1
        gold_ents = {(e.start_char, e.end_char, e.label_) for e in gold.ents}
        pred_ents = {(e.start_char, e.end_char, e.label_) for e in pred.ents}
        for _, _, label in gold_ents:
            n_gold[label] += 1
        for ent in pred_ents:
            n_pred[ent[2]] += 1
            tp[ent[2]] += ent in gold_ents
        gold_answer, pred_answer = _answer(gold.text, gold_ents), _answer(gold.text, pred_ents)
        for label in LABELS:
            answers_right[label] += gold_answer[label] == pred_answer[label]
            s_tp[label] += len(gold_answer[label] & pred_answer[label])
            s_gold[label] += len(gold_answer[label])
            s_pred[label] += len(pred_answer[label])
        answers_right[ALL_LABELS] += gold_answer == pred_answer
        gold_tags, pred_tags = _bio(gold, gold_ents), _bio(gold, pred_ents)
        tokens += len(gold_tags)
        correct_tokens += sum(g == p for g, p in zip(gold_tags, pred_tags, strict=True))
    if not n_docs:
        raise ValueError("nothing to score: no documents")
    labels = sorted(set(LABELS) | set(n_gold) | set(n_pred))
    overall = _prf(sum(tp.values()), sum(n_pred.values()), sum(n_gold.values()))
    return {
        "docs": n_docs,
        "ents_p": overall["p"],
        "ents_r": overall["r"],
        "ents_f": overall["f"],
        "token_acc": correct_tokens / tokens if tokens else 0.0,
        "ents_per_type": {label: _prf(tp[label], n_pred[label], n_gold[label]) for label in labels},
        "strings_f": _prf(sum(s_tp.values()), sum(s_pred.values()), sum(s_gold.values()))["f"],
        "strings_per_type": {label: _prf(s_tp[label], s_pred[label], s_gold[label]) for label in LABELS},
        "answer_acc": {key: answers_right[key] / n_docs for key in (*LABELS, ALL_LABELS)},
    }
