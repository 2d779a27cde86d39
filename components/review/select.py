"""Which descriptions are worth a reviewer's time.

Every description the teacher labelled (annotate's span records) that is not hand-checked and not
gold already (few-shot examples, earlier reviews) gets a priority in [0, 1]: how likely its
training label is wrong as three signals see it, combined as a noisy OR (1 minus the product of
1 minus each), so that one strong signal is enough:

- the student is unsure: 1 - the confidence of its least sure entity (`ent._.confidence`, which
  bio_ner keeps in `doc.spans["bio_ner"].attrs["scores"]`; a pipeline without confidences gives 0);
- the student and the teacher disagree: the share of their spans (exact span and label) that only
  one of them has; 1 where one finds nothing and the other something;
- the teacher may be wrong: how often its answers are, by the route it took (TEACHER_DOUBT, from
  the hybrid teacher's meta: a phrasing rule named the target, or the small model answered alone,
  or the answer was flagged).

K descriptions are then taken greedily, highest priority first, each one taken halving the
priority of those left with the same phrasing (the first words, entities masked), so that K
descriptions are not K copies of "Inhibition of human X ...", which ChEMBL repeats by the hundred.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc
from tqdm import tqdm

from components.data.corpus import assay_ids, normalise_text, split_key
from components.data.docs import record_text, span_record_to_doc
from components.data.records import read_jsonl
from components.inference.predict import entity_records

# How often the sample's hand labels (assets/tuning.jsonl) correct the hybrid teacher's answer on
# each of its routes (400 descriptions, bench/RESULTS.md "What review is worth"): a phrasing rule
# named the target (35 of 353), the small model answered alone (19 of 46). A flagged answer (1 in
# 400, too few to measure; left out of training by convert) counts as the small model's.
TEACHER_DOUBT = {"rules": 0.1, "model_alone": 0.4, "flagged": 0.4}
SIGNALS = ("unsure", "disagreement", "teacher_doubt")
# Each description taken multiplies the priority of those left with its phrasing by this.
DIVERSITY_DECAY = 0.5
PHRASING_WORDS = 4
_DIGITS = re.compile(r"\d")


@dataclass
class Candidate:
    text: str
    ids: dict  # assay_id / assay_chembl_id
    student: list[dict]  # the student's entities: start, end, label, text, confidence
    teacher: set[tuple[int, int, str]]  # the teacher's spans
    tokens: int
    phrasing: str
    signals: dict[str, float]  # SIGNALS, each in [0, 1]
    priority: float  # noisy_or(signals)
    reasons: list[str]

    def selection(self) -> dict:
        """Why it was chosen, for the task's meta."""
        signals = {name: round(value, 4) for name, value in self.signals.items()}
        return {"priority": round(self.priority, 4), "signals": signals, "reasons": self.reasons}


def noisy_or(values) -> float:
    """The chance that at least one of independent signals is right: 1 - prod(1 - each)."""
    remaining = 1.0
    for value in values:
        remaining *= 1.0 - value
    return 1.0 - remaining


def span_keys(spans: list[dict]) -> set[tuple[int, int, str]]:
    return {(s["start"], s["end"], s["label"]) for s in spans}


def phrasing(doc: Doc, spans: set[tuple[int, int, str]]) -> str:
    """The description's first words, lower-cased, digits as 0, punctuation left out and each
    entity (anyone's) as its label: "inhibition of human TARGET"."""
    label_of: dict[int, str] = {}
    for start, end, label in sorted(spans):
        span = doc.char_span(start, end, alignment_mode="expand")
        for token in span or ():
            label_of.setdefault(token.i, label)
    words: list[str] = []
    for token in doc:
        if token.is_punct or token.is_space:
            continue
        label = label_of.get(token.i)
        if label is None:
            words.append(_DIGITS.sub("0", token.lower_))
        elif label_of.get(token.i - 1) != label:  # one word for a whole entity
            words.append(label)
        if len(words) == PHRASING_WORDS:
            break
    return " ".join(words)


def teacher_route(meta: dict) -> str | None:
    """How the hybrid teacher came to its answer (a key of TEACHER_DOUBT); None for a teacher
    that does not say."""
    if meta.get("flags"):
        return "flagged"
    if "model_asked" not in meta:
        return None
    return "model_alone" if meta["model_asked"] else "rules"


def teacher_doubt(meta: dict) -> tuple[float, str | None]:
    """How likely the teacher's answer is wrong, by its route (0 where it does not say), and why."""
    route = teacher_route(meta)
    why = {
        "flagged": f"the teacher's answer was flagged ({', '.join(meta.get('flags') or [])})",
        "model_alone": "no phrasing rule named a target; the small model answered",
    }.get(route)
    return TEACHER_DOUBT.get(route, 0.0), why


