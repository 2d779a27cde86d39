"""displaCy pages rendered in a real headless Chromium, and the displaCy server over real HTTP."""

import json
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
import spacy

from components.data.docs import write_docbin
from components.evaluation.display import render_comparison, sample
from components.pipeline.labels import COLORS
from tests.browser import CHROMIUM, HEADLESS, MISSING

ROOT = Path(__file__).resolve().parent.parent

# The rules get the first right; on the second they mark the whole receptor name, not just "M5 receptor".
HANDCHECKED = [
    ("Inhibition of human JNK2 using ATF2 as substrate", [("JNK2", "TARGET"), ("ATF2", "SUBSTRATE")]),
    (
        "Displacement of [3H]NMS from muscarinic M5 receptor",
        [("M5 receptor", "TARGET"), ("[3H]NMS", "SUBSTRATE")],
    ),
]
TEXTS = [
    "Inhibition of human JNK2 using ATF2 as substrate",
    "Mixed-type inhibition of mushroom tyrosinase using L-DOPA as substrate",
    "Cytotoxicity against human HepG2 cells assessed as cell viability by MTT assay",
    "Activation of human beta-adrenergic receptor by isoproterenol",
]


class Marks(HTMLParser):
    """Collect displaCy's entity marks (text, label, style), grouped by the <section> row they are in."""

    def __init__(self):
        super().__init__()
        self.rows: list[dict] = []
        self._mark: dict | None = None
        self._in_label = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.rows.append({"class": attrs.get("class", ""), "marks": []})
        elif tag == "mark":
            self._mark = {"text": "", "label": "", "style": attrs.get("style", "")}
        elif tag == "span" and self._mark is not None:
            self._in_label = True

    def handle_endtag(self, tag):
        if tag == "mark" and self._mark is not None:
            self._mark = {k: v.strip() for k, v in self._mark.items()}
            self.rows[-1]["marks"].append(self._mark)
            self._mark = None
        elif tag == "span":
            self._in_label = False

    def handle_data(self, data):
        if self._mark is not None:
            self._mark["label" if self._in_label else "text"] += data


def marks_of(dom: str) -> list[dict]:
    parser = Marks()
    parser.feed(dom)
    return parser.rows


@pytest.fixture(scope="module")
def pages(tmp_path_factory, tiny_pipeline, gold_doc):
    tmp = tmp_path_factory.mktemp("visualize")
    model = tiny_pipeline
    texts = tmp / "texts.jsonl"
    texts.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS), encoding="utf8")
    nlp = spacy.blank("en")
    handchecked = tmp / "handchecked.spacy"
    write_docbin(handchecked, [gold_doc(nlp, text, mentions) for text, mentions in HANDCHECKED])
    out = tmp / "visualizations"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.visualize",
            str(model),
            str(out),
            "--texts",
            str(texts),
            "--handchecked",
            str(handchecked),
            "--n",
            "3",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return {
        "predictions": out / "predictions.html",
        "handchecked": out / "handchecked.html",
        "tmp": tmp,
        "model": model,
    }


def chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    # A dev requirement (make install-dev installs Debian's chromium): missing, the test fails.
    assert CHROMIUM.exists(), MISSING
    flags = [*HEADLESS, f"--user-data-dir={tmp / 'profile'}"]
    run = subprocess.run([str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return run


def test_predictions_page_in_chromium(pages):
    run = chromium(pages["tmp"], "--dump-dom", pages["predictions"].as_uri())
    rows = marks_of(run.stdout)
    assert len(rows) == 3  # a sample of 3 of the 4 texts
    marks = [m for row in rows for m in row["marks"]]
    assert {m["label"] for m in marks} == {"TARGET", "SUBSTRATE"}
    for mark in marks:
        assert f"background: {COLORS[mark['label']]}" in mark["style"]
    assert "targets: " in run.stdout and "substrates: " in run.stdout

    shot = pages["tmp"] / "predictions.png"
    chromium(pages["tmp"], f"--screenshot={shot}", "--window-size=1280,1600", pages["predictions"].as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000


def test_handchecked_page_shows_both_versions_and_marks_the_difference(pages):
    run = chromium(pages["tmp"], "--dump-dom", pages["handchecked"].as_uri())
    rows = marks_of(run.stdout)
    assert [row["class"] for row in rows] == ["row", "row differs"]
    same, differs = rows
    # Hand-checked above, model below: the same marks twice on the agreeing row.
    assert [(m["text"], m["label"]) for m in same["marks"]] == [("JNK2", "TARGET"), ("ATF2", "SUBSTRATE")] * 2
    assert [(m["text"], m["label"]) for m in differs["marks"]] == [
        ("[3H]NMS", "SUBSTRATE"),
        ("M5 receptor", "TARGET"),
        ("[3H]NMS", "SUBSTRATE"),
        ("muscarinic M5 receptor", "TARGET"),
    ]
    assert "2 descriptions, 1 differ" in run.stdout

    shot = pages["tmp"] / "handchecked.png"
    chromium(pages["tmp"], f"--screenshot={shot}", "--window-size=1280,1200", pages["handchecked"].as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000


def test_sample_is_reproducible_and_keeps_order():
    items = list(range(100))
    picked = sample(items, 10, seed=3)
    assert picked == sorted(picked) and len(set(picked)) == 10
    assert picked == sample(items, 10, seed=3) != sample(items, 10, seed=4)
    assert sample(items[:5], 10) == items[:5]


def test_comparison_of_docs_without_entities_is_not_a_difference():
    nlp = spacy.blank("en")
    doc = nlp("Cytotoxicity against HepG2 cells")
    page = render_comparison([(doc, nlp(doc.text))])
    assert "1 descriptions, 0 differ." in page and "row differs" not in page


def test_serve_shows_ad_hoc_text_on_localhost(pages, free_port):
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scripts.serve",
            str(pages["model"]),
            "Inhibition of human JNK2 using ATF2 as substrate",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline, page = time.monotonic() + 60, None
        while page is None and time.monotonic() < deadline and server.poll() is None:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=2).text
            except httpx.TransportError:
                time.sleep(0.3)
        assert page is not None, (
            server.stdout.read() if server.poll() is not None else "server did not answer"
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    rows = marks_of(f"<section>{page}</section>")
    assert [(m["text"], m["label"]) for m in rows[0]["marks"]] == [("JNK2", "TARGET"), ("ATF2", "SUBSTRATE")]
