"""`assay_answer`: the doc-level answer, which targets and substrates a description names.

It runs last in the pipeline and sets `doc._.targets` and `doc._.substrates`: the entity spans of
each label in text order, one per distinct text (labels.set_answer).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from spacy import util
from spacy.language import Language
from spacy.tokens import Doc, Span


def _sibling_labels() -> ModuleType:
    """The labels module beside this one. `spacy package` imports each shipped file on its own,
    outside its package, and then builds the pipeline: there the sibling is loaded by its path."""
    if __package__:
        from . import labels

        return labels
    return util.import_file("labels", Path(__file__).with_name("labels.py"))


labels = _sibling_labels()


def _answer_getter(key: str):
    def get(doc: Doc) -> list[Span] | None:
        # None, not [], on a doc the component never saw: "not computed" is not "none named".
        return list(doc.spans[key]) if key in doc.spans else None

    return get


for _key in labels.ANSWER_KEYS.values():
    Doc.set_extension(_key, getter=_answer_getter(_key))


@Language.factory("assay_answer")
def make_assay_answer(nlp: Language, name: str):
    return labels.set_answer
