"""SUBSTRATE cues written in the guidelines, for teachers too small to follow them.

ANNOTATION_GUIDELINES.md names a SUBSTRATE by two phrasings that ChEMBL uses all the time:
"using ATF2 as substrate" and the displaced radioligand, "Displacement of [3H]NMS from ...".
SmolLM2 misses most of them (SUBSTRATE F1 0.27 on the hand-checked set). The cues find the
names these phrasings give, and a cue's name replaces whatever the model answered for an
overlapping string, so a substrate the model called a target, or cut short, is set right.
"""

from __future__ import annotations

import re

from ..labels import SUBSTRATE

# A name list holds none of these words: "using X in the presence of Y as substrate" is no cue for X.
_NAMES = r"(?P<names>(?:(?!\b(?:in|with|by|at|for|from|after|of|to)\b)[^;])+?)"
USING_AS_SUBSTRATE = re.compile(r"\busing " + _NAMES + r" as (?:an? |the )?(?:[\w-]+ )?substrates?\b")
# A radioligand carries its isotope in brackets: [3H], [125I], [14C].
DISPLACED_RADIOLIGAND = re.compile(r"\b[Dd]isplacement of (?P<names>\S*\[\d+[A-Z][a-z]?\]\S*) from\b")
CUES = {"using X as substrate": USING_AS_SUBSTRATE, "displacement of [isotope]X from": DISPLACED_RADIOLIGAND}
# Several names: "ATP and LRRKtide", "ATP/ULight-TK peptide"; not the comma in "poly(Glu, Tyr)".
_NAME_SEPARATOR = re.compile(r" and |, (?![^()]*\))|/(?![^()]*\))")


def cue_substrates(text: str) -> list[tuple[str, str]]:
    """(name, cue) for each substrate name a cue gives, in text order."""
    found = []
    for cue, pattern in CUES.items():
        for match in pattern.finditer(text):
            names = (name.strip() for name in _NAME_SEPARATOR.split(match.group("names")))
            found += [(name, cue) for name in names if name]
    return found


def apply_cues(text: str, mentions: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    """The answer's (label, string) mentions with the cue substrates in, and notes on each change."""
    found = cue_substrates(text)
    if not found:
        return mentions, []
    cue_names = {name.lower(): name for name, _ in found}
    answered = {string.lower() for label, string in mentions if label == SUBSTRATE}
    kept, notes = [], []
    for label, string in mentions:
        lowered = string.lower()
        clash = next((n for n in cue_names if n in lowered or lowered in n), None)
        if clash is None:
            kept.append((label, string))
        elif (label, lowered) != (SUBSTRATE, clash):
            notes.append(f"cue: {label} {string!r} gave way to SUBSTRATE {cue_names[clash]!r}")
    for name in dict.fromkeys(name for name, _ in found):
        kept.append((SUBSTRATE, name))
    notes += [f"cue: SUBSTRATE {name!r} ({cue})" for name, cue in found if name.lower() not in answered]
    return kept, notes
