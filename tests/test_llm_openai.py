"""The OpenAI-compatible teacher against a chat-completions double on 127.0.0.1: concurrency,
retries, failures that name the URL, malformed answers, the cache and resuming, connections
(keep-alive, closed, TLS, a proxy), and the script."""

import json
import os
import ssl
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from components.teacher.annotate import (
    annotate,
    corpus_docs,
    load_annotator,
    project_arguments,
    project_overrides,
)
from components.teacher.base import TeacherError
from components.teacher.cache import CACHE_FILE, prompt_key
from tests.llm_double import ChatCompletionsDouble, last_user_text

ROOT = Path(__file__).resolve().parents[1]
TLS_DIR = (
    Path(__file__).resolve().parent / "data" / "tls"
)  # a test-only self-signed certificate for 127.0.0.1
TEXTS = [
    "Inhibition of human JNK2 at 1 uM using ATF2 as substrate",
    "Displacement of [3H]NMS from human muscarinic M5 receptor expressed in CHO cells",
    "Cytotoxicity against human HepG2 cells assessed as cell viability by MTT assay",
    "Inhibition of human PDE4B and PDE4D using cAMP as substrate",
]


def first_word_answer(body: dict) -> str:
    """A valid answer naming the description's fourth word as its target."""
    return json.dumps({"targets": [last_user_text(body).split()[3]], "substrates": []})


@pytest.fixture
def openai_nlp(annotate_config):
    """`openai_nlp(server, cache_dir, cues=False, **teacher_settings)`: the annotator on the double;
    the guideline cues are off unless asked for, so that the spans are the model's answers alone."""

    def build(server: ChatCompletionsDouble, cache_dir: Path, cues: bool = False, **settings):
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
        return load_annotator(annotate_config, {**project_overrides(), **overrides})

    return build


@pytest.fixture
def run(tmp_path, openai_nlp, write_corpus):
    """`run(server, texts=TEXTS, cues=False, **teacher_settings)`: annotate a corpus of `texts`
    through the double, cache in tmp_path/cache; returns the docs."""

    def annotate_texts(server, texts=TEXTS, cues=False, **settings):
        nlp = openai_nlp(server, tmp_path / "cache", cues, **settings)
        corpus = write_corpus(tmp_path / "corpus.jsonl", texts)
        docs, _ = annotate(nlp, corpus_docs(nlp, corpus))
        return docs

    return annotate_texts


def test_keeps_requests_in_flight_up_to_the_limit(run):
    texts = [f"Inhibition of human KINASE{i} using peptide {i} as substrate" for i in range(24)]
    # The double answers nothing until 8 requests are open at once: the limit is reached, not timed.
    with ChatCompletionsDouble(answer=first_word_answer, gate=8) as server:
        docs = run(server, texts, max_in_flight=8)
    assert server.max_in_flight == 8
    assert len(server.requests) == 24
    assert server.connections == 8  # one keep-alive connection per request slot
    assert [[e.text for e in doc.ents] for doc in docs] == [[f"KINASE{i}"] for i in range(24)]


def test_extra_body_fields_go_with_every_request(run):
    with ChatCompletionsDouble(answer=first_word_answer) as server:
        run(server, TEXTS[:2], extra_body={"repeat_penalty": 1.0, "top_k": 1})
    expected = {"model": "test-model", "temperature": 0.0, "repeat_penalty": 1.0, "top_k": 1}
    assert [{k: body[k] for k in expected} for body in server.requests] == [expected] * 2


def test_honours_retry_after_on_429(run, caplog):
    faults = [(429, {"Retry-After": "1"}, '{"error": "slow down"}')]
    with ChatCompletionsDouble(answer=first_word_answer, faults=faults) as server:
        docs = run(server, TEXTS[:1])
    assert len(server.requests) == 2
    assert "HTTP 429; retrying in 1.0 s" in caplog.text
    assert server.arrivals[1] - server.arrivals[0] >= 0.95
    assert [e.text for e in docs[0].ents] == ["JNK2"]


