"""Rules written in the guidelines, applied to any teacher's answer: corrections, never additions.

ANNOTATION_GUIDELINES.md says what is never an entity: cofactors and read-out reagents are no
SUBSTRATE, ATP is one only where the text calls it the substrate, a cell line is no TARGET; and a
name is marked as written, so "beta-adrenergic receptor" keeps its "receptor" and "L-DOPA" its
"L-". These cues drop what the guidelines exclude, complete receptor names cut short, and make a
string cut inside a word, or answered as TARGET, the substrate name that "using X as substrate"
or "Displacement of [3H]X from" gives. Otherwise they defer to the teacher: a name it trimmed by
whole words ("MEK1" of "using unactive MEK1 as substrate") stays as it wrote it, and no name is
added, so that a strong teacher loses nothing (bench/teacher_results.md, perfect teacher). The
phrasings that add names for the small offline teachers are components.teacher.phrases, which the
hybrid task applies. Every change is noted.
"""

from __future__ import annotations

import re

from components.pipeline.labels import SUBSTRATE, TARGET
from components.teacher.phrases import substrate_votes

# The two phrasings precise enough to correct a substrate's boundaries.
BOUNDARY_RULES = ("using X as substrate", "displacement of Y from")

# The guideline's cofactors and read-out reagents, never a SUBSTRATE.
NOT_SUBSTRATES = {
    name.lower()
    for name in ("NADH", "NADPH", "NAD+", "NADP+", "NAD", "NADP", "FAD", "FMN", "Mg2+", "MgCl2", "MTT")
    + ("resazurin", "luciferin", "GTPgammaS", "[35S]GTPgammaS", "[35S]GTPgS", "[35S]-GTPgammaS")
}
_ATP = re.compile(r"ATP\b")
_CALLED_SUBSTRATE = r"[^;,.]{0,60}?\bsubstrates?\b"
_CELLS_AFTER = re.compile(r"\s+cells?\b")
_RECEPTOR_AFTER = re.compile(r" receptors?\b")


def cue_substrates(text: str) -> list[tuple[str, str]]:
    """(name, rule) for each substrate name the precise phrasings give, in text order."""
    return [(vote.text, vote.rule) for vote in substrate_votes(text) if vote.rule in BOUNDARY_RULES]


def _followers(text: str, string: str, pattern: re.Pattern) -> list[str]:
    """What `pattern` matches right after each occurrence of `string` ("" where it does not)."""
    return [
        match.group(0) if (match := pattern.match(text, m.end())) else ""
        for m in re.finditer(re.escape(string), text)
    ]


def _called_substrate(text: str, string: str) -> bool:
    """The text calls `string` a substrate: "using ATP/Ulight-TK as substrate", "ATP substrate"."""
    return bool(re.search(re.escape(string) + _CALLED_SUBSTRATE, text))


def excluded(text: str, label: str, string: str) -> str | None:
    """Why the guidelines rule the answer out, or None."""
    if label == SUBSTRATE and string.lower() in NOT_SUBSTRATES:
        return "a cofactor or read-out reagent"
    if label == SUBSTRATE and _ATP.search(string) and not _called_substrate(text, string):
        return "ATP that the text does not call the substrate"
    if label == TARGET and all(_followers(text, string, _CELLS_AFTER) or [""]):
        return "a cell line"
    return None


def completed_target(text: str, string: str) -> str:
    """A receptor name cut short ("beta-adrenergic" before "receptor") with its last word back."""
    followers = set(_followers(text, string, _RECEPTOR_AFTER))
    return string + followers.pop() if len(followers) == 1 and "" not in followers else string


def _cut_inside(part: str, name: str) -> bool:
    """`part` lies inside `name` but starts or ends inside one of its words ("DOPA" of "L-DOPA")."""
    start = name.lower().find(part.lower())
    if start < 0 or part == name:
        return False
    end = start + len(part)
    return not ((start == 0 or name[start - 1] == " ") and (end == len(name) or name[end] == " "))


def apply_cues(text: str, mentions: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    """The answer's (label, string) mentions under the guideline's rules, and a note on each change."""
    names = [name for name, _ in cue_substrates(text)]
    kept, notes = [], []
    for label, string in mentions:
        reason = excluded(text, label, string)
        widened = next((n for n in names if _cut_inside(string, n) or (label, string) == (TARGET, n)), None)
        if reason is not None:
            notes.append(f"cue: dropped {label} {string!r}: {reason}")
        elif widened is not None:
            notes.append(f"cue: {label} {string!r} is SUBSTRATE {widened!r}")
            kept.append((SUBSTRATE, widened))
        elif label == TARGET and (complete := completed_target(text, string)) != string:
            notes.append(f"cue: TARGET {string!r} completed to {complete!r}")
            kept.append((label, complete))
        else:
            kept.append((label, string))
    return list(dict.fromkeys(kept)), notes