def assess(nlp: Language, doc: Doc, record: dict, where: str) -> Candidate:
    """The priority of one description: `doc` is the student's, `record` the teacher's."""
    student = entity_records(doc)
    teacher_doc = span_record_to_doc(nlp, record, where)
    ours = span_keys(student)
    theirs = {(e.start_char, e.end_char, e.label_) for e in teacher_doc.ents}
    reasons = []
    unsure = 0.0
    scored = [s for s in student if s["confidence"] is not None]
    if scored:
        least = min(scored, key=lambda s: s["confidence"])
        unsure = 1.0 - least["confidence"]
        if round(least["confidence"], 2) < 1:
            confidence = f"{least['confidence']:.2f}"
            reasons.append(f"the student is unsure of {least['label']} {least['text']!r} ({confidence})")
    both = ours | theirs
    disagreement = len(ours ^ theirs) / len(both) if both else 0.0
    if theirs and not ours:
        reasons.append(f"the student finds nothing where the teacher found {len(theirs)} span(s)")
    elif ours and not theirs:
        reasons.append(f"the teacher found nothing where the student finds {len(ours)} span(s)")
    elif ours != theirs:
        reasons.append(f"student and teacher differ on {len(ours ^ theirs)} of {len(both)} span(s)")
    doubt, why = teacher_doubt(record.get("meta") or {})
    if why:
        reasons.append(why)
    signals = dict(zip(SIGNALS, (unsure, disagreement, doubt), strict=True))
    return Candidate(
        text=doc.text,
        ids=assay_ids(record.get("meta") or {}),
        student=student,
        teacher=theirs,
        tokens=len(doc),
        phrasing=phrasing(doc, both),
        signals=signals,
        priority=noisy_or(signals.values()),
        reasons=reasons,
    )


def assess_corpus(
    nlp: Language, annotated: str | Path, excluded: set[str], progress: bool = True
) -> list[Candidate]:
    """Every description of annotate's output whose normalised text is not in `excluded`, once,
    predicted by `nlp` and assessed."""
    records = []
    seen = set(excluded)
    for line_no, obj in read_jsonl(annotated):
        where = f"{annotated}:{line_no}"
        key = normalise_text(record_text(obj, where))
        if key not in seen:
            seen.add(key)
            records.append((where, obj))
    docs = nlp.pipe(obj["text"] for _, obj in records)
    bar = tqdm(docs, total=len(records), desc="assess", unit="doc", disable=not progress)
    return [assess(nlp, doc, obj, where) for doc, (where, obj) in zip(bar, records, strict=True)]


def choose(candidates: list[Candidate], k: int, decay: float = DIVERSITY_DECAY) -> list[Candidate]:
    """The `k` candidates most worth reviewing, in the order taken: highest priority first, each
    taken multiplying the priority of those left with its phrasing by `decay`. Ties go by text
    hash, so the choice does not depend on the file's order."""
    heap = [(-c.priority, split_key(c.text), i, 0) for i, c in enumerate(candidates)]
    heapq.heapify(heap)
    taken: Counter = Counter()
    chosen: list[Candidate] = []
    while heap and len(chosen) < k:
        _, tie, i, seen = heapq.heappop(heap)
        candidate = candidates[i]
        now = taken[candidate.phrasing]
        if now != seen:  # its phrasing was taken since: back in line at its lowered priority
            heapq.heappush(heap, (-candidate.priority * decay**now, tie, i, now))
            continue
        chosen.append(candidate)
        taken[candidate.phrasing] += 1
    return chosen


def model_version(nlp: Language) -> str:
    """The pipeline's name and version, as its package is named: "en_assay_ner 0.1.0"."""
    return f"{nlp.meta.get('lang')}_{nlp.meta.get('name')} {nlp.meta.get('version')}"


def summary(candidates: list[Candidate], chosen: list[Candidate]) -> dict:
    def mean(values: list[float]) -> float:
        return round(sum(values) / len(values), 4) if values else 0.0

    return {
        "candidates": len(candidates),
        "chosen": len(chosen),
        "tokens_to_read": sum(c.tokens for c in chosen),
        "phrasings": len({c.phrasing for c in chosen}),
        "mean_priority_chosen": mean([c.priority for c in chosen]),
        "mean_priority_all": mean([c.priority for c in candidates]),
        "student_finds_nothing_teacher_something": sum(bool(c.teacher) and not c.student for c in chosen),
    }
