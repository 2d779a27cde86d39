"""The guideline cues do not make a strong teacher worse: a perfect teacher, the gold answers of real
hand-labelled ChEMBL records served over the OpenAI chat-completions wire format, scores no lower
with the cues on than with them off."""

import json
from pathlib import Path

import pytest
import spacy

from components.data.docs import span_record_to_doc
from components.data.records import read_jsonl
from components.evaluation.metrics import score_entities
from components.pipeline.labels import LABELS, answer_strings
from components.teacher.annotate import annotate, load_annotator, project_overrides
from tests.llm_double import ChatCompletionsDouble, last_user_text

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "annotate.cfg"
RECORDS = [ROOT / "assets" / "tuning.jsonl", ROOT / "assets" / "fewshot.jsonl"]


@pytest.fixture(scope="module")
def gold():
    nlp = spacy.blank("en")
    records = [(f"{path}:{line}", record) for path in RECORDS for line, record in read_jsonl(path)]
    return [span_record_to_doc(nlp, record, where) for where, record in records]


def perfect_teacher_scores(gold, tmp_path: Path, cues: bool) -> dict:
    answers = {doc.text: json.dumps(answer_strings(doc)) for doc in gold}
    with ChatCompletionsDouble(answer=lambda body: answers[last_user_text(body)]) as server:
        nlp = load_annotator(CONFIG, {**project_overrides(),
                "vars.backend": "openai",
                "vars.task": "compact",
                "vars.model": "gold",
                "vars.base_url": server.base_url,
                "vars.cache_dir": str(tmp_path / f"cues-{cues}"),
                "vars.guideline_cues": cues,
            },
        )
        predicted, _ = annotate(nlp, [nlp.make_doc(doc.text) for doc in gold])
    assert len(server.requests) == len(gold)
    return score_entities(zip(gold, predicted, strict=True))


def test_cues_do_not_lower_a_perfect_teachers_scores(gold, tmp_path):
    off = perfect_teacher_scores(gold, tmp_path, cues=False)
    on = perfect_teacher_scores(gold, tmp_path, cues=True)
    for label in LABELS:
        assert on["strings_per_type"][label]["f"] >= off["strings_per_type"][label]["f"], label
        assert on["ents_per_type"][label]["f"] >= off["ents_per_type"][label]["f"], label
    # The gold answers come back whole: the comparison is between two near-perfect teachers.
    assert min(off["strings_per_type"][label]["f"] for label in LABELS) > 0.98