def test_retries_5xx_timeouts_dropped_connections_and_malformed_bodies(run):
    faults = [
        (500, {}, "internal error"),
        (503, {}, ""),
        ("slow", 1.5),
        ("drop",),
        (200, {}, "this is not json"),
        (200, {}, '{"choices": []}'),
    ]
    with ChatCompletionsDouble(answer=first_word_answer, faults=faults) as server:
        docs = run(server, TEXTS[:1], timeout_s=0.5, max_in_flight=1)
    assert len(server.requests) == 7
    assert [e.text for e in docs[0].ents] == ["JNK2"]


def test_a_request_out_of_retries_costs_only_its_description(tmp_path, openai_nlp, caplog):
    stubborn = TEXTS[1]

    def fault_for(body):
        return (200, {}, "garbage") if last_user_text(body) == stubborn else None

    with ChatCompletionsDouble(answer=first_word_answer, fault_for=fault_for) as server:
        nlp = openai_nlp(server, tmp_path / "cache", max_retries=2, max_in_flight=2)
        docs = list(nlp.pipe(nlp.make_doc(t) for t in TEXTS))
    asked = [last_user_text(body) for body in server.requests]
    assert asked.count(stubborn) == 3 and len(asked) == len(TEXTS) + 2
    assert [[e.text for e in doc.ents] for doc in docs] == [["JNK2"], [], ["HepG2"], ["PDE4B"]]
    meta = docs[1].user_data["meta"]
    assert meta["flags"] == ["unanswered"] and meta["raw_answer"] is None
    teacher = nlp.get_pipe("llm")._model
    assert list(teacher.unanswered) == [stubborn]
    assert teacher.unanswered[stubborn].startswith("failed 3 tries; last: malformed response body")
    assert "giving up on one description: failed 3 tries" in caplog.text
    # Only answers are cached: a rerun asks the stubborn description alone.
    assert [line["text"] for line in cache_lines(tmp_path / "cache")] == [t for t in TEXTS if t != stubborn]


def test_a_request_refused_as_bad_is_not_retried_and_costs_only_its_description(tmp_path, openai_nlp, caplog):
    faults = [None, (400, {}, '{"error": "context too long"}')]  # the second request is refused
    with ChatCompletionsDouble(answer=first_word_answer, faults=faults) as server:
        nlp = openai_nlp(server, tmp_path / "cache", max_in_flight=1)
        docs = list(nlp.pipe(nlp.make_doc(t) for t in TEXTS))
    assert len(server.requests) == len(TEXTS)  # not retried: it would be refused again
    assert [doc.user_data["meta"]["flags"] for doc in docs] == [[], ["unanswered"], [], []]
    teacher = nlp.get_pipe("llm")._model
    assert teacher.unanswered == {TEXTS[1]: 'HTTP 400: {"error": "context too long"}'}
    assert f"{server.base_url}/chat/completions: giving up on one description: HTTP 400" in caplog.text


def test_an_unknown_url_or_model_stops_the_run_at_once(run):
    with ChatCompletionsDouble(faults=[(404, {}, '{"error": "model not found"}')]) as server:
        with pytest.raises(TeacherError, match=r"127\.0\.0\.1.*answered HTTP 404: .*model not found"):
            run(server, TEXTS[:1])
    assert len(server.requests) == 1


def test_an_endpoint_gone_for_good_stops_the_run(tmp_path, openai_nlp):
    def answer_then_go(body):
        if server.answered == 1:  # the second answer is the last: the server shuts down
            server.stop()
        return first_word_answer(body)

    with ChatCompletionsDouble(answer=answer_then_go) as server:
        nlp = openai_nlp(server, tmp_path / "cache", max_in_flight=1, max_retries=2)
        with pytest.raises(TeacherError, match=r"cannot reach the LLM endpoint .* any more \(3 tries\)"):
            list(nlp.pipe(nlp.make_doc(t) for t in TEXTS))
    assert len(cache_lines(tmp_path / "cache")) == 2


# The model calls JNK2's substrate a target and misses the radioligand.
# What a careless teacher answers: a cell line as the target, a read-out reagent as the substrate.
CUE_ANSWERS = {
    TEXTS[0]: {"targets": ["JNK2"], "substrates": ["ATF2"]},
    TEXTS[2]: {"targets": ["HepG2"], "substrates": ["MTT"]},
}


