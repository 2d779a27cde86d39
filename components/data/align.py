"""Align answer strings (from an LLM or a table) to token-aligned entity spans.

Every occurrence of each string is marked. Matching is tried in three passes and the first
pass that finds anything wins: exact, case-insensitive, then whitespace/hyphen-normalised.
Occurrences that start or end inside a word are used only when no clean occurrence exists.
Spans that do not fall on token boundaries are widened to the enclosing tokens, and every
such change, every overlap dropped and every string that could not be found is reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from spacy.tokens import Doc, Span
from spacy.util import filter_spans

_GAP = r"[\s\-\u2010-\u2015]*"
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015]+")
# Split points inside a piece where a normalised match may insert or drop a gap: between a
# letter and a digit, and around punctuation ("ATF-2" ~ "ATF2", "poly(Glu,Tyr)" ~ "poly (Glu, Tyr)").
_PIECES = re.compile(r"[A-Za-z]+|\d+|[^\sA-Za-z\d]")


@dataclass
class Alignment:
    spans: list[Span] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unaligned: list[dict] = field(default_factory=list)

    def to_meta(self) -> dict:
        return {"alignment_notes": self.notes, "unaligned": self.unaligned}


def _normalised_pattern(mention: str) -> re.Pattern | None:
    pieces = [p for chunk in _SEPARATORS.split(mention) for p in _PIECES.findall(chunk)]
    if not pieces:
        return None
    return re.compile(_GAP.join(re.escape(p) for p in pieces), re.IGNORECASE)


def _is_clean(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not (before.isalnum() and text[start].isalnum()) and not (
        after.isalnum() and text[end - 1].isalnum()
    )


def find_occurrences(text: str, mention: str) -> tuple[list[tuple[int, int]], str]:
    """All (start, end) occurrences of `mention` in `text` and the pass that found them."""
    mention = mention.strip()
    if not mention:
        return [], "empty"
    passes = (
        ("exact", re.compile(re.escape(mention))),
        ("case-insensitive", re.compile(re.escape(mention), re.IGNORECASE)),
        ("normalised", _normalised_pattern(mention)),
    )
    for name, pattern in passes:
        if pattern is None:
            continue
        found = [(m.start(), m.end()) for m in pattern.finditer(text) if m.end() > m.start()]
        if found:
            clean = [(s, e) for s, e in found if _is_clean(text, s, e)]
            return (clean or found), name
    return [], "none"


def snap_to_tokens(doc: Doc, start: int, end: int, label: str) -> tuple[Span | None, str | None]:
    """The token span covering characters [start:end), and a note if its edges had to move."""
    span = doc.char_span(start, end, label=label, alignment_mode="expand")
    if span is None or (span.start_char, span.end_char) == (start, end):
        return span, None
    note = (
        f"snapped {label} {doc.text[start:end]!r} [{start}:{end}] to token boundaries "
        f"{span.text!r} [{span.start_char}:{span.end_char}]"
    )
    return span, note


def drop_overlaps(spans: list[Span]) -> tuple[list[Span], list[str]]:
    """The longest of overlapping spans (spaCy's filter_spans), and a note for each one dropped."""
    kept = filter_spans(spans)
    kept_set = set(kept)
    return kept, [f"dropped overlapping {s.label_} {s.text!r}" for s in spans if s not in kept_set]


def align_mentions(doc: Doc, mentions: list[tuple[str, str]]) -> Alignment:
    """Turn (label, string) pairs into non-overlapping token spans on `doc`.

    Earlier pairs win ties between labels on the same span; of overlapping spans the longest
    is kept. Nothing is dropped silently: see Alignment.notes and Alignment.unaligned.
    """
    result = Alignment()
    candidates: list[Span] = []
    seen: dict[tuple[int, int], str] = {}
    for label, mention in mentions:
        occurrences, how = find_occurrences(doc.text, mention)
        if not occurrences:
            result.unaligned.append({"label": label, "text": mention})
            continue
        for start, end in occurrences:
            span, snapped = snap_to_tokens(doc, start, end, label)
            if span is None:
                result.unaligned.append({"label": label, "text": mention})
                continue
            if snapped:
                result.notes.append(snapped)
            elif how != "exact":
                result.notes.append(f"{label} {mention!r} matched {span.text!r} ({how})")
            key = (span.start, span.end)
            if key in seen:
                if seen[key] != label:
                    result.notes.append(
                        f"{span.text!r} given as {seen[key]} and {label}; kept {seen[key]}"
                    )
                continue
            seen[key] = label
            candidates.append(span)
    result.spans, dropped = drop_overlaps(candidates)
    result.notes += dropped
    return result
