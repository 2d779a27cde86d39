"""The GPU path of training: spacy-transformers on cupy + torch CUDA with mixed precision.
The CPU path is exercised by test_workflow.py."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import spacy

from components.records import read_jsonl, record_to_doc, write_docbin
from components.transformer import resolve_gpu

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    resolve_gpu("auto") < 0, reason="no CUDA GPU visible to cupy on this machine (CI has none)"
)


def test_training_on_gpu_writes_a_pipeline_that_says_so(tmp_path):
    nlp = spacy.blank("en")
    path = ROOT / "assets" / "handchecked.jsonl"
    docs = [record_to_doc(nlp, record, f"{path}:{line}") for line, record in read_jsonl(path)][:40]
    write_docbin(tmp_path / "train.spacy", docs[:30])
    write_docbin(tmp_path / "dev.spacy", docs[30:])
    subprocess.run(
        [sys.executable, "-m", "scripts.train", "configs/ner.cfg", str(tmp_path / "out"),
         "--train", str(tmp_path / "train.spacy"), "--dev", str(tmp_path / "dev.spacy"),
         "--transformer", "minilm", "--gpu-id", "0", "--max-steps", "20", "--eval-frequency", "10"],
        cwd=ROOT, check=True,
    )
    meta = json.loads((tmp_path / "out" / "model-best" / "meta.json").read_text())
    assert meta["assay_ner"]["device"] == "GPU 0"
    trained = spacy.load(tmp_path / "out" / "model-best")
    assert set(trained.get_pipe("bio_ner").labels) == {"TARGET", "SUBSTRATE"}
