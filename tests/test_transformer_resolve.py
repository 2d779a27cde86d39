"""A named transformer (a hub id) that cannot be loaded stops the train step in one line, before
spaCy starts: offline and not in the Hugging Face cache, or a hub that has no such model, or one
that cannot be reached. One in the cache is taken offline. The hub is doubled on 127.0.0.1
(tests/hub_double.py); the cache is a fresh HF_HOME per test."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from components.training.transformer import TransformerError, minilm_path, resolve_transformer
from tests.hub_double import HubDouble

ROOT = Path(__file__).resolve().parent.parent


def resolve_step(tmp_path: Path, transformer: str) -> subprocess.CompletedProcess:
    """The train step's first command, as project.yml runs it, offline with an empty cache but what
    the test puts there."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    return subprocess.run(
        [sys.executable, "-m", "scripts.resolve_transformer", "configs/ner.cfg", str(tmp_path / "config.cfg"),
         "--transformer", transformer, "--gpu-id", "-1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_an_uncached_hub_id_offline_stops_the_train_step_in_one_line(tmp_path):
    run = resolve_step(tmp_path, "someone/uncached-bert")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.splitlines()[-1] == (
        "train: transformer 'someone/uncached-bert' cannot be loaded: no such local directory, not in "
        f"the Hugging Face cache {tmp_path / 'hf' / 'hub'}, and the hub is off (HF_HUB_OFFLINE=1); give a "
        "directory that holds it, download it into the cache where the hub answers, or set "
        "HF_HUB_OFFLINE=0 where it can be reached (or transformer=auto for the shipped stand-in)"
    )
    assert not (tmp_path / "config.cfg").exists()


def test_a_cached_hub_id_is_taken_offline(tmp_path):
    # The cache's layout, as huggingface_hub writes it: refs/main names the snapshot.
    repo = tmp_path / "hf" / "hub" / "models--someone--cached-bert"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_bytes((minilm_path() / "config.json").read_bytes())
    run = resolve_step(tmp_path, "someone/cached-bert")
    assert run.returncode == 0, run.stderr
    assert 'name = "someone/cached-bert"' in (tmp_path / "config.cfg").read_text()


def test_a_hub_without_the_model_or_out_of_reach_is_named(monkeypatch, free_port, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    hub = HubDouble("someone/another-model", minilm_path())
    try:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(
            TransformerError, match=rf"and the hub {hub.url} has no such model for us \(HTTP 404\)"
        ):
            resolve_transformer("someone/missing-bert")
        assert resolve_transformer("someone/another-model").name == "someone/another-model"
    finally:
        hub.close()
    nowhere = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("HF_ENDPOINT", nowhere)
    with pytest.raises(TransformerError, match=rf"and the hub {nowhere} cannot be reached \(ConnectError\)"):
        resolve_transformer("someone/missing-bert")
    with pytest.raises(TransformerError, match=f"transformer directory {tmp_path} has no config.json"):
        resolve_transformer(str(tmp_path))
