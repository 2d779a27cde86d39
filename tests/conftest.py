"""Settings for the whole test session, made before any test module imports torch or llama.cpp."""

import os
import socket
from pathlib import Path

import pytest

# Offline: a hub id must fail at once instead of retrying for ~50 s.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# llama.cpp's OpenMP threads spin while they wait, which made the embedded model 6-8x slower
# while other tests shared the cores; OpenMP reads this once, when it is first loaded.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


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
        path = Path(__file__).resolve().parent.parent / "assets" / "handchecked.jsonl"
        records = read_jsonl(path)
        docs = [record_to_doc(nlp, record, f"{path}:{line}") for line, record in records][: n_train + n_dev]
        write_docbin(tmp_path / "train.spacy", docs[:n_train])
        write_docbin(tmp_path / "dev.spacy", docs[n_train:])
        return tmp_path / "train.spacy", tmp_path / "dev.spacy"

    return split


def train_small_pipeline(n_docs: int = 40, epochs: int = 30, seed: int = 0):
    """A real bio_ner + assay_answer pipeline (small CNN tok2vec) trained with spaCy's API on the
    first `n_docs` records of assets/tuning.jsonl: seconds of CPU, entities and confidences that
    come from a trained model rather than from rules."""
    import spacy
    from spacy.training import Example
    from thinc.api import Adam, fix_random_seed

    from components.data.docs import read_span_docs
    from components.pipeline import answer, bio_ner  # noqa: F401  (registers the factories)

    fix_random_seed(seed)
    nlp = spacy.blank("en")
    tok2vec = {
        "@architectures": "spacy.HashEmbedCNN.v2",
        "width": 64,
        "depth": 2,
        "embed_size": 2000,
        "window_size": 1,
        "maxout_pieces": 3,
        "subword_features": True,
        "pretrained_vectors": None,
    }
    nlp.add_pipe(
        "bio_ner", config={"model": {"@architectures": "assay_ner.BioTagger.v1", "tok2vec": tok2vec}}
    )
    nlp.add_pipe("assay_answer")
    path = Path(__file__).resolve().parent.parent / "assets" / "tuning.jsonl"
    gold = read_span_docs(nlp, path, "tuning")[:n_docs]
    examples = [Example(nlp.make_doc(doc.text), doc) for doc in gold]
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.005)
    for _ in range(epochs):
        for start in range(0, len(examples), 8):
            nlp.update(examples[start : start + 8], sgd=optimizer, drop=0.1)
    nlp.meta.update({"name": "assay_ner_test", "version": "0.0.1"})
    return nlp


@pytest.fixture(scope="session")
def trained_pipeline(tmp_path_factory) -> Path:
    """The directory of a small real trained pipeline (see `train_small_pipeline`), made once."""
    path = tmp_path_factory.mktemp("trained") / "model"
    train_small_pipeline().to_disk(path)
    return path