@pytest.mark.parametrize("cues", [True, False])
def test_guideline_cues_drop_what_the_guidelines_exclude_and_add_nothing(run, cues):
    texts = [TEXTS[0], TEXTS[2]]
    with ChatCompletionsDouble(answer=lambda body: json.dumps(CUE_ANSWERS[last_user_text(body)])) as server:
        docs = run(server, texts, cues=cues)
    ents = [[(e.text, e.label_) for e in doc.ents] for doc in docs]
    assert ents[0] == [("JNK2", "TARGET"), ("ATF2", "SUBSTRATE")]  # a right answer is left alone
    if cues:
        assert ents[1] == []
        assert docs[1].user_data["meta"]["alignment_notes"] == [
            "cue: dropped TARGET 'HepG2': a cell line",
            "cue: dropped SUBSTRATE 'MTT': a cofactor or read-out reagent",
        ]
    else:
        assert ents[1] == [("HepG2", "TARGET"), ("MTT", "SUBSTRATE")]


def test_unreachable_endpoint_fails_at_once_naming_the_url(tmp_path, free_port, annotate_config, caplog):
    port = free_port()
    nlp = load_annotator(annotate_config, {**project_overrides(),
            "vars.backend": "openai",
            "vars.task": "compact",  # the hybrid task would answer this text by rule and ask nothing
            "vars.model": "m",
            "vars.base_url": f"http://127.0.0.1:{port}/v1",
            "vars.cache_dir": str(tmp_path),
            "teachers.openai.backoff_s": 0.01,
        },
    )
    with pytest.raises(TeacherError, match=f"cannot reach the LLM endpoint http://127.0.0.1:{port}/v1/chat"):
        list(nlp.pipe([nlp.make_doc(TEXTS[0])]))
    assert "retrying" not in caplog.text  # a wrong URL is not retried


def test_refused_key_names_the_url_and_never_leaks_the_key(run, monkeypatch):
    monkeypatch.setenv("LLM_API_KEY", "wrong-key-123")
    with ChatCompletionsDouble(api_key="right-key-456") as server:
        with pytest.raises(
            TeacherError, match=f"{server.base_url}/chat/completions refused the API key"
        ) as err:
            run(server, TEXTS[:1])
    assert "wrong-key-123" not in str(err.value)


