"""`weasel run demo`: the Streamlit page driven by Streamlit's own app tester, and the real server
(started by `weasel run demo`) in headless Chromium; both with a small real trained pipeline."""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import srsly
from streamlit.testing.v1 import AppTest

from components.inference.load import load_pipeline
from components.inference.tag import MAX_CHARS
from components.pipeline.labels import ANSWER_KEYS, COLORS
from tests.browser import Chromium
from tests.servers import wait_until_answers
from tests.test_visualize import marks_of

ROOT = Path(__file__).resolve().parent.parent
DEMO = next(c for c in srsly.read_yaml(ROOT / "project.yml")["commands"] if c["name"] == "demo")
# Both labels, and confidences far enough apart for a threshold between them (the small pipeline).
TYPED = (
    "Displacement of [125I]+/-DOI from human recombinant 5-HT2B receptor at 10 uM after 60 mins "
    "by scintillation counting analysis relative to control"
)
ANSWER_LINE = re.compile(r"\*\*(\w+)\*\* \(`doc\._\.\w+`\): (.*)")


@pytest.fixture(scope="module")
def nlp(trained_pipeline):
    return load_pipeline(trained_pipeline)


@pytest.fixture
def demo(monkeypatch, trained_pipeline):
    """`demo(model)` -> the page run once by AppTest, given the arguments `weasel run demo` gives it
    (with the small trained pipeline unless `model` says otherwise)."""

    def run(model: Path | str = trained_pipeline) -> AppTest:
        line = DEMO["script"][0].replace("${vars.demo_model}", str(model)).replace("${vars.gpu_id}", "-1")
        words = shlex.split(line)
        script, args = words[words.index("run") + 1], words[words.index("--") + 1 :]
        monkeypatch.chdir(ROOT)
        monkeypatch.setattr(sys, "argv", [script, *args])
        app = AppTest.from_file(str(ROOT / script), default_timeout=60).run()
        assert not app.exception, [e.value for e in app.exception]
        return app

    return run


def expected(doc, threshold: float = 0.0) -> dict:
    """What the page must show of `doc` at `threshold`, worked out here from the entities alone."""
    kept = [e for e in doc.ents if e._.confidence >= threshold]
    answer = {key: [] for key in ANSWER_KEYS.values()}
    for ent in kept:  # each label's distinct names, in text order
        if ent.text not in answer[ANSWER_KEYS[ent.label_]]:
            answer[ANSWER_KEYS[ent.label_]].append(ent.text)
    return {
        "table": [(e.text, e.label_, round(e._.confidence, 3)) for e in kept],
        "marks": [(e.text, e.label_) for e in kept],
        "answer": answer,
    }


def shown(app: AppTest) -> dict:
    """What the page shows: the entity table, the displaCy marks (their colours checked) and the answer."""
    table = app.dataframe[0].value if app.dataframe else None
    rows = (
        []
        if table is None
        else list(table[["text", "label", "confidence"]].itertuples(index=False, name=None))
    )
    marks = []
    for markdown in app.markdown:
        for row in marks_of(f"<section>{markdown.value}</section>") if "<mark" in markdown.value else []:
            for mark in row["marks"]:
                assert f"background: {COLORS[mark['label']]}" in mark["style"]
                marks.append((mark["text"], mark["label"]))
    answer = {}
    for markdown in app.markdown:
        if match := ANSWER_LINE.fullmatch(markdown.value):
            answer[match.group(1)] = re.findall(r"`([^`]*)`", match.group(2))
    return {"table": rows, "marks": marks, "answer": answer}


def test_the_page_opens_on_a_hand_checked_description_and_offers_the_guidelines_examples(demo, nlp):
    app = demo()
    text = app.text_area(key="description").value
    record = next(
        json.loads(line)
        for line in (ROOT / "assets/handchecked.jsonl").open()
        if json.loads(line)["text"] == text
    )
    assert {span["label"] for span in record["spans"]} == {"TARGET", "SUBSTRATE"}
    assert shown(app) == expected(nlp(text))

    options = app.selectbox(key="example").options
    assert options[0] == f"hand-checked: {text}"
    examples = [option.removeprefix("guidelines: ") for option in options[1:]]
    guidelines = (ROOT / "ANNOTATION_GUIDELINES.md").read_text(encoding="utf8")
    assert len(examples) >= 5 and all(f"| {example} |" in guidelines for example in examples)

    app.selectbox(key="example").set_value(examples[1]).run()
    assert app.text_area(key="description").value == examples[1]
    assert shown(app) == expected(nlp(examples[1]))


