"""Align answer strings (from an LLM or a table) to token-aligned entity spans.

Every occurrence of each string is marked. Matching is tried in three passes: exact,
case-insensitive, then whitespace/hyphen-normalised. Occurrences that stand as words (no letter or
digit runs on past either edge) win over occurrences inside a longer word: the first pass that
finds a word occurrence gives the occurrences; only when no pass finds one are the occurrences
inside words used ("EGFR" in "EGFRvIII"), from the first pass that finds any.

Spans that do not fall on token boundaries are widened to the enclosing tokens. Where spans
overlap, each overlap costs only the occurrence that loses it: a span on token boundaries beats a
widened one, then the preferred labels win, then the longer span, then the earlier answer string.
Every widening, every span dropped and every string that could not be found is reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from spacy.tokens import Doc, Span

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
    """Does text[start:end] stand as a word: no letter or digit continues it on either side?"""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not (before.isalnum() and text[start].isalnum()) and not (
        after.isalnum() and text[end - 1].isalnum()
    )


def _exact(text: str, mention: str) -> list[tuple[int, int]]:
    """Non-overlapping occurrences, left to right (what re.finditer gives, without a regex)."""
    found, n = [], len(mention)
    start = text.find(mention)
    while start != -1:
        found.append((start, start + n))
        start = text.find(mention, start + n)
    return found


def _case_insensitive(text: str, mention: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(re.escape(mention), text, re.IGNORECASE)]


def _normalised(text: str, mention: str) -> list[tuple[int, int]]:
    pattern = _normalised_pattern(mention)
    return [m.span() for m in pattern.finditer(text) if m.end() > m.start()] if pattern else []


_PASSES = (("exact", _exact), ("case-insensitive", _case_insensitive), ("normalised", _normalised))


def find_occurrences(text: str, mention: str) -> tuple[list[tuple[int, int]], str]:
    """All (start, end) occurrences of `mention` in `text` and the pass that found them.

    The occurrences that stand as words, from the first pass that finds any; failing that, all
    occurrences (each inside a longer word) from the first pass that finds any. A pass runs only
    when the passes before it found no word occurrence.
    """
    mention = mention.strip()
    if not mention:
        return [], "empty"
    inside_words: tuple[list[tuple[int, int]], str] | None = None
    for name, find in _PASSES:
        found = find(text, mention)
        clean = [(s, e) for s, e in found if _is_clean(text, s, e)]
        if clean:
            return clean, name
        if found and inside_words is None:
            inside_words = found, name
    return inside_words or ([], "none")


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


def _longest_first(span: Span) -> tuple:
    return (-(span.end - span.start), span.start)


def drop_overlaps(
    spans: list[Span], rank: Callable[[Span], tuple] | None = None
) -> tuple[list[Span], list[str]]:
    """Spans that share no token, in text order, and a note for each one dropped.

    Spans are taken best first by `rank` (smallest first); by default the longest, then the
    earliest (spaCy's filter_spans). A span that overlaps one already taken is dropped, and only it.
    """
    taken: list[Span] = []
    used: set[int] = set()
    for span in sorted(spans, key=rank or _longest_first):
        tokens = range(span.start, span.end)
        if used.isdisjoint(tokens):
            taken.append(span)
            used.update(tokens)
    kept = {id(span) for span in taken}
    notes = [f"dropped overlapping {s.label_} {s.text!r}" for s in spans if id(s) not in kept]
    return sorted(taken, key=lambda s: s.start), notes


@dataclass
class _Candidate:
    span: Span
    snapped: bool
    label_rank: int
    order: int

    def rank(self) -> tuple:
        span = self.span
        return (self.snapped, self.label_rank, -(span.end - span.start), self.order, span.start)


def align_mentions(doc: Doc, mentions: Iterable[tuple[str, str]], prefer: Sequence[str] = ()) -> Alignment:
    """Turn (label, string) pairs into non-overlapping token spans on `doc`.

    Of overlapping spans (the same tokens under two labels included) the one on token boundaries
    wins over one widened to them, then a span whose label comes earlier in `prefer` (labels not
    named come after those named), then the longest, then the one from the earlier pair. Each
    overlap drops only the losing occurrence; nothing is dropped silently: see Alignment.notes and
    Alignment.unaligned.
    """
    result = Alignment()
    label_rank = {label: i for i, label in enumerate(prefer)}
    candidates: list[_Candidate] = []
    text = doc.text  # spaCy joins the tokens again on every access
    for order, (label, mention) in enumerate(mentions):
        occurrences, how = find_occurrences(text, mention)
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
            candidates.append(
                _Candidate(span, snapped is not None, label_rank.get(label, len(prefer)), order)
            )
    # The same tokens under one label twice (two strings, or a string found twice) count once: the
    # best-ranked copy stands for them. The same tokens under two labels are an overlap, noted as such.
    best: dict[tuple[int, int, str], _Candidate] = {}
    for candidate in sorted(candidates, key=_Candidate.rank):
        best.setdefault((candidate.span.start, candidate.span.end, candidate.span.label_), candidate)
    unique = sorted(best.values(), key=lambda c: (c.order, c.span.start))
    ranks = {id(c.span): c.rank() for c in unique}
    kept, _ = drop_overlaps([c.span for c in unique], rank=lambda span: ranks[id(span)])
    kept_bounds = {(s.start, s.end): s.label_ for s in kept}
    kept_ids = {id(s) for s in kept}
    for candidate in unique:
        span = candidate.span
        if id(span) in kept_ids:
            continue
        winner = kept_bounds.get((span.start, span.end))
        if winner is not None:
            result.notes.append(f"{span.text!r} given as {winner} and {span.label_}; kept {winner}")
        else:
            result.notes.append(f"dropped overlapping {span.label_} {span.text!r}")
    result.spans = kept
    return result
