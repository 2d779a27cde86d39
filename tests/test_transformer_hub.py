"""The online path of `transformer=auto`: BioLinkBERT from the Hugging Face Hub.

The hub cannot be reached from this machine, so tests/hub_double.py stands in for it on
127.0.0.1 and serves the shipped all-MiniLM-L6-v2 files under BioLinkBERT's repo id: what is
tested is our resolution, spaCy's download through huggingface_hub and the record of the choice,
not BioLinkBERT's weights.
"""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from components.inference.load import load_pipeline
from components.training.transformer import BIOLINKBERT, minilm_path, resolve_transformer
from tests.hub_double import HubDouble

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def hub():
    double = HubDouble(BIOLINKBERT, minilm_path())
    yield double
    double.close()


def online(monkeypatch, endpoint: str) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", endpoint)


def test_auto_takes_biolinkbert_when_the_hub_answers(hub, monkeypatch):
    online(monkeypatch, hub.url)
    choice = resolve_transformer("auto")
    assert (choice.name, choice.label, choice.stand_in) == (BIOLINKBERT, BIOLINKBERT, False)
    assert ("HEAD", f"/{BIOLINKBERT}/resolve/main/config.json") in hub.requests


def test_auto_falls_back_to_the_shipped_minilm_with_a_warning(monkeypatch, caplog):
    double = HubDouble("someone/another-model", minilm_path())  # answers, but has no BioLinkBERT
    try:
        online(monkeypatch, double.url)
        with caplog.at_level(logging.WARNING, logger="assay_ner"):
            choice = resolve_transformer("auto")
    finally:
        double.close()
    assert choice.stand_in and Path(choice.name) == minilm_path()
    assert "cannot be loaded here" in caplog.text


def test_training_with_auto_downloads_biolinkbert_and_names_it(hub, tmp_path, tuning_split):
    # The train step's two commands, as project.yml runs them.
    train, dev = tuning_split(18, 6)
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf")}
    config = tmp_path / "config.cfg"
    chosen = subprocess.run(
        [sys.executable, "-m", "scripts.resolve_transformer", "configs/ner.cfg", str(config),
         "--transformer", "auto", "--gpu-id", "-1"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert chosen.returncode == 0, chosen.stderr[-3000:]
    assert f"transformer: {BIOLINKBERT} ({BIOLINKBERT}); training on CPU" in chosen.stderr
    result = subprocess.run(
        [sys.executable, "-m", "spacy", "train", str(config), "--output", str(tmp_path / "out"),
         "--code", "components/training/registry.py", "--gpu-id", "-1",
         "--paths.train", str(train), "--paths.dev", str(dev),
         "--training.max_steps", "4", "--training.eval_frequency", "2"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert hub.served("config.json") and hub.served("model.safetensors")
    trained_config = (tmp_path / "out" / "model-best" / "config.cfg").read_text()
    assert f'name = "{BIOLINKBERT}"' in trained_config
    # The trained pipeline holds the weights: it loads and runs with the hub gone.
    hub.close()
    trained = load_pipeline(tmp_path / "out" / "model-best")
    doc = trained("Inhibition of human JNK2 using ATF2 as substrate")
    assert doc._.targets is not None and set(trained.get_pipe("bio_ner").labels) == {"TARGET", "SUBSTRATE"}
