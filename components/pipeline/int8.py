"""int8 linear layers for the transformer on a CPU, whose result for a token depends on that token alone.

configs/ner.cfg turns it on, so en_assay_ner loads quantised on a CPU (bench/RESULTS.md has the
speed-up and what it costs in F1). On a GPU it does nothing. To load the full-precision model:

    spacy.load("en_assay_ner", config={"components": {"int8": {"enabled": False}}})

Why not torch's own dynamic quantisation: it scales each forward pass's activations by that pass's
range over the whole padded batch, so the other descriptions in a batch moved a description's
entities. Here every row (one word piece's activations) is scaled by its own largest magnitude
before it is quantised (per-token scales, as torchao's int8 dynamic-activation configs use), and
torch's int8 kernel (fbgemm) then always sees the same range: a fixed row of +1 and -1 rides along
in every call, so the kernel's own per-tensor scale and zero point never change. The integer
products are exact and the rest is elementwise, so a row's output is the same bits whatever the
other rows are. With the fixed padded widths of components/pipeline/bucketing.py, a description
gets the same entities and confidences alone, in any batch and in any order.

The transformer's weights arrive in its `from_disk`, after every component has been built, so the
quantisation cannot happen in the factory: this component does it in its own `from_disk`, which
spaCy calls after the transformer's because it comes later in the pipeline.

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


class RowScales:
    """The last input's rows scaled to a largest magnitude of 1, with the fixed +1/-1 row appended.

    Shared by the layers of one model: a BERT layer's query, key and value read the same tensor,
    which is then scaled once, not three times."""

    def __init__(self):
        self._input = None
        self._version = -1
        self.scaled = None
        self.scales = None

    def __call__(self, x):
        import torch

        # Tensors made under torch.inference_mode() keep no version counter: the identity suffices
        # there (nothing writes to a layer's input between its query, key and value).
        version = None if x.is_inference() else x._version
        if x is self._input and version == self._version:
            return self.scaled, self.scales
        rows = x.reshape(-1, x.shape[-1])
        scales = rows.abs().amax(dim=1, keepdim=True).clamp_(min=1e-12)
        scaled = torch.empty((rows.shape[0] + 1, rows.shape[1]), dtype=rows.dtype)
        torch.div(rows, scales, out=scaled[:-1])
        scaled[-1] = 0.0
        scaled[-1, 0], scaled[-1, 1] = 1.0, -1.0
        self._input, self._version, self.scaled, self.scales = x, version, scaled, scales
        return scaled, scales


def _row_scaled_linear_class():
    import torch

    class RowScaledInt8Linear(torch.nn.Module):
        """nn.Linear with int8 weights (one scale per output) and int8 activations (one scale per row)."""

        def __init__(self, linear: torch.nn.Linear, row_scales: RowScales):
            super().__init__()
            weight = linear.weight.detach().float()
            weight_scales = weight.abs().amax(dim=1).clamp(min=1e-12) / 127
            scales, zero_points = weight_scales.double(), torch.zeros(len(weight), dtype=torch.long)
            with warnings.catch_warnings():
                # torch 2.13 marks quantized tensors deprecated; it is pinned, and they work in it
                warnings.filterwarnings("ignore", message="torch.quantize_per_tensor", category=UserWarning)
                quantized = torch.quantize_per_channel(weight, scales, zero_points, 0, torch.qint8)
            self.packed = torch.ops.quantized.linear_prepack(quantized, None)
            self.bias = None if linear.bias is None else linear.bias.detach().clone()
            self.out_features = linear.out_features
            self.row_scales = row_scales

        def forward(self, x):
            scaled, scales = self.row_scales(x)
            # reduce_range: 7-bit activations, which fbgemm needs on CPUs without VNNI
            out = torch.ops.quantized.linear_dynamic(scaled, self.packed, True)[:-1].mul_(scales)
            if self.bias is not None:
                out.add_(self.bias)
            return out.reshape(*x.shape[:-1], self.out_features)

    return RowScaledInt8Linear


def quantize_rows(module) -> int:
    """Replace every nn.Linear under `module` by its row-scaled int8 version; returns how many."""
    import torch

    layer_class = _row_scaled_linear_class()
    row_scales = RowScales()
    replaced = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is torch.nn.Linear:
                setattr(parent, name, layer_class(child, row_scales))
                replaced += 1
    return replaced


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
        for node in model.walk():
            for shim in node.shims:
                # fbgemm has CPU kernels only: a model on a GPU stays as it is.
                if all(p.device.type == "cpu" for p in shim._model.parameters()):
                    with torch.no_grad():
                        quantize_rows(shim._model)
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
