"""The OpenAI-compatible teacher against a real llama.cpp server: llama-cpp-python's own
(`python -m llama_cpp.server`, its [server] extras pinned in requirements-dev.txt) serving the
shipped SmolLM2 GGUF on 127.0.0.1 with the embedded teacher's settings from configs/annotate.cfg.

It asks the server about real descriptions (the bundled sample's, where the hybrid task's rules
name no target and the model is asked; four of the few-shot examples keep each model's first
prompt short), and checks what the tests against the double cannot:
that the grammar field and the server's own chat template give the embedded teacher's answers,
that `max_in_flight` requests wait together in the server's queue, and that a server killed and
started again in the middle of a run costs no answer. A server that cannot start fails the test.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from spacy import util

from components.data.records import read_jsonl
from components.teacher.annotate import annotate, load_annotator, project_overrides, teacher_of
from components.teacher.cache import CACHE_FILE
from components.teacher.llamacpp import EMBEDDED_PACKAGE, find_gguf
from components.teacher.phrases import phrase_votes
from components.teacher.task import HybridNERTask
from tests.servers import wait_until_answers

ROOT = Path(__file__).resolve().parents[1]
ALIAS = "smollm2"
# What llama-cpp-python's server prints when a queued request's client is gone by its turn.
GONE_BEFORE_ITS_TURN = "Disconnected from client (via refresh/close) before llm invoked"


def asked_descriptions(n: int) -> list[str]:
    """The first `n` bundled sample descriptions for which the hybrid task asks the model."""
    texts = (obj["text"] for _, obj in read_jsonl(ROOT / "assets" / "sample_assays.jsonl"))
    asked = [text for text in texts if not HybridNERTask.rules_suffice(text, phrase_votes(text))]
    assert len(asked) >= n
    return asked[:n]


class LlamaServer:
    """`python -m llama_cpp.server` on a fixed port; `start()` again after `kill()` (a new log each time)."""

    def __init__(self, port: int, log_dir: Path, embedded: dict):
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self.log_dir = log_dir
        self.logs: list[Path] = []
        self.process: subprocess.Popen | None = None
        # The embedded teacher's settings, so that the two compute the same thing.
        settings = {"--n_ctx": embedded["n_ctx"], "--seed": embedded["seed"]}
        if embedded["n_threads"]:
            settings["--n_threads"] = embedded["n_threads"]
        self.command = [
            sys.executable, "-m", "llama_cpp.server", "--model", str(find_gguf(EMBEDDED_PACKAGE)),
            "--model_alias", ALIAS, "--host", "127.0.0.1", "--port", str(port), "--verbose", "False",
            *(str(word) for option in settings.items() for word in option),
        ]  # fmt: skip

    def start(self, timeout_s: float = 120.0) -> None:
        log = self.log_dir / f"server-{len(self.logs)}.log"
        self.logs.append(log)
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONUNBUFFERED": "1"}
        with log.open("wb") as out:
            self.process = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT, env=env)
        wait_until_answers("llama_cpp.server", f"{self.base_url}/models", self.process, log, timeout_s)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def log(self, instance: int = -1) -> str:
        return self.logs[instance].read_text(encoding="utf8", errors="replace")

    def answered(self, instance: int) -> int:
        """Chat completions the `instance`-th server process answered (its access log)."""
        return self.log(instance).count('"POST /v1/chat/completions HTTP/1.1" 200')


@pytest.fixture(scope="module")
def embedded_settings() -> dict:
    config = util.load_config(ROOT / "configs" / "annotate.cfg", interpolate=False)
    return dict(config["teachers"]["llamacpp"])


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedded_settings):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    llama_server = LlamaServer(port, tmp_path_factory.mktemp("llama_server"), embedded_settings)
    llama_server.start()
    yield llama_server
    llama_server.kill()


@pytest.fixture(scope="module")
def fewshot(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fewshot") / "fewshot.jsonl"
    lines = (ROOT / "assets" / "fewshot.jsonl").read_text(encoding="utf8").splitlines()
    path.write_text("\n".join(lines[:4]) + "\n", encoding="utf8")
    return path


def annotator(cache_dir: Path, fewshot: Path, backend: str, **settings):
    overrides = {
        "vars.backend": backend,
        "vars.task": "hybrid",
        "vars.guideline_cues": False,
        "vars.fewshot": str(fewshot),
        "vars.cache_dir": str(cache_dir),
        **settings,
    }
    return load_annotator(ROOT / "configs" / "annotate.cfg", {**project_overrides(), **overrides})


def served(server: LlamaServer, cache_dir: Path, fewshot: Path, embedded: dict, **teacher_settings):
    """The annotator on the server: the grammar in llama.cpp's field, the embedded teacher's sampling."""
    settings = {
        "grammar_field": "grammar",
        # llama-cpp-python's server penalises repeats unless told not to; the embedded teacher does not.
        "extra_body": {"repeat_penalty": 1.0},
        "max_tokens": embedded["max_tokens"],
        **teacher_settings,
    }
    return annotator(
        cache_dir, fewshot, "openai", **{"vars.model": ALIAS, "vars.base_url": server.base_url},
        **{f"teachers.openai.{key}": value for key, value in settings.items()},
    )  # fmt: skip


def raw_answers(docs) -> list[str | None]:
    return [doc.user_data["meta"]["raw_answer"] for doc in docs]


def test_max_in_flight_requests_wait_together_in_the_servers_queue(
    server, tmp_path, fewshot, embedded_settings
):
    """The server runs one completion at a time and queues the rest. While it is busy with a long
    one, the teacher sends 4 requests and gives up on each after 1 s: all 4 within 2 s, which only
    4 requests open together can do. When their turn comes, the server finds each one's client
    gone and says so: 4 times, from 4 connections, so it held all 4 in its queue."""
    busy: dict[str, float] = {}

    def keep_the_server_busy() -> None:
        body = {
            "model": ALIAS,
            "messages": [{"role": "user", "content": "Write x."}],
            # A grammar longer than max_tokens allows: exactly 300 tokens to generate.
            "max_tokens": 300,
            "grammar": 'root ::= "x "{1000}',
        }
        httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=300).raise_for_status()
        busy["until"] = time.monotonic()

    nlp = served(server, tmp_path, fewshot, embedded_settings, max_in_flight=4, timeout_s=1.0, max_retries=0)
    texts = asked_descriptions(4)
    blocker = threading.Thread(target=keep_the_server_busy)
    blocker.start()
    time.sleep(0.3)  # the idle server takes the long request at once
    started = time.monotonic()
    docs = list(nlp.pipe(nlp.make_doc(text) for text in texts))
    gave_up = time.monotonic()
    blocker.join()
    assert busy["until"] > gave_up, "the long completion ended before the teacher gave up: make it longer"
    assert gave_up - started < 2.0  # one at a time, the 4 timeouts would take 4 s
    assert [doc.user_data["meta"]["flags"] for doc in docs] == [["unanswered"]] * 4
    assert set(teacher_of(nlp).unanswered.values()) == {"failed 1 try; last: no answer within 1 s"}
    deadline = time.monotonic() + 60
    while server.log().count(GONE_BEFORE_ITS_TURN) < 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    gone = [line for line in server.log().splitlines() if GONE_BEFORE_ITS_TURN in line]
    assert len(gone) == 4 and len(set(gone)) == 4, gone  # each names its client's address and port


def test_answers_are_the_embedded_teachers_and_a_server_restart_mid_run_costs_none(
    server, tmp_path, fewshot, embedded_settings, caplog
):
    texts = asked_descriptions(24)
    # The server cannot run the embedded teacher's logits processor (its penalty on an empty
    # substrate list): the embedded teacher answers without it, as the server does.
    embedded = annotator(
        tmp_path / "embedded", fewshot, "llamacpp", **{"teachers.llamacpp.empty_list_penalty": {}}
    )
    expected = raw_answers(embedded.pipe(embedded.make_doc(t) for t in texts))

    cache = tmp_path / "served"
    killed_after = 8

    def restart_mid_run() -> None:
        answers = cache / CACHE_FILE  # one line per answer, written as it arrives
        while not answers.exists() or len(answers.read_bytes().splitlines()) < killed_after:
            time.sleep(0.05)
        server.kill()
        server.start()

    restarter = threading.Thread(target=restart_mid_run)
    restarter.start()
    # Retries enough to outlast the restart whatever the jitter of the backoff draws.
    nlp = served(server, cache, fewshot, embedded_settings, max_in_flight=4, max_retries=12)
    docs, _ = annotate(nlp, [nlp.make_doc(t) for t in texts])
    restarter.join()
    assert raw_answers(docs) == expected
    assert all(doc.user_data["meta"]["flags"] == [] for doc in docs)
    # Both server processes answered; the requests cut off by the kill were retried, none lost.
    assert server.answered(-2) >= killed_after and server.answered(-1) >= 1
    assert server.answered(-2) + server.answered(-1) >= len(texts)
    assert "retrying" in caplog.text
    assert teacher_of(nlp).usage["asked"] == len(texts) and not teacher_of(nlp).unanswered
    # With the server gone, a rerun answers everything from the cache alone.
    server.kill()
    again = served(server, cache, fewshot, embedded_settings)
    assert raw_answers(again.pipe(again.make_doc(t) for t in texts)) == expected
    assert teacher_of(again).usage["cached"] == len(texts)
