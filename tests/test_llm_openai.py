"""The OpenAI-compatible teacher against a chat-completions double on 127.0.0.1: concurrency,
retries, failures that name the URL, malformed answers, the cache and resuming, and the script."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import components.teacher  # noqa: F401
from components.teacher.annotate import (
    annotate,
    corpus_docs,
    load_annotator,
    project_arguments,
    project_overrides,
)
from components.teacher.base import TeacherError
from components.teacher.cache import CACHE_FILE
from tests.llm_double import ChatCompletionsDouble, last_user_text

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "annotate.cfg"
TEXTS = [
    "Inhibition of human JNK2 at 1 uM using ATF2 as substrate",
    "Displacement of [3H]NMS from human muscarinic M5 receptor expressed in CHO cells",
    "Cytotoxicity against human HepG2 cells assessed as cell viability by MTT assay",
    "Inhibition of human PDE4B and PDE4D using cAMP as substrate",
]


def first_word_answer(body: dict) -> str:
    """A valid answer naming the description's fourth word as its target."""
    return json.dumps({"targets": [last_user_text(body).split()[3]], "substrates": []})


def write_corpus(path: Path, texts: list[str]) -> Path:
    path.write_text(
        "".join(json.dumps({"assay_chembl_id": f"T-{i}", "text": t}) + "\n" for i, t in enumerate(texts)),
        encoding="utf8",
    )
    return path


def openai_nlp(server: ChatCompletionsDouble, cache_dir: Path, cues: bool = False, **settings):
    """The annotator on the double; the guideline cues are off unless asked for, so that the spans
    are the model's answers alone."""
    overrides = {
        "vars.backend": "openai",
        "vars.task": "compact",
        "vars.model": "test-model",
        "vars.base_url": server.base_url,
        "vars.cache_dir": str(cache_dir),
        "vars.guideline_cues": cues,
        "teachers.openai.backoff_s": 0.01,
    }
    overrides.update({f"teachers.openai.{k}": v for k, v in settings.items()})
    return load_annotator(CONFIG, {**project_overrides(), **overrides})


def run(server, tmp_path, texts=TEXTS, cues=False, **settings):
    nlp = openai_nlp(server, tmp_path / "cache", cues, **settings)
    corpus = write_corpus(tmp_path / "corpus.jsonl", texts)
    docs, _ = annotate(nlp, corpus_docs(nlp, corpus))
    return docs


def test_keeps_requests_in_flight_up_to_the_limit(tmp_path):
    texts = [f"Inhibition of human KINASE{i} using peptide {i} as substrate" for i in range(24)]
    with ChatCompletionsDouble(answer=first_word_answer, latency_s=0.3) as server:
        docs = run(server, tmp_path, texts, max_in_flight=8)
    assert server.max_in_flight == 8
    assert len(server.requests) == 24
    assert [[e.text for e in doc.ents] for doc in docs] == [[f"KINASE{i}"] for i in range(24)]


def test_honours_retry_after_on_429(tmp_path):
    faults = [(429, {"Retry-After": "1"}, '{"error": "slow down"}')]
    with ChatCompletionsDouble(answer=first_word_answer, faults=faults) as server:
        docs = run(server, tmp_path, TEXTS[:1])
    assert len(server.requests) == 2
    assert server.arrivals[1] - server.arrivals[0] >= 0.95
    assert [e.text for e in docs[0].ents] == ["JNK2"]


def test_retries_5xx_timeouts_and_malformed_bodies(tmp_path):
    faults = [
        (500, {}, "internal error"),
        (503, {}, ""),
        ("slow", 1.5),
        (200, {}, "this is not json"),
        (200, {}, '{"choices": []}'),
    ]
    with ChatCompletionsDouble(answer=first_word_answer, faults=faults) as server:
        docs = run(server, tmp_path, TEXTS[:1], timeout_s=0.5, max_in_flight=1)
    assert len(server.requests) == 6
    assert [e.text for e in docs[0].ents] == ["JNK2"]


def test_gives_up_after_max_retries_naming_the_url(tmp_path):
    with ChatCompletionsDouble(faults=[(200, {}, "garbage")] * 10) as server:
        with pytest.raises(TeacherError, match="127.0.0.1.*failed 3 times.*malformed"):
            run(server, tmp_path, TEXTS[:1], max_retries=2)


