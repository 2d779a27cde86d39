"""displaCy pages: a sample of predictions, and hand-checked vs predicted, one above the other.

Colours come from labels.COLORS so every page, the served view and the model card agree.
"""

from __future__ import annotations

import html
import random
import warnings
from collections.abc import Sequence
from pathlib import Path

from spacy import displacy
from spacy.language import Language
from spacy.tokens import Doc

from components.data.docs import read_docbin
from components.data.records import atomic_path
from components.evaluation.calibration import calibration, reliability_svg
from components.inference.predict import read_descriptions
from components.pipeline.labels import ANSWER_KEYS, COLORS, LABELS, answer_strings

OPTIONS = {"ents": list(LABELS), "colors": COLORS}

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em; color: #222; }
.row { border-left: 6px solid #cfd8dc; margin: 1.5em 0; padding: 0.2em 1em; }
.row.differs { border-left-color: #d62828; background: #fff5f5; }
.badge { font-size: 0.8em; padding: 0.1em 0.5em; border-radius: 0.3em; background: #d62828; color: #fff; }
.version h3 { font-size: 0.9em; margin: 0.6em 0 0; color: #555; }
.answer { font-size: 0.85em; color: #444; }
.entities { line-height: 2.5 !important; }
"""


def sample(items: Sequence, n: int, seed: int = 0) -> list:
    """Up to `n` items, chosen reproducibly, in their original order."""
    if n >= len(items):
        return list(items)
    return [items[i] for i in sorted(random.Random(seed).sample(range(len(items)), n))]


def render_doc(doc: Doc) -> str:
    """displaCy's entity markup of one doc (a description without entities renders as plain text)."""
    with warnings.catch_warnings():
        # W006 "No entities to visualize": an empty answer is a normal, correct outcome here.
        warnings.filterwarnings("ignore", message=r".*\[W006\]")
        return displacy.render(doc, style="ent", options=OPTIONS, page=False, jupyter=False)


def _answer_line(doc: Doc) -> str:
    answer = answer_strings(doc)
    parts = [f"{key}: {html.escape('; '.join(answer[key])) or '(none)'}" for key in ANSWER_KEYS.values()]
    return f'<p class="answer">{" &middot; ".join(parts)}</p>'


def _page(title: str, intro: str, body: list[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n<p>{intro}</p>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def render_predictions(docs: Sequence[Doc], title: str = "en_assay_ner predictions") -> str:
    rows = [f'<section class="row">\n{render_doc(doc)}\n{_answer_line(doc)}\n</section>' for doc in docs]
    return _page(title, f"{len(docs)} descriptions.", rows)


def _ent_set(doc: Doc) -> set[tuple[int, int, str]]:
    return {(e.start_char, e.end_char, e.label_) for e in doc.ents}


def render_comparison(pairs: Sequence[tuple[Doc, Doc]], title: str = "Hand-checked vs model") -> str:
    """Each description twice, hand-checked above and predicted below; rows that differ are marked.
    Where the model gives confidences, the page opens with their reliability diagram and trade-off."""
    checked = calibration(pairs)
    rows = [_calibration_block(checked)] if checked else []
    differing = []
    for i, (gold, pred) in enumerate(pairs, start=1):
        differs = _ent_set(gold) != _ent_set(pred)
        if differs:
            differing.append(f'<a href="#row-{i}">#{i}</a>')
        badge = ' <span class="badge">differs</span>' if differs else ""
        versions = [
            f'<div class="version {kind}"><h3>{title}</h3>\n{render_doc(doc)}\n{_answer_line(doc)}</div>'
            for kind, title, doc in (("gold", "hand-checked", gold), ("predicted", "model", pred))
        ]
        rows.append(
            f'<section class="row{" differs" if differs else ""}" id="row-{i}">\n<h2>#{i}{badge}</h2>\n'
            + "\n".join(versions)
            + "\n</section>"
        )
    intro = f"{len(pairs)} descriptions, {len(differing)} differ" + (
        f": {' '.join(differing)}." if differing else "."
    )
    return _page(title, intro, rows)


def _calibration_block(checked: dict) -> str:
    trade_off = "".join(
        f"<tr><td>{row['threshold']:.2f}</td><td>{row['kept']}</td><td>{row['p']:.3f}</td>"
        f"<td>{row['r']:.3f}</td><td>{row['f']:.3f}</td></tr>"
        for row in checked["thresholds"]
    )
    return (
        '<section class="calibration">\n<h2>Entity confidences</h2>\n'
        + reliability_svg(checked["reliability"])
        + "\n<table><tr><th>keep confidence &ge;</th><th>entities kept</th><th>P</th><th>R</th>"
        "<th>F1</th></tr>" + trade_off + "</table>\n</section>"
    )


def _write(path: Path, page: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf8")
    return path


def write_pages(
    nlp: Language,
    input_path: str | Path,
    handchecked_path: str | Path,
    output_dir: str | Path,
    n: int = 50,
    seed: int = 0,
) -> list[Path]:
    """Write predictions.html (a sample of `input_path`'s texts) and handchecked.html; return their paths."""
    output_dir = Path(output_dir)
    texts = sample([d.text for d in read_descriptions(input_path)], n, seed)
    gold = read_docbin(handchecked_path, nlp.vocab)
    pairs = list(zip(gold, nlp.pipe(doc.text for doc in gold), strict=True))
    return [
        _write(output_dir / "predictions.html", render_predictions(list(nlp.pipe(texts)))),
        _write(output_dir / "handchecked.html", render_comparison(pairs)),
    ]
