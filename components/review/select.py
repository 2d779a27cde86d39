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
import logging
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

logger = logging.getLogger(__name__)

# How often the sample's hand labels (assets/tuning.jsonl) correct the hybrid teacher's answer on
# each of its routes (400 descriptions, bench/RESULTS.md "What review is worth"): a phrasing rule
# named the target (36 of 353), the small model answered alone (19 of 46). A flagged answer (1 in
# 400, too few to measure; left out of training by convert) counts as the small model's.
TEACHER_DOUBT = {"rules": 0.1, "model_alone": 0.4, "flagged": 0.4}
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
    priority: float
    reasons: list[str]


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


def teacher_doubt(meta: dict) -> tuple[float, str | None]:
    """How likely the teacher's answer is wrong, by the route it took (the hybrid teacher's meta);
    0 for a teacher that does not say."""
    if meta.get("flags"):
        return TEACHER_DOUBT["flagged"], f"the teacher's answer was flagged ({', '.join(meta['flags'])})"
    if meta.get("model_asked"):
        return TEACHER_DOUBT["model_alone"], "no phrasing rule named a target; the small model answered"
    if meta.get("model_asked") is False:
        return TEACHER_DOUBT["rules"], None
    return 0.0, None


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
    return Candidate(
        text=doc.text,
        ids=assay_ids(record.get("meta") or {}),
        student=student,
        teacher=theirs,
        tokens=len(doc),
        phrasing=phrasing(doc, both),
        priority=1.0 - (1.0 - unsure) * (1.0 - disagreement) * (1.0 - doubt),
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


def choose(candidates: list[Candidate], k: int) -> list[Candidate]:
    """The `k` candidates most worth reviewing, in the order taken: highest priority first, each
    taken multiplying the priority of those left with its phrasing by DIVERSITY_DECAY. Ties go by
    text hash, so the choice does not depend on the file's order."""
    heap = [(-c.priority, split_key(c.text), i, 0) for i, c in enumerate(candidates)]
    heapq.heapify(heap)
    taken: Counter = Counter()
    chosen: list[Candidate] = []
    while heap and len(chosen) < k:
        _, tie, i, seen = heapq.heappop(heap)
        candidate = candidates[i]
        now = taken[candidate.phrasing]
        if now != seen:  # its phrasing was taken since: back in line at its lowered priority
            heapq.heappush(heap, (-candidate.priority * DIVERSITY_DECAY**now, tie, i, now))
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