# The model calls JNK2's substrate a target and misses the radioligand.
CUE_ANSWERS = {
    TEXTS[0]: {"targets": ["ATF2"], "substrates": []},
    TEXTS[1]: {"targets": ["muscarinic M5 receptor"], "substrates": []},
}


@pytest.mark.parametrize("cues", [True, False])
def test_guideline_cues_set_the_substrates_the_model_missed(tmp_path, cues):
    with ChatCompletionsDouble(answer=lambda body: json.dumps(CUE_ANSWERS[last_user_text(body)])) as server:
        docs = run(server, tmp_path, TEXTS[:2], cues=cues)
    ents = [[(e.text, e.label_) for e in doc.ents] for doc in docs]
    if cues:
        assert ents == [
            [("ATF2", "SUBSTRATE")],
            [("[3H]NMS", "SUBSTRATE"), ("muscarinic M5 receptor", "TARGET")],
        ]
        assert docs[0].user_data["meta"]["alignment_notes"] == [
            "cue: TARGET 'ATF2' gave way to SUBSTRATE 'ATF2'",
            "cue: SUBSTRATE 'ATF2' (using X as substrate)",
        ]
        assert docs[1].user_data["meta"]["flags"] == []
    else:
        assert ents == [[("ATF2", "TARGET")], [("muscarinic M5 receptor", "TARGET")]]


def test_unreachable_endpoint_fails_fast_naming_the_url(tmp_path, free_port):
    port = free_port()
    nlp = load_annotator(CONFIG, {**project_overrides(),
            "vars.backend": "openai",
            "vars.model": "m",
            "vars.base_url": f"http://127.0.0.1:{port}/v1",
            "vars.cache_dir": str(tmp_path),
        },
    )
    start = time.monotonic()
    with pytest.raises(TeacherError, match=f"cannot reach the LLM endpoint http://127.0.0.1:{port}/v1/chat"):
        list(nlp.pipe([nlp.make_doc(TEXTS[0])]))
    assert time.monotonic() - start < 5


def test_refused_key_names_the_url_and_never_leaks_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_API_KEY", "wrong-key-123")
    with ChatCompletionsDouble(api_key="right-key-456") as server:
        with pytest.raises(
            TeacherError, match=f"{server.base_url}/chat/completions refused the API key"
        ) as err:
            run(server, tmp_path, TEXTS[:1])
    assert "wrong-key-123" not in str(err.value)


