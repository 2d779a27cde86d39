"""Settings for the whole test session, made before any test module imports torch or llama.cpp."""

import json
import os
import socket
from pathlib import Path

import pytest

# Offline: a hub id must fail at once instead of retrying for ~50 s.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# llama.cpp's OpenMP threads spin while they wait, which made the embedded model 6-8x slower
# while other tests shared the cores; OpenMP reads this once, when it is first loaded.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def annotate_config() -> Path:
    """The annotation pipeline's config, configs/annotate.cfg."""
    return ROOT / "configs" / "annotate.cfg"


@pytest.fixture
def write_corpus():
    """`write_corpus(path, texts)` writes a corpus JSONL (ids T-0, T-1, ...) and returns its path."""

    def write(path: Path, texts: list[str]) -> Path:
        lines = (json.dumps({"assay_chembl_id": f"T-{i}", "text": t}) + "\n" for i, t in enumerate(texts))
        path.write_text("".join(lines), encoding="utf8")
        return path

    return write


@pytest.fixture
def free_port():
    """`free_port()` -> a port on 127.0.0.1 that nothing listens on (for a server a test starts,
    or an address that must not answer)."""

    def find() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    return find


@pytest.fixture
def handchecked_split(tmp_path):
    """Write the first hand-checked records as train.spacy and dev.spacy in tmp_path, for short real
    training runs: `handchecked_split(n_train, n_dev)` -> (train path, dev path)."""
    import spacy

    from components.data.records import read_jsonl, record_to_doc, write_docbin

    def split(n_train: int, n_dev: int) -> tuple[Path, Path]:
        nlp = spacy.blank("en")
        path = ROOT / "assets" / "handchecked.jsonl"
        records = read_jsonl(path)
        docs = [record_to_doc(nlp, record, f"{path}:{line}") for line, record in records][: n_train + n_dev]
        write_docbin(tmp_path / "train.spacy", docs[:n_train])
        write_docbin(tmp_path / "dev.spacy", docs[n_train:])
        return tmp_path / "train.spacy", tmp_path / "dev.spacy"

    return split
