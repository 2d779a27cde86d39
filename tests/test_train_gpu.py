"""The GPU path of training: spacy-transformers on cupy + torch CUDA with mixed precision, from the
config that the train step writes. The CPU path runs in test_workflow.py."""

from pathlib import Path

import pytest
import spacy

from components.inference.load import resolve_gpu
from components.training import registry  # noqa: F401  (registers what configs/ner.cfg names)
from components.training.transformer import write_training_config

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    resolve_gpu("auto") < 0, reason="no CUDA GPU visible to cupy on this machine (CI has none)"
)


def test_training_on_gpu_keeps_the_arrays_on_the_gpu_and_the_loss_falls(tmp_path, tuning_split):
    import cupy
    from spacy.training import Corpus
    from spacy.training.initialize import init_nlp
    from thinc.api import CupyOps

    spacy.require_gpu(0)
    train, dev = tuning_split(40, 10)
    write_training_config(ROOT / "configs" / "ner.cfg", tmp_path / "config.cfg", "minilm", 0)
    paths = {"paths.train": str(train), "paths.dev": str(dev)}
    config = spacy.util.load_config(tmp_path / "config.cfg", overrides=paths, interpolate=False)
    assert config["components"]["transformer"]["model"]["mixed_precision"] is True
    nlp = init_nlp(config, use_gpu=0)
    examples = list(Corpus(str(train))(nlp))
    optimizer = nlp.resume_training()
    losses = []
    for step in range(40):
        batch = examples[(step * 8) % len(examples) :][:8]
        losses.append(nlp.update(batch, sgd=optimizer, losses={})["bio_ner"])
    assert sum(losses[-5:]) < 0.5 * sum(losses[:5]), losses

    assert isinstance(nlp.get_pipe("bio_ner").model.ops, CupyOps)
    softmax = nlp.get_pipe("bio_ner").model.layers[-1]
    assert all(isinstance(softmax.get_param(name), cupy.ndarray) for name in ("W", "b"))
    shims = [shim for node in nlp.get_pipe("transformer").model.walk() for shim in node.shims]
    assert {p.device.type for p in shims[0]._model.parameters()} == {"cuda"}
    doc = nlp("Inhibition of human JNK2 using ATF2 as substrate")
    assert doc._.targets is not None