def test_sends_the_key_from_the_named_variable_and_caches_no_key(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_TEACHER_KEY", "right-key-456")
    with ChatCompletionsDouble(answer=first_word_answer, api_key="right-key-456") as server:
        nlp = load_annotator(CONFIG, {**project_overrides(),
                "vars.backend": "openai",
                "vars.model": "m",
                "vars.base_url": server.base_url,
                "vars.api_key_env": "MY_TEACHER_KEY",
                "vars.cache_dir": str(tmp_path),
                "vars.guideline_cues": False,
            },
        )
        doc = nlp(TEXTS[0])
    assert [e.text for e in doc.ents] == ["JNK2"]
    assert "right-key-456" not in (tmp_path / CACHE_FILE).read_text(encoding="utf8")


@pytest.mark.parametrize(
    "content, flags, unaligned",
    [
        ("Sure! The target is JNK2.", ["unparseable"], []),
        ("", ["unparseable"], []),
        ('{"targets": ["JNK2"], "substrates": ["AT', ["unparseable"], []),
        (
            '{"targets": ["JNK3"], "substrates": ["ATF2"]}',
            ["hallucinated"],
            [{"label": "TARGET", "text": "JNK3"}],
        ),
        ('```json\n{"targets": ["jnk2"], "substrates": "ATF2"}\n```', [], []),
        ('{"targets": ["JNK2"], "substrates": ["human JNK2", "ATF2"]}', [], []),
    ],
)
def test_bad_answers_are_recorded_and_flagged_and_the_run_goes_on(tmp_path, content, flags, unaligned):
    with ChatCompletionsDouble(answer=lambda body: content) as server:
        (doc,) = run(server, tmp_path, TEXTS[:1])
    meta = doc.user_data["meta"]
    assert meta["raw_answer"] == content
    assert meta["flags"] == flags
    assert meta["unaligned"] == unaligned
    if flags == ["unparseable"]:
        assert not doc.ents and meta["alignment_notes"]
    if not flags:  # case-insensitive match, a bare string as a list, a substrate that repeats the target
        assert [(e.text, e.label_) for e in doc.ents] == [("JNK2", "TARGET"), ("ATF2", "SUBSTRATE")]


def test_resume_asks_only_what_was_not_answered(tmp_path):
    texts = [f"Inhibition of human KINASE{i} using peptide {i} as substrate" for i in range(10)]
    with ChatCompletionsDouble(answer=first_word_answer, fail_after=4) as dying:
        with pytest.raises(TeacherError):
            run(dying, tmp_path, texts, max_in_flight=1, max_retries=1)
    assert len((tmp_path / "cache" / CACHE_FILE).read_text(encoding="utf8").splitlines()) == 4
    with ChatCompletionsDouble(answer=first_word_answer) as healthy:
        docs = run(healthy, tmp_path, texts)
    asked = sorted(last_user_text(body) for body in healthy.requests)
    assert asked == sorted(texts[4:])
    assert [e.text for doc in docs for e in doc.ents] == [f"KINASE{i}" for i in range(10)]
    # Another model asks everything again.
    with ChatCompletionsDouble(answer=first_word_answer) as other:
        nlp = openai_nlp(other, tmp_path / "cache", model="another-model")
        list(nlp.pipe(nlp.make_doc(t) for t in texts[:3]))
    assert len(other.requests) == 3


def test_script_writes_records_docbin_and_report_then_replays(tmp_path):
    corpus = write_corpus(tmp_path / "corpus.jsonl", TEXTS)
    common = {"cache_dir": str(tmp_path / "cache"), "task": "compact"}
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with ChatCompletionsDouble(answer=first_word_answer) as server:
        settings = {"backend": "openai", "model": "served-model", "base_url": server.base_url}
        settings["max_in_flight"] = 4
        done = subprocess.run(
            [sys.executable, "-m", "scripts.annotate", str(corpus), str(tmp_path / "a.jsonl"),
             "--config", str(CONFIG), "--report", str(tmp_path / "report.json"),
             *project_arguments(**common, **settings)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["teacher"] == "openai:served-model" and report["backend"] == "openai"
    assert report["documents"] == 4 and report["answers_from_model"] == 4
    # The model names no substrate and HepG2 as a target; the guideline cues (on by default) find
    # three substrates and drop the cell line.
    assert report["spans"] == {"TARGET": 3, "SUBSTRATE": 3}
    assert report["task"] == "compact+cues"
    assert report["tokens_in"] > 0 and report["documents_per_second"] > 0
    assert "teacher openai:served-model" in done.stdout
    records = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert [r["meta"]["assay_chembl_id"] for r in records] == ["T-0", "T-1", "T-2", "T-3"]
    assert records[0]["spans"] == [
        {"start": 20, "end": 24, "label": "TARGET", "text": "JNK2"},
        {"start": 39, "end": 43, "label": "SUBSTRATE", "text": "ATF2"},
    ]
    assert records[0]["meta"]["alignment_notes"] == ["cue: SUBSTRATE 'ATF2' (using X as substrate)"]
    assert set(records[0]["meta"]) >= {"teacher", "prompt_hash", "raw_answer", "flags", "alignment_notes"}
    # Replay: the same records from the cache alone, no server running.
    replayed = subprocess.run(
        [sys.executable, "-m", "scripts.annotate", str(corpus), str(tmp_path / "b.jsonl"),
         "--config", str(CONFIG), *project_arguments(**common, backend="replay", model="")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr
    b = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert [r["spans"] for r in b] == [r["spans"] for r in records]
    assert b[0]["meta"]["teacher"] == "openai:served-model" and b[0]["meta"]["backend"] == "replay"
    # Replaying a model the cache never heard of names the ones it holds.
    with pytest.raises(TeacherError, match=r"\['openai:served-model'\]"):
        replay = {"vars.backend": "replay", "vars.model": "smollm2", "vars.cache_dir": common["cache_dir"]}
        load_annotator(CONFIG, {**project_overrides(), **replay})
