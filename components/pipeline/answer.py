"""`assay_answer`: the doc-level answer, which targets and substrates a description names.

It runs last in the pipeline and sets `doc._.targets` and `doc._.substrates`: the entity spans of
each label in text order, one per distinct text (labels.set_answer).
"""

from __future__ import annotations

from spacy.language import Language
from spacy.tokens import Doc, Span


def _answer_getter(key: str):
    def get(doc: Doc) -> list[Span] | None:
        # None, not [], on a doc the component never saw: "not computed" is not "none named".
        return list(doc.spans[key]) if key in doc.spans else None

    return get


@Language.factory("assay_answer")
def make_assay_answer(nlp: Language, name: str):
    # `spacy package` imports each shipped module on its own, outside its package, to check it; a
    # sibling import at the top of the file would fail there, so the label set is read here.
    from .labels import ANSWER_KEYS, set_answer

    for key in ANSWER_KEYS.values():
        # Bound each time a pipeline is built; the getter only reads doc.spans.
        Doc.set_extension(key, getter=_answer_getter(key), force=True)
    return set_answer
