"""Rules written in the guidelines, applied to any teacher's answer: corrections, never additions.

ANNOTATION_GUIDELINES.md says what is never an entity: the cofactors and read-out reagents it
names are no SUBSTRATE, ATP is one only where the text calls it the substrate, a cell line is no
TARGET; and a name is marked as written, so "beta-adrenergic receptor" keeps its "receptor". These
cues drop what the guidelines exclude and complete receptor names cut short. They change nothing
else and add no name, so that a strong teacher loses nothing: a perfect teacher scores the same
with them as without them (tests/test_teacher_perfect.py, bench/RESULTS.md). The phrasings
that add names for the small offline teachers are components.teacher.phrases, which the hybrid
task applies. Every change is noted.
"""

from __future__ import annotations

import re

from components.pipeline.labels import SUBSTRATE, TARGET

# The guideline's cofactors and read-out reagents, never a SUBSTRATE.
NOT_SUBSTRATES = {
    name.lower()
    for name in ("NADH", "NADPH", "NAD+", "NADP+", "FAD", "FMN", "Mg2+", "MTT", "resazurin", "luciferin")
    + ("GTPgammaS", "[35S]GTPgammaS")
}
_ATP = re.compile(r"ATP\b")
_CELLS_AFTER = re.compile(r"\s+cells?\b")
_RECEPTOR_AFTER = re.compile(r" receptors?\b")


def _followers(text: str, string: str, pattern: re.Pattern) -> list[str]:
    """What `pattern` matches right after each occurrence of `string` ("" where it does not)."""
    return [
        match.group(0) if (match := pattern.match(text, m.end())) else ""
        for m in re.finditer(re.escape(string), text)
    ]


def called_substrate(text: str, string: str) -> bool:
    """The text calls `string` a substrate, in the same clause: "using ATP/Ulight-TK as substrate",
    "using ATP and poly(Glu, Tyr) as substrates", "substrate ATP"."""
    name = re.escape(string)
    return bool(re.search(rf"{name}[^;]{{0,80}}?\bsubstrates?\b|\bsubstrates?\b[^;]{{0,30}}?{name}", text))


def excluded(text: str, label: str, string: str) -> str | None:
    """Why the guidelines rule the answer out, or None."""
    if label == SUBSTRATE and string.lower() in NOT_SUBSTRATES:
        return "a cofactor or read-out reagent"
    if label == SUBSTRATE and _ATP.search(string) and not called_substrate(text, string):
        return "ATP that the text does not call the substrate"
    if label == TARGET and all(_followers(text, string, _CELLS_AFTER) or [""]):
        return "a cell line"
    return None


def completed_target(text: str, string: str) -> str:
    """A receptor name cut short ("beta-adrenergic" before "receptor") with its last word back."""
    followers = set(_followers(text, string, _RECEPTOR_AFTER))
    return string + followers.pop() if len(followers) == 1 and "" not in followers else string


def apply_cues(text: str, mentions: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    """The answer's (label, string) mentions under the guideline's rules, and a note on each change."""
    kept, notes = [], []
    for label, string in mentions:
        reason = excluded(text, label, string)
        if reason is not None:
            notes.append(f"cue: dropped {label} {string!r}: {reason}")
        elif label == TARGET and (complete := completed_target(text, string)) != string:
            notes.append(f"cue: TARGET {string!r} completed to {complete!r}")
            kept.append((label, complete))
        else:
            kept.append((label, string))
    return list(dict.fromkeys(kept)), notes
