"""The hybrid teacher for real: ChEMBL's phrasings first, SmolLM2-135M through llama.cpp only where
they name no target, every vote kept in the record's meta."""

from pathlib import Path

import pytest

from components.teacher.annotate import annotate, load_annotator, project_overrides, teacher_of
from components.teacher.cache import CACHE_FILE
from components.teacher.task import parse_compact
from tests.llm_double import ChatCompletionsDouble, last_user_text

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "annotate.cfg"
RULES = "Inhibition of human JNK2 at 1 uM using ATF2 as substrate"
PHENOTYPE = "Cytotoxicity against human HepG2 cells assessed as cell viability by MTT assay"
# A real ChEMBL description (assets/tuning.jsonl) in a shape no rule reads.
MODEL = "Inhibitory concentration of compound required against Caspase-1 compared to acylated dipeptides"


def hybrid(cache_dir: Path, backend: str = "llamacpp"):
    overrides = {"vars.task": "hybrid", "vars.backend": backend, "vars.cache_dir": str(cache_dir)}
    if backend == "replay":
        overrides["vars.model"] = ""  # the one model the cache holds
    return load_annotator(CONFIG, {**project_overrides(), **overrides})


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    cache_dir = tmp_path_factory.mktemp("cache")
    nlp = hybrid(cache_dir)
    docs, _ = annotate(nlp, [nlp.make_doc(t) for t in (RULES, PHENOTYPE, MODEL)])
    return cache_dir, docs, teacher_of(nlp)


def ents(doc):
    return [(e.text, e.label_) for e in doc.ents]


def test_the_rules_answer_without_the_model(labelled):
    _, (rules, phenotype, _), teacher = labelled
    assert ents(rules) == [("JNK2", "TARGET"), ("ATF2", "SUBSTRATE")]
    assert rules.user_data["meta"]["model_asked"] is False
    assert rules.user_data["meta"]["raw_answer"] == ""
    assert rules.user_data["meta"]["votes"] == [
        {"label": "TARGET", "text": "JNK2", "by": "inhibition of X", "kept": True},
        {"label": "SUBSTRATE", "text": "ATF2", "by": "using X as substrate", "kept": True},
    ]
    assert ents(phenotype) == [] and phenotype.user_data["meta"]["model_asked"] is False
    assert teacher.usage["not_asked"] == 2


def test_the_model_is_not_even_loaded_where_the_rules_answer_every_description(tmp_path):
    nlp = hybrid(tmp_path)
    docs, _ = annotate(nlp, [nlp.make_doc(t) for t in (RULES, PHENOTYPE)])
    assert ents(docs[0]) == [("JNK2", "TARGET"), ("ATF2", "SUBSTRATE")]
    assert teacher_of(nlp)._llm is None


def test_the_model_answers_where_no_rule_does_and_its_vote_is_kept(labelled):
    _, (_, _, model), teacher = labelled
    meta = model.user_data["meta"]
    assert meta["model_asked"] is True and meta["flags"] == []
    mentions, problems = parse_compact(meta["raw_answer"])
    assert problems == [] and mentions
    assert meta["votes"] == [{"label": label, "text": text, "by": "model", "kept": label == "TARGET"}
                             for label, text in mentions]  # fmt: skip
    assert ents(model) == [("Caspase-1", "TARGET")]
    assert meta["teacher"].startswith("llamacpp:SmolLM2-135M-Instruct")
    assert (teacher.usage["asked"], teacher.usage["not_asked"]) == (1, 2)


def test_replay_reads_every_answer_from_the_cache(labelled):
    cache_dir, docs, _ = labelled
    # Only the model's answer is cached: the rules' descriptions were never asked.
    assert len((cache_dir / CACHE_FILE).read_text(encoding="utf8").splitlines()) == 1
    nlp = hybrid(cache_dir, backend="replay")
    again, _ = annotate(nlp, [nlp.make_doc(doc.text) for doc in docs])
    assert [ents(doc) for doc in again] == [ents(doc) for doc in docs]
    assert [d.user_data["meta"]["votes"] for d in again] == [d.user_data["meta"]["votes"] for d in docs]


def test_no_teacher_asks_its_model_where_the_rules_suffice(tmp_path, annotate_config):
    # The endpoint is asked about the one description no rule reads, whatever the backend.
    answer = '{"targets": ["Caspase-1"], "substrates": []}'
    with ChatCompletionsDouble(answer=lambda body: answer) as server:
        served = {"vars.backend": "openai", "vars.model": "m", "vars.base_url": server.base_url}
        nlp = load_annotator(annotate_config, {**project_overrides(), "vars.task": "hybrid",
                                               "vars.cache_dir": str(tmp_path), **served})  # fmt: skip
        docs, _ = annotate(nlp, [nlp.make_doc(t) for t in (RULES, PHENOTYPE, MODEL)])
    assert [last_user_text(body) for body in server.requests] == [MODEL]
    expected = [[("JNK2", "TARGET"), ("ATF2", "SUBSTRATE")], [], [("Caspase-1", "TARGET")]]
    assert [ents(doc) for doc in docs] == expected
    assert teacher_of(nlp).usage["not_asked"] == 2
