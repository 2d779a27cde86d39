"""The doc-level answer: which targets and substrates a description names.

`assay_answer` runs last in the pipeline and sets `doc._.targets` and `doc._.substrates`: the
entity spans of each label in text order, one per distinct text (first occurrence kept). The
spans live in `doc.spans["targets"]` / `doc.spans["substrates"]` rather than in `doc.user_data`
because span groups survive `Doc.to_bytes`, so the answer comes back from `nlp.pipe(n_process>1)`
and from a DocBin.

This module imports nothing from the project: `spacy package --code components/answer.py` imports
it on its own and ships it inside en_assay_ner.
"""

from __future__ import annotations

from spacy.language import Language
from spacy.tokens import Doc, Span

# Label -> key of the answer; the same as labels.ANSWER_KEYS (a test holds them together).
ANSWER_KEYS = {"TARGET": "targets", "SUBSTRATE": "substrates"}


def _answer_getter(key: str):
    def get(doc: Doc) -> list[Span] | None:
        # None, not [], on a doc the component never saw: "not computed" is not "none named".
        return list(doc.spans[key]) if key in doc.spans else None

    return get


for _key in ANSWER_KEYS.values():
    if not Doc.has_extension(_key):
        Doc.set_extension(_key, getter=_answer_getter(_key))


def unique_by_text(spans) -> list[Span]:
    seen: set[str] = set()
    kept = []
    for span in spans:
        if span.text not in seen:
            seen.add(span.text)
            kept.append(span)
    return kept


def set_answer(doc: Doc) -> Doc:
    for label, key in ANSWER_KEYS.items():
        doc.spans[key] = unique_by_text(e for e in doc.ents if e.label_ == label)
    return doc


def answer_strings(doc: Doc) -> dict[str, list[str]]:
    """The compact JSON answer, e.g. {"targets": ["JNK2"], "substrates": ["ATF2"]}.

    Sets the answer first on a doc that lacks it (gold docs, a pipeline without `assay_answer`).
    """
    if any(key not in doc.spans for key in ANSWER_KEYS.values()):
        set_answer(doc)
    return {key: [span.text for span in doc.spans[key]] for key in ANSWER_KEYS.values()}


def make_assay_answer(nlp: Language, name: str):
    return set_answer


# The project's copy and the one inside en_assay_ner can both be imported in one process (a project
# script that loads the installed package); spaCy refuses a second registration from another file.
if not Language.has_factory("assay_answer"):
    Language.factory("assay_answer", func=make_assay_answer)
