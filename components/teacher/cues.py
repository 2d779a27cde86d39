"""Rules written in the guidelines, applied to a teacher's answer for teachers too small to follow them.

ANNOTATION_GUIDELINES.md names a SUBSTRATE by two phrasings that ChEMBL uses all the time,
"using ATF2 as substrate" and the displaced radioligand, "Displacement of [3H]NMS from ...",
and says what is never an entity: cofactors and read-out reagents are no SUBSTRATE, ATP is one
only where the text calls it the substrate, a cell line is no TARGET; a name is marked as written,
so "beta-adrenergic receptor" keeps its "receptor". SmolLM2 misses most of the phrasings
(SUBSTRATE F1 0.29 on the hand-checked set) and breaks the exclusions. Here a cue's name replaces
whatever the model answered for an overlapping string, answers that the guidelines exclude are
dropped and receptor names are completed; every change is noted.
"""

from __future__ import annotations

import re

from components.pipeline.labels import SUBSTRATE, TARGET

# A name list holds none of these words: "using X in the presence of Y as substrate" is no cue for X.
_NAMES = r"(?P<names>(?:(?!\b(?:in|with|by|at|for|from|after|of|to)\b)[^;])+?)"
USING_AS_SUBSTRATE = re.compile(r"\busing " + _NAMES + r" as (?:an? |the )?(?:[\w-]+ )?substrates?\b")
# A radioligand carries its isotope in brackets: [3H], [125I], [14C].
DISPLACED_RADIOLIGAND = re.compile(r"\b[Dd]isplacement of (?P<names>\S*\[\d+[A-Z][a-z]?\]\S*) from\b")
CUES = {"using X as substrate": USING_AS_SUBSTRATE, "displacement of [isotope]X from": DISPLACED_RADIOLIGAND}
# Several names: "ATP and LRRKtide", "ATP/ULight-TK peptide"; not the comma in "poly(Glu, Tyr)".
_NAME_SEPARATOR = re.compile(r" and |, (?![^()]*\))|/(?![^()]*\))")

# The guideline's cofactors and read-out reagents, never a SUBSTRATE.
NOT_SUBSTRATES = {
    name.lower()
    for name in ("NADH", "NADPH", "NAD+", "NADP+", "FAD", "FMN", "Mg2+", "MTT", "resazurin", "luciferin")
    + ("GTPgammaS", "[35S]GTPgammaS")
}
_ATP = re.compile(r"ATP\b")
_CELLS_AFTER = re.compile(r"\s+cells?\b")
_RECEPTOR_AFTER = re.compile(r" receptors?\b")


def cue_substrates(text: str) -> list[tuple[str, str]]:
    """(name, cue) for each substrate name a cue gives, in text order."""
    found = []
    for cue, pattern in CUES.items():
        for match in pattern.finditer(text):
            names = (name.strip() for name in _NAME_SEPARATOR.split(match.group("names")))
            found += [(name, cue) for name in names if name]
    return found


def _followers(text: str, string: str, pattern: re.Pattern) -> list[str]:
    """What `pattern` matches right after each occurrence of `string` ("" where it does not)."""
    return [
        match.group(0) if (match := pattern.match(text, m.end())) else ""
        for m in re.finditer(re.escape(string), text)
    ]


def excluded(text: str, label: str, string: str) -> str | None:
    """Why the guidelines rule the answer out, or None."""
    if label == SUBSTRATE and string.lower() in NOT_SUBSTRATES:
        return "a cofactor or read-out reagent"
    if label == SUBSTRATE and _ATP.search(string):
        return "ATP that the text does not call the substrate"  # cues put back the ATP it does
    if label == TARGET and all(_followers(text, string, _CELLS_AFTER) or [""]):
        return "a cell line"
    return None


def completed_target(text: str, string: str) -> str:
    """A receptor name cut short ("beta-adrenergic" before "receptor") with its last word back."""
    followers = set(_followers(text, string, _RECEPTOR_AFTER))
    return string + followers.pop() if len(followers) == 1 and "" not in followers else string


def apply_cues(text: str, mentions: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    """The answer's (label, string) mentions under the guideline's rules, and a note on each change."""
    found = cue_substrates(text)
    cue_names = {name.lower(): name for name, _ in found}
    answered = {string.lower() for label, string in mentions if label == SUBSTRATE}
    kept, notes = [], []
    for label, string in mentions:
        lowered = string.lower()
        clash = next((n for n in cue_names if n in lowered or lowered in n), None)
        reason = excluded(text, label, string)
        if clash is None and reason is None:
            complete = completed_target(text, string) if label == TARGET else string
            if complete != string:
                notes.append(f"cue: TARGET {string!r} completed to {complete!r}")
            kept.append((label, complete))
        elif clash is None:
            notes.append(f"cue: dropped {label} {string!r}: {reason}")
        elif (label, lowered) != (SUBSTRATE, clash):
            notes.append(f"cue: {label} {string!r} gave way to SUBSTRATE {cue_names[clash]!r}")
    for name in dict.fromkeys(name for name, _ in found):
        kept.append((SUBSTRATE, name))
    notes += [f"cue: SUBSTRATE {name!r} ({cue})" for name, cue in found if name.lower() not in answered]
    return kept, notes
