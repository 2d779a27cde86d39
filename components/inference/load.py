"""Load a trained pipeline for inference, on the device asked for, and say which.

A pipeline directory (training/model-calibrated) names the shipped components that
components/pipeline defines: their modules are imported first, which registers them. An
installed package (en_assay_ner) registers its own copies when spaCy imports it, so nothing of
the project's is imported then: a process that loads the package runs the wheel's code alone.
"""

from __future__ import annotations

import logging
from pathlib import Path

import spacy
from spacy.language import Language

logger = logging.getLogger(__name__)


def resolve_gpu(requested: str | int) -> int:
    """`auto` -> GPU 0 when cupy sees a CUDA device, else -1 (CPU); an integer is taken as given."""
    if str(requested) != "auto":
        return int(requested)
    try:
        import cupy

        return 0 if cupy.cuda.runtime.getDeviceCount() > 0 else -1
    except Exception:  # no cupy, no driver, no device: all mean CPU
        return -1


def use_device(requested: str | int) -> str:
    """Put spaCy/thinc on the GPU asked for (or CPU); returns "GPU n" or "CPU" for the logs."""
    gpu = resolve_gpu(requested)
    if gpu >= 0:
        spacy.require_gpu(gpu)
        return f"GPU {gpu}"
    return "CPU"


def load_pipeline(model: str | Path | Language, config: dict | None = None) -> Language:
    """A loaded pipeline as it is, or load one from a directory or an installed package name."""
    if isinstance(model, Language):
        return model
    if Path(model).is_dir():
        from components.pipeline import answer, bio_ner, bucketing, int8  # noqa: F401  (registers the factories)
    return spacy.load(model, config=config or {})
