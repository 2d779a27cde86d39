"""int8 dynamic quantisation of the transformer's linear layers, for faster CPU inference.

configs/ner.cfg turns it on, so en_assay_ner loads quantised on a CPU (bench/RESULTS.md
has the speed-up and what it costs in F1). On a GPU it does nothing: torch's dynamic quantisation
has CPU kernels only. To load the full-precision model:

    spacy.load("en_assay_ner", config={"components": {"int8": {"enabled": False}}})

The transformer's weights arrive in its `from_disk`, after every component has been built, so the
quantisation cannot happen in the factory: this component does it in its own `from_disk`, which
spaCy calls after the transformer's because it comes later in the pipeline. The quantised layers
scale each forward pass's activations by that pass's range, so a description's entities can
depend a little on which descriptions share its batch.

A quantised transformer cannot be saved: its weights would load back into the full-precision
layers as missing (spacy-transformers falls back to a non-strict load, with only a warning), so
`to_disk` / `to_bytes` of a quantised pipeline raise instead; load it with int8 disabled to save
it, to train from it or to source its components.
"""

from __future__ import annotations

import warnings

from spacy.language import Language
from spacy.tokens import Doc

NOT_SAVED = (
    "the transformer is int8-quantised and cannot be saved (its weights would load back as missing): "
    'load the pipeline with config={"components": {"int8": {"enabled": False}}} to save it, train '
    "from it or source its components"
)


def _refuse_to_save(*args, **kwargs):
    raise ValueError(NOT_SAVED)


class Int8Quantizer:
    def __init__(self, nlp: Language, name: str, enabled: bool, transformer: str):
        self.nlp = nlp
        self.name = name
        self.enabled = enabled
        self.transformer = transformer
        self.quantized = False

    def __call__(self, doc: Doc) -> Doc:
        return doc

    def quantize(self) -> None:
        import torch

        model = self.nlp.get_pipe(self.transformer).model
        with warnings.catch_warnings():
            # torch announces that eager-mode quantisation moves to torchao; it still works here.
            warnings.simplefilter("ignore")
            for node in model.walk():
                for shim in node.shims:
                    # Dynamic quantisation has CPU kernels only: a model on a GPU stays as it is.
                    if all(p.device.type == "cpu" for p in shim._model.parameters()):
                        torch.ao.quantization.quantize_dynamic(
                            shim._model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True
                        )
                        # On this shim only: the model's to_bytes (to_disk, pickling) reaches it.
                        shim.to_bytes = _refuse_to_save
                        self.quantized = True

    def from_disk(self, path, *, exclude=()):
        if self.enabled and not self.quantized:
            self.quantize()
        return self

    def from_bytes(self, data, *, exclude=()):
        return self.from_disk(None)

    def to_bytes(self, *, exclude=()) -> bytes:
        return b""


@Language.factory("int8", default_config={"enabled": False, "transformer": "transformer"})
def make_int8(nlp: Language, name: str, enabled: bool, transformer: str):
    return Int8Quantizer(nlp, name, enabled, transformer)
