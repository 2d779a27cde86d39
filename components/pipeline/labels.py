"""The label set, as defined in ANNOTATION_GUIDELINES.md, and the doc-level answer built from it.

The one place for label names, definitions, displaCy colours and the answer keys. Plain data and
functions: importing this module registers nothing with spaCy.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # plain functions: importing this module needs no spaCy at all
    from spacy.tokens import Doc, Span

TARGET = "TARGET"
SUBSTRATE = "SUBSTRATE"
LABELS = (TARGET, SUBSTRATE)

DEFINITIONS = {
    TARGET: (
        "The biological macromolecule whose activity, binding or expression the assay measures: "
        "a protein, enzyme, receptor, ion channel, transporter, protein complex or nucleic acid. "
        "Only the name as written: no species, 'recombinant', tags, domains, mutations, cell lines. "
        "Organisms, cell lines, tissues and whole cells are not targets."
    ),
    SUBSTRATE: (
        "The molecule used to probe the target, not the compound under test: an enzyme substrate, "
        "a displaced radioligand or labelled tracer, a labelled probe peptide, or the agonist that "
        "stimulates the target. Cofactors (NADH, FAD, Mg2+), read-out reagents (MTT, resazurin, "
        "[35S]GTPgammaS) and cell stimuli (TNF-alpha, PMA) are not substrates."
    ),
}

# displaCy colours: warm for what is measured, cool for what probes it.
COLORS = {TARGET: "#f4a261", SUBSTRATE: "#8ecae6"}

# The doc-level answer per label: `doc._.targets`, `doc._.substrates`, and the keys of the
# teacher's compact JSON answer.
ANSWER_KEYS = {TARGET: "targets", SUBSTRATE: "substrates"}


def unique_by_text(spans: Iterable[Span]) -> list[Span]:
    """One span per distinct text, the first occurrence, in text order."""
    seen: set[str] = set()
    kept = []
    for span in spans:
        if span.text not in seen:
            seen.add(span.text)
            kept.append(span)
    return kept


def set_answer(doc: Doc) -> Doc:
    """Put each label's answer in `doc.spans[key]`: span groups survive `Doc.to_bytes`, so the
    answer comes back from `nlp.pipe(n_process>1)` and from a DocBin."""
    for label, key in ANSWER_KEYS.items():
        doc.spans[key] = unique_by_text(e for e in doc.ents if e.label_ == label)
    return doc


def answer_strings(doc: Doc) -> dict[str, list[str]]:
    """The compact answer, e.g. {"targets": ["JNK2"], "substrates": ["ATF2"]}; computed from the
    entities of a doc that has none yet (gold docs, a pipeline without `assay_answer`)."""
    if any(key not in doc.spans for key in ANSWER_KEYS.values()):
        set_answer(doc)
    return {key: [span.text for span in doc.spans[key]] for key in ANSWER_KEYS.values()}
