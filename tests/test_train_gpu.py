"""The GPU path of training: spacy-transformers on cupy + torch CUDA with mixed precision.
The CPU path is exercised by test_workflow.py."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import spacy

from components.training.transformer import resolve_gpu

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    resolve_gpu("auto") < 0, reason="no CUDA GPU visible to cupy on this machine (CI has none)"
)


def test_training_on_gpu_writes_a_pipeline_that_says_so(tmp_path, handchecked_split):
    train, dev = handchecked_split(30, 10)
    subprocess.run(
        [sys.executable, "-m", "scripts.train", "configs/ner.cfg", str(tmp_path / "out"),
         "--train", str(train), "--dev", str(dev),
         "--transformer", "minilm", "--gpu-id", "0", "--max-steps", "20", "--eval-frequency", "10"],
        cwd=ROOT, check=True,
    )
    meta = json.loads((tmp_path / "out" / "model-best" / "meta.json").read_text())
    assert meta["assay_ner"]["device"] == "GPU 0"
    trained = spacy.load(tmp_path / "out" / "model-best")
    assert set(trained.get_pipe("bio_ner").labels) == {"TARGET", "SUBSTRATE"}
