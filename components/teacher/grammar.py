"""Per-document GBNF grammars that let a small model answer only with strings of its document.

A small model left free invents names ("PDB4B" for "PDE4B") and copies strings from the
few-shot examples. Constrained to the compact JSON answer whose strings are drawn from the
document's own token n-grams, every answer parses and aligns, and the model's job shrinks to
choosing among candidates.
"""

from __future__ import annotations

import json

from spacy.tokens import Doc

from components.pipeline.labels import ANSWER_KEYS, LABELS

# Punctuation a name may start or end with ("[3H]NMS" is tokenised "[" + "3H]NMS").
_OPENERS = {"(", "["}
_CLOSERS = {")", "]"}
# Stop words that occur inside names ("Cathepsins V and K", "inhibitor of apoptosis protein");
# a candidate never spans any other stop word ("from", "using", "as").
_INNER_STOP_WORDS = {"and", "of", "or"}


def _may_start(token) -> bool:
    return token.text in _OPENERS or not (token.is_punct or token.is_space or token.is_stop)


def _may_end(token) -> bool:
    return token.text in _CLOSERS or not (token.is_punct or token.is_space or token.is_stop)


def _may_continue(token) -> bool:
    return not (
        token.is_space
        or token.is_quote
        or token.text in {";", "."}
        or (token.is_stop and token.lower_ not in _INNER_STOP_WORDS)
    )


def _balanced(text: str) -> bool:
    return text.count("(") == text.count(")") and text.count("[") == text.count("]")


def candidate_strings(doc: Doc, max_tokens: int) -> list[str]:
    """Distinct token n-grams of up to `max_tokens` tokens that could be a name, in text order."""
    seen: dict[str, None] = {}
    for i, first in enumerate(doc):
        if not _may_start(first):
            continue
        for j in range(i, min(i + max_tokens, len(doc))):
            if j > i and not _may_continue(doc[j]):
                break
            text = doc[i : j + 1].text
            if _may_end(doc[j]) and _balanced(text):
                seen.setdefault(text)
    return list(seen)


def _literal(value: str) -> str:
    """A GBNF string literal that matches `value` exactly."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def answer_grammar(candidates: list[str]) -> str:
    """GBNF for `{"targets": [...], "substrates": [...]}` (json.dumps layout) over `candidates`;
    with no candidates the only answer is two empty lists."""
    keys = [ANSWER_KEYS[label] for label in LABELS]
    items = " list? " if candidates else " "
    fields = ' ", " '.join(f'{_literal(json.dumps(key) + ": [")}{items}"]"' for key in keys)
    lines = [f'root ::= "{{" {fields} "}}"']
    if candidates:
        lines.append('list ::= item (", " item)*')
        items = (_literal(json.dumps(c, ensure_ascii=False)) for c in candidates)
        lines.append("item ::= " + " | ".join(items))
    return "\n".join(lines) + "\n"
