"""`weasel run demo`: the model in the browser, a Streamlit page built on spacy-streamlit.

A description in (typed, or picked from a hand-checked description and the guidelines' examples);
out: its entities marked in the displaCy colours of every other page, a table of each entity's
label and confidence, and the doc-level answer (`doc._.targets`, `doc._.substrates`). A threshold
hides the entities whose confidence is below it, in the marks, the table and the answer alike.
The pipeline is loaded once per server (Streamlit's resource cache), not on every rerun.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import spacy
import streamlit as st
from spacy.language import Language
from spacy.tokens import Doc
from spacy_streamlit import visualize_ner

from components.data.docs import read_handchecked
from components.evaluation.display import OPTIONS
from components.evaluation.guidelines import read_examples
from components.inference.load import load_pipeline, use_device
from components.inference.predict import confidence, entity_records, text_problem
from components.inference.tag import MAX_CHARS
from components.pipeline.labels import ANSWER_KEYS, LABELS, answer_strings, set_answer

logger = logging.getLogger(__name__)

TEXT_KEY = "description"
EXAMPLE_KEY = "example"
TABLE_COLUMNS = ["text", "label", "confidence", "start", "end"]
CONFIDENCE_COLUMN = st.column_config.NumberColumn(format="%.3f")


@st.cache_resource(show_spinner="Loading the model...")
def load_model(model: str, gpu_id: int) -> tuple[Language, str]:
    """The pipeline and the device it runs on, loaded once per server process for every session."""
    device = use_device(gpu_id)
    nlp = load_pipeline(model)
    logger.info("demo: %s (%s %s) on %s", model, nlp.meta.get("name"), nlp.meta.get("version"), device)
    return nlp, device


@st.cache_data(show_spinner=False)
def examples(handchecked: str, guidelines: str) -> dict[str, str]:
    """{description: where it comes from}: first the shortest hand-checked description whose hand
    labels name both a TARGET and a SUBSTRATE, then the guidelines' examples."""
    both = [
        d.text
        for d in read_handchecked(spacy.blank("en"), handchecked)
        if {e.label_ for e in d.ents} == set(LABELS)
    ]
    picked = {min(both, key=len): "hand-checked"} if both else {}
    return picked | {example["text"]: "guidelines" for example in read_examples(guidelines)}


def input_problem(text: str) -> str | None:
    """The page's message for a description the tag step would refuse (None when it takes it)."""
    problem = text_problem(text, MAX_CHARS)
    return f"Nothing to tag: {problem}." if problem else None


def above(doc: Doc, threshold: float) -> Doc:
    """A copy of `doc` with only the entities whose confidence is at least `threshold` (those
    without a confidence are kept) and its answer taken from them."""
    shown = doc.copy()
    shown.ents = [ent for ent in shown.ents if (c := confidence(ent)) is None or c >= threshold]
    return set_answer(shown)


def entity_table(doc: Doc) -> pd.DataFrame:
    """Each entity with its label and confidence (3 decimals, as shown), in text order."""
    rows = [
        {**record, "confidence": None if record["confidence"] is None else round(record["confidence"], 3)}
        for record in entity_records(doc)
    ]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def _use_example() -> None:
    st.session_state[TEXT_KEY] = st.session_state[EXAMPLE_KEY]


def page(model: str, handchecked: Path, guidelines: Path, gpu_id: int = -1) -> None:
    """Draw the page (Streamlit runs the script, and so this, again on every interaction)."""
    st.set_page_config(page_title="en_assay_ner", page_icon=":microscope:")
    st.title("en_assay_ner")
    st.caption(
        "Marks the **TARGET** (what the assay measures) and the **SUBSTRATE** (what probes it) of a "
        "ChEMBL assay description; the definitions are in ANNOTATION_GUIDELINES.md."
    )
    try:
        nlp, device = load_model(model, gpu_id)
    except OSError as e:  # spaCy's "[E050] Can't find model ...": not installed, or no such directory
        st.error(f"Cannot load the model: {e}")
        return
    st.sidebar.markdown(
        f"**Model**: `{model}` ({nlp.meta.get('name')} {nlp.meta.get('version')}) on {device}"
    )
    threshold = st.sidebar.slider(
        "Hide entities with a confidence below", min_value=0.0, max_value=1.0, value=0.0, step=0.01
    )

    picks = examples(str(handchecked), str(guidelines))
    st.session_state.setdefault(TEXT_KEY, next(iter(picks)))
    st.selectbox(
        "Examples",
        list(picks),
        key=EXAMPLE_KEY,
        format_func=lambda t: f"{picks[t]}: {t}",
        on_change=_use_example,
    )
    text = st.text_area(f"Assay description (up to {MAX_CHARS} characters)", key=TEXT_KEY, height=110)
    if problem := input_problem(text):
        st.warning(problem)
        return

    doc = nlp(text)
    shown = above(doc, threshold)
    hidden = len(doc.ents) - len(shown.ents)
    visualize_ner(shown, labels=list(LABELS), show_table=False, title=None, displacy_options=dict(OPTIONS))
    if hidden:
        st.caption(f"{hidden} of {len(doc.ents)} entities hidden: confidence below {threshold:.2f}.")

    st.subheader("Answer")
    answer = answer_strings(shown)
    for key in ANSWER_KEYS.values():
        st.markdown(
            f"**{key}** (`doc._.{key}`): " + ("; ".join(f"`{name}`" for name in answer[key]) or "(none)")
        )

    st.subheader("Entities")
    if shown.ents:
        st.dataframe(entity_table(shown), hide_index=True, column_config={"confidence": CONFIDENCE_COLUMN})
    else:
        st.info("No entity" + (f" with a confidence of {threshold:.2f} or more." if hidden else "."))