def test_typed_description_shows_entities_confidences_and_answer_and_the_threshold_hides(demo, nlp):
    app = demo()
    app.text_area(key="description").input(TYPED).run()
    doc = nlp(TYPED)
    everything = expected(doc)
    assert {label for _, label, _ in everything["table"]} == {"TARGET", "SUBSTRATE"}
    assert shown(app) == everything
    assert everything["answer"] == {
        key: [s.text for s in getattr(doc._, key)] for key in ("targets", "substrates")
    }

    confidences = sorted(e._.confidence for e in doc.ents)
    threshold = round((confidences[0] + confidences[-1]) / 2, 2)
    assert confidences[0] < threshold <= confidences[-1], confidences
    app.sidebar.slider[0].set_value(threshold).run()
    kept = expected(doc, threshold)
    assert 0 < len(kept["table"]) < len(everything["table"])
    assert shown(app) == kept
    hidden, found = len(doc.ents) - len(kept["table"]), len(doc.ents)
    assert app.caption[-1].value == f"{hidden} of {found} entities hidden: confidence below {threshold:.2f}."

    app.sidebar.slider[0].set_value(0.0).run()
    assert shown(app) == everything


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "Nothing to tag: empty text."),
        (" \n\t ", "Nothing to tag: empty text."),
        (
            "x" * (MAX_CHARS + 1),
            f"Nothing to tag: text longer than {MAX_CHARS} characters ({MAX_CHARS + 1}).",
        ),
    ],
    ids=["empty", "spaces", "too-long"],
)
def test_bad_input_gets_a_message(demo, text, message):
    app = demo()
    app.text_area(key="description").input(text).run()
    assert not app.exception
    assert [w.value for w in app.warning] == [message]
    assert shown(app) == {"table": [], "marks": [], "answer": {}}


def test_a_model_that_cannot_be_loaded_gets_a_message(demo, tmp_path):
    app = demo(tmp_path / "no-such-model")
    [error] = app.error
    assert (
        error.value.startswith("Cannot load the model: [E050] Can't find model")
        and str(tmp_path) in error.value
    )
    assert not app.text_area


def test_the_longest_description_the_tag_step_takes_is_tagged(demo, nlp):
    longest = (TYPED + " ") * (MAX_CHARS // len(TYPED) + 1)
    longest = longest[: longest.rindex(" ", 0, MAX_CHARS + 1)].ljust(MAX_CHARS, ".")
    assert len(longest) == MAX_CHARS
    app = demo()
    app.text_area(key="description").input(longest).run()
    assert not app.warning
    assert shown(app)["table"] == expected(nlp(longest))["table"] != []


def test_weasel_run_demo_serves_the_page_and_chromium_shows_typed_text_marked(
    trained_pipeline, free_port, tmp_path
):
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("weasel")),
            "run",
            "demo",
            ".",
            f"--vars.demo_model={trained_pipeline}",
            f"--vars.demo_port={port}",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # weasel and the Streamlit server it starts, stopped together below
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until_answers("the demo", f"{url}_stcore/health", server, tmp_path / "server.log", 90)
        with Chromium(url, tmp_path / "profile") as page:
            page.wait_for("textarea")
            page.type_into("textarea", TYPED)
            marks = page.wait_until(
                """(() => {
                    const marks = [...document.querySelectorAll('mark.entity')].map(m => [
                        m.firstChild.textContent.trim(),
                        m.querySelector('span').textContent,
                        m.style.background,
                    ]);
                    const shown = document.querySelector('div.entities');
                    return shown && shown.textContent.includes('scintillation') && marks;
                })()"""
            )
            text = page.evaluate("document.body.innerText")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
        log.close()
    assert {label for _, label, _ in marks} == {"TARGET", "SUBSTRATE"}
    for _, label, background in marks:
        assert background == f"rgb({', '.join(str(int(COLORS[label][i : i + 2], 16)) for i in (1, 3, 5))})"
    assert "targets (doc._.targets)" in text and "substrates (doc._.substrates)" in text
