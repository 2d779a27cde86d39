"""Optional int8 dynamic quantisation of the transformer's linear layers, for faster CPU inference.

Off by default. Turn it on when loading:

    spacy.load("en_assay_ner", config={"components": {"int8": {"enabled": True}}})

The transformer's weights arrive in its `from_disk`, after every component has been built, so the
quantisation cannot happen in the factory: this component does it in its own `from_disk`, which
spaCy calls after the transformer's because it comes later in the pipeline. bench/RESULTS.md
records the speed-up and what it costs in F1.
"""

from __future__ import annotations

import warnings

from spacy.language import Language
from spacy.tokens import Doc


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
                    torch.ao.quantization.quantize_dynamic(
                        shim._model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True
                    )
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