def test_sends_the_key_from_the_named_variable_and_caches_no_key(tmp_path, monkeypatch, annotate_config):
    monkeypatch.setenv("MY_TEACHER_KEY", "right-key-456")
    with ChatCompletionsDouble(answer=first_word_answer, api_key="right-key-456") as server:
        nlp = load_annotator(annotate_config, {**project_overrides(),
                "vars.backend": "openai",
                "vars.model": "m",
                "vars.base_url": server.base_url,
                "vars.api_key_env": "MY_TEACHER_KEY",
                "vars.cache_dir": str(tmp_path),
                "vars.task": "compact",
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
def test_bad_answers_are_recorded_and_flagged_and_the_run_goes_on(run, content, flags, unaligned):
    with ChatCompletionsDouble(answer=lambda body: content) as server:
        (doc,) = run(server, TEXTS[:1])
    meta = doc.user_data["meta"]
    assert meta["raw_answer"] == content
    assert meta["flags"] == flags
    assert meta["unaligned"] == unaligned
    if flags == ["unparseable"]:
        assert not doc.ents and meta["alignment_notes"]
    if not flags:  # case-insensitive match, a bare string as a list, a substrate that repeats the target
        assert [(e.text, e.label_) for e in doc.ents] == [("JNK2", "TARGET"), ("ATF2", "SUBSTRATE")]


def test_resume_asks_only_what_was_not_answered(tmp_path, run, openai_nlp):
    texts = [f"Inhibition of human KINASE{i} using peptide {i} as substrate" for i in range(12)]
    # After 4 answers the server fails every request: after 8 in a row the run stops.
    with ChatCompletionsDouble(answer=first_word_answer, fail_after=4) as dying:
        last = "failed 2 tries; last: HTTP 500"
        with pytest.raises(TeacherError, match=f"failed 8 requests in a row; last: {last}"):
            run(dying, texts, max_in_flight=1, max_retries=1)
    assert len(dying.requests) == 4 + 8 * 2
    assert len((tmp_path / "cache" / CACHE_FILE).read_text(encoding="utf8").splitlines()) == 4
    with ChatCompletionsDouble(answer=first_word_answer) as healthy:
        docs = run(healthy, texts)
    asked = sorted(last_user_text(body) for body in healthy.requests)
    assert asked == sorted(texts[4:])
    assert [e.text for doc in docs for e in doc.ents] == [f"KINASE{i}" for i in range(12)]
    # Another model asks everything again.
    with ChatCompletionsDouble(answer=first_word_answer) as other:
        nlp = openai_nlp(other, tmp_path / "cache", model="another-model")
        list(nlp.pipe(nlp.make_doc(t) for t in texts[:3]))
    assert len(other.requests) == 3


def test_script_writes_records_and_report_then_replays(tmp_path, annotate_config, write_corpus):
    corpus = write_corpus(tmp_path / "corpus.jsonl", TEXTS)
    common = {"cache_dir": str(tmp_path / "cache"), "task": "compact", "guideline_cues": True}
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with ChatCompletionsDouble(answer=first_word_answer) as server:
        served = {"backend": "openai", "model": "served-model", "base_url": server.base_url}
        served["max_in_flight"] = 4
        done = subprocess.run(
            [sys.executable, "-m", "scripts.annotate", str(corpus), str(tmp_path / "a.jsonl"),
             "--config", str(annotate_config), "--report", str(tmp_path / "report.json"),
             *project_arguments(**common, **served)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["teacher"] == "openai:served-model" and report["backend"] == "openai"
    assert report["documents"] == 4 and report["answers_from_model"] == 4
    # The model names each description's fourth word as its target; the guideline cues drop the
    # cell line (HepG2) and add nothing.
    assert report["spans"] == {"TARGET": 3, "SUBSTRATE": 0}
    assert report["task"] == "compact+cues"
    assert report["tokens_in"] > 0
    assert "teacher openai:served-model" in done.stdout
    records = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert [r["meta"]["assay_chembl_id"] for r in records] == ["T-0", "T-1", "T-2", "T-3"]
    assert records[0]["spans"] == [{"start": 20, "end": 24, "label": "TARGET", "text": "JNK2"}]
    assert records[2]["spans"] == []
    assert records[2]["meta"]["alignment_notes"] == ["cue: dropped TARGET 'HepG2': a cell line"]
    assert set(records[0]["meta"]) >= {"teacher", "prompt_hash", "raw_answer", "flags", "alignment_notes"}
    # Replay: the same records from the cache alone, no server running.
    replayed = subprocess.run(
        [sys.executable, "-m", "scripts.annotate", str(corpus), str(tmp_path / "b.jsonl"),
         "--config", str(annotate_config), *project_arguments(**common, backend="replay", model="")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr
    b = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert [r["spans"] for r in b] == [r["spans"] for r in records]
    assert b[0]["meta"]["teacher"] == "openai:served-model" and b[0]["meta"]["backend"] == "replay"
    # Replaying a model the cache never heard of names the ones it holds.
    with pytest.raises(TeacherError, match=r"\['openai:served-model'\]"):
        replay = {"vars.backend": "replay", "vars.model": "smollm2", "vars.cache_dir": common["cache_dir"]}
        load_annotator(annotate_config, {**project_overrides(), **replay})


def test_script_lists_the_unanswered_fails_in_one_line_and_a_rerun_asks_only_those(
    tmp_path, annotate_config, write_corpus
):
    corpus = write_corpus(tmp_path / "corpus.jsonl", TEXTS)
    output, report = tmp_path / "a.jsonl", tmp_path / "report.json"
    settings = {"task": "compact", "guideline_cues": False, "cache_dir": str(tmp_path / "cache")}

    def annotate_script(server, *options):
        served = {"backend": "openai", "model": "m", "base_url": server.base_url, "max_in_flight": 2}
        return subprocess.run(
            [sys.executable, "-m", "scripts.annotate", str(corpus), str(output), "--config",
             str(annotate_config), "--report", str(report), *options,
             *project_arguments(**settings, **served),
             "--teachers.openai.max_retries", "1", "--teachers.openai.backoff_s", "0.01"],
            cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    def records() -> list[str]:
        return [json.loads(line)["meta"]["assay_chembl_id"] for line in output.read_text().splitlines()]

    def busy_for_hepg2(body):
        return (503, {"Retry-After": "0"}, "busy") if "HepG2" in last_user_text(body) else None

    with ChatCompletionsDouble(answer=first_word_answer, fault_for=busy_for_hepg2) as server:
        failed = annotate_script(server)
        assert failed.returncode == 1 and "Traceback" not in failed.stderr
        assert failed.stderr.splitlines()[-1] == (
            f"annotate: 1 description(s) got no answer from openai:m (listed under 'unanswered' in "
            f"{report}, with the last error of each; the first: failed 2 tries; last: HTTP 503); every "
            "other answer is written and cached: run again to ask only those, or allow some to go "
            "unanswered (llm_allow_unanswered; now 0)"
        )
        assert records() == ["T-0", "T-1", "T-3"]
        error = "failed 2 tries; last: HTTP 503"
        unanswered = [{"source": str(corpus), "assay_chembl_id": "T-2", "error": error}]
        assert json.loads(report.read_text())["unanswered"] == unanswered
        allowed = annotate_script(server, "--allow-unanswered", "1")
        assert allowed.returncode == 0, allowed.stderr
        assert "1 description(s) got no answer: left out, asked again by a rerun" in allowed.stdout
        assert json.loads(report.read_text())["unanswered"] == unanswered
    asked_by_the_first_two = [last_user_text(body) for body in server.requests]
    assert sorted(asked_by_the_first_two) == sorted(TEXTS + [TEXTS[2]] * 3)  # 2 tries per run
    with ChatCompletionsDouble(answer=first_word_answer) as healthy:
        rerun = annotate_script(healthy)
    assert rerun.returncode == 0, rerun.stderr
    assert [last_user_text(body) for body in healthy.requests] == [TEXTS[2]]
    assert records() == ["T-0", "T-1", "T-2", "T-3"]
    assert json.loads(report.read_text())["unanswered"] == []


def cache_lines(cache_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (cache_dir / CACHE_FILE).read_text(encoding="utf8").splitlines()]


def test_cache_holds_the_shared_messages_once_under_the_same_keys(tmp_path, run, openai_nlp):
    with ChatCompletionsDouble(answer=first_word_answer) as server:
        docs = run(server, TEXTS, max_in_flight=2)
    lines = cache_lines(tmp_path / "cache")
    assert len(lines) == len(TEXTS)
    (first,) = [line for line in lines if "shared_messages" in line]
    shared = first["shared_messages"]
    assert shared[0]["role"] == "system" and len(shared) > 2  # system message and few-shot turns
    assert {line["shared_messages_sha256"] for line in lines} == {first["shared_messages_sha256"]}
    # Every key is the one prompt_key gives for the whole prompt, so older caches still answer.
    for line, request in zip(
        sorted(lines, key=lambda line: line["text"]), sorted(server.requests, key=last_user_text), strict=True
    ):
        assert request["messages"] == [*shared, line["last_message"]]
        prompt = {"text": line["text"], "messages": request["messages"]}
        assert line["key"] == prompt_key("openai:test-model", prompt)
    # A second run answers from the cache and asks nothing.
    with ChatCompletionsDouble(answer=first_word_answer) as again:
        nlp = openai_nlp(again, tmp_path / "cache")
        replayed = list(nlp.pipe(nlp.make_doc(t) for t in TEXTS))
    assert again.requests == []
    assert [d.to_json()["ents"] for d in replayed] == [d.to_json()["ents"] for d in docs]


def test_cache_lines_of_the_older_layout_still_answer(tmp_path, openai_nlp):
    with ChatCompletionsDouble(answer=first_word_answer) as server:
        nlp = openai_nlp(server, tmp_path / "cache")
        prompt = nlp.get_pipe("llm").task.prompt(nlp.make_doc(TEXTS[0]))
        # One answer as an older version wrote it: the whole messages list on its line.
        old = {
            "key": prompt_key("openai:test-model", prompt),
            "model": "openai:test-model",
            "text": prompt["text"],
            "messages": prompt["messages"],
            "grammar_sha256": None,
            "answer": '{"targets": ["ATF2"], "substrates": []}',
            "tokens_in": 1,
            "tokens_out": 1,
            "time": 0.0,
        }
        (tmp_path / "cache" / CACHE_FILE).write_text(json.dumps(old) + "\n", encoding="utf8")
        nlp = openai_nlp(server, tmp_path / "cache")
        docs = list(nlp.pipe(nlp.make_doc(t) for t in TEXTS[:2]))
    assert [last_user_text(body) for body in server.requests] == [TEXTS[1]]
    assert [e.text for e in docs[0].ents] == ["ATF2"]


def test_prompts_are_made_as_request_slots_free_up(tmp_path, openai_nlp):
    """With one request in flight, the second prompt is drawn only after the first was sent."""
    with ChatCompletionsDouble(answer=first_word_answer) as server:
        teacher = openai_nlp(server, tmp_path / "cache", max_in_flight=1).get_pipe("llm")._model
        seen_when_drawn = []

        def prompts():
            for text in TEXTS[:3]:
                seen_when_drawn.append(len(server.requests))
                yield [{"text": text, "messages": [{"role": "user", "content": text}]}]

        answers = teacher(prompts())
    assert seen_when_drawn == [0, 1, 2]
    assert [json.loads(a)["targets"] for (a,) in answers] == [[t.split()[3]] for t in TEXTS[:3]]


@pytest.mark.parametrize("closing", ["announced", "silent"])
def test_connections_closed_by_the_server_are_opened_again_without_a_retry(run, caplog, closing):
    """The server closes each connection after its answer, saying so ("Connection: close") or not
    (as an idle keep-alive connection is closed): the next request opens a new one, no retry."""
    settings = {"keep_alive": False} if closing == "announced" else {"close_idle": True}
    with ChatCompletionsDouble(answer=first_word_answer, **settings) as server:
        docs = run(server, TEXTS, max_in_flight=2)
    assert len(server.requests) == len(TEXTS) and server.connections == len(TEXTS)
    assert "retrying" not in caplog.text
    assert [e.text for e in docs[0].ents] == ["JNK2"]


def test_https_endpoint_with_the_certificate_named_by_ssl_cert_file(run, monkeypatch):
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(TLS_DIR / "cert.pem", TLS_DIR / "key.pem")
    monkeypatch.setenv("SSL_CERT_FILE", str(TLS_DIR / "cert.pem"))
    with ChatCompletionsDouble(answer=first_word_answer, tls=tls) as server:
        assert server.base_url.startswith("https://")
        docs = run(server, TEXTS[:2])
    assert [e.text for e in docs[0].ents] == ["JNK2"] and len(server.requests) == 2


def test_https_endpoint_with_an_unknown_certificate_cannot_be_reached(run, monkeypatch):
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(TLS_DIR / "cert.pem", TLS_DIR / "key.pem")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with ChatCompletionsDouble(answer=first_word_answer, tls=tls) as server:
        with pytest.raises(
            TeacherError, match="cannot reach the LLM endpoint https://127.0.0.1.*CERTIFICATE"
        ):
            run(server, TEXTS[:1])


def test_proxy_from_the_environment_is_used(run, monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    with ChatCompletionsDouble(answer=first_word_answer) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.base_url.removesuffix("/v1"))

        # The endpoint's own name resolves nowhere: only the proxy can answer.
        docs = run(SimpleNamespace(base_url="http://llm.invalid:9/v1"), TEXTS[:2])
    assert proxy.targets == ["http://llm.invalid:9/v1/chat/completions"] * 2
    assert [e.text for e in docs[0].ents] == ["JNK2"]


def test_connections_stay_open_from_one_batch_to_the_next(tmp_path, openai_nlp):
    with ChatCompletionsDouble(answer=first_word_answer) as server:
        nlp = openai_nlp(server, tmp_path / "cache", max_in_flight=2)
        docs = list(nlp.pipe((nlp.make_doc(t) for t in TEXTS), batch_size=2))  # spacy-llm calls twice
        nlp.get_pipe("llm")._model.close()
    assert len(server.requests) == len(TEXTS) and server.connections == 2
    assert [e.text for e in docs[3].ents] == ["PDE4B"]
