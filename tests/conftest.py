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


@pytest.fixture(scope="session")
def free_port():
    """`free_port()` -> a port on 127.0.0.1 that nothing listens on (for a server a test starts,
    or an address that must not answer)."""

    def find() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    return find


@pytest.fixture
def tuning_split(tmp_path):
    """Write the first records of assets/tuning.jsonl (real descriptions labelled by hand; never the
    evaluation set) as train.spacy and dev.spacy in tmp_path, for short real training runs:
    `tuning_split(n_train, n_dev)` -> (train path, dev path)."""
    import spacy

    from components.data.docs import read_span_docs, write_docbin

    def split(n_train: int, n_dev: int) -> tuple[Path, Path]:
        docs = read_span_docs(spacy.blank("en"), ROOT / "assets" / "tuning.jsonl")[: n_train + n_dev]
        write_docbin(tmp_path / "train.spacy", docs[:n_train])
        write_docbin(tmp_path / "dev.spacy", docs[n_train:])
        return tmp_path / "train.spacy", tmp_path / "dev.spacy"

    return split


@pytest.fixture(scope="session")
def gold_doc():
    """`gold_doc(nlp, text, [(string, label)])` -> a Doc with every occurrence of each string marked,
    as the guidelines ask."""

    def make(nlp, text: str, mentions: list[tuple[str, str]]):
        doc = nlp.make_doc(text)
        ents = []
        for string, label in mentions:
            start = text.find(string)
            assert start >= 0, string
            while start >= 0:
                span = doc.char_span(start, start + len(string), label=label)
                assert span is not None, f"{string!r} is not on token boundaries"
                ents.append(span)
                start = text.find(string, start + 1)
        doc.ents = sorted(ents, key=lambda s: s.start)
        return doc

    return make


# A rule-based stand-in for the trained NER whose output is known exactly.
TINY_PATTERNS = {
    "TARGET": ["JNK2", "muscarinic M5 receptor", "tyrosinase", "NQO1", "beta-adrenergic receptor"],
    "SUBSTRATE": ["ATF2", "[3H]NMS", "L-DOPA", "isoproterenol"],
}


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory) -> Path:
    """A pipeline directory that loads like the real one (load_pipeline of a directory) and ends in
    assay_answer, its entities from TINY_PATTERNS."""
    import spacy

    from components.pipeline import answer  # noqa: F401  (registers assay_answer)

    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": label, "pattern": p} for label, ps in TINY_PATTERNS.items() for p in ps])
    nlp.add_pipe("assay_answer")
    nlp.meta["name"] = "assay_ner_tiny"
    path = tmp_path_factory.mktemp("tiny") / "model"
    nlp.to_disk(path)
    return path


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
    gold = read_span_docs(nlp, ROOT / "assets" / "tuning.jsonl", "tuning")[:n_docs]
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


@pytest.fixture(scope="session")
def trained_transformer_pipeline(tmp_path_factory) -> Path:
    """configs/ner.cfg on the MiniLM stand-in (the shipped defaults: length groups, int8 on a CPU),
    trained briefly with `spacy train` on the first 80 tuning docs: the model-last directory."""
    import spacy
    from spacy.cli.train import train
    from spacy.tokens import DocBin

    from components.data.docs import read_span_docs
    from components.pipeline import answer, bio_ner, bucketing, int8  # noqa: F401  (registers them)
    from components.training.transformer import minilm_path

    work = tmp_path_factory.mktemp("transformer")
    tuning = read_span_docs(spacy.blank("en"), ROOT / "assets" / "tuning.jsonl")
    for name, docs in (("train", tuning[:80]), ("dev", tuning[80:100])):
        DocBin(docs=docs).to_disk(work / f"{name}.spacy")
    train(
        ROOT / "configs" / "ner.cfg",
        work / "out",
        use_gpu=-1,
        overrides={
            "paths.train": str(work / "train.spacy"),
            "paths.dev": str(work / "dev.spacy"),
            "components.transformer.model.name": str(minilm_path()),
            "training.max_steps": 40,
            "training.batcher.size": 400,
            "training.eval_frequency": 40,
            "training.optimizer.learn_rate.warmup_steps": 5,
            "training.optimizer.learn_rate.initial_rate": 0.0005,
        },
    )
    return work / "out" / "model-last"
