"""Length bucketing for the transformer at inference: fewer padding word pieces, same predictions.

spacy-transformers pads every forward pass to its longest span. Its `transformer` component groups
a `nlp.pipe` batch by length in spaCy tokens (`max_batch_items`), but the backbone's cost is in word
pieces, and a chemical name splits into many more of them than a plain word: grouped by spaCy
tokens, a batch still pads heavily.

`assay_ner.BucketedTransformerModel.v1` is spacy-transformers' TransformerModel with one change at
prediction time: it counts each doc's word pieces, sorts the docs by that count and runs the
backbone on consecutive groups of at most `bucket_wordpieces` padded word pieces, then hands every
doc its own outputs, in the order the docs came (bench/RESULTS.md measures what it saves).

What does not change: the weights and their serialisation (the same layers in the same order, so a
pipeline trained with `spacy-transformers.TransformerModel.v3` loads under this architecture and
back), training (`begin_update` runs the plain forward pass), and each doc's outputs in
`doc._.trf_data` up to float rounding (padding is masked out of attention; only the padded width
differs). One thing does: when a batch is split into several groups, the batch-level fields of the
prediction (`wordpieces`, `model_output`, `align`) are left empty and only its per-doc `doc_data`
is filled, so an annotation setter that reads the whole batch sees nothing (the shipped config
uses the null setter).

The sorting uses the transformer's own tokenizer on the CPU; the forward passes run where the model
is, so the GPU path is the plain one. Nothing here imports from the project (it ships in the wheel).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy
from spacy.tokens import Doc
from spacy.util import registry
from spacy_transformers.data_classes import FullTransformerBatch, WordpieceBatch
from spacy_transformers.layers.transformer_model import TransformerModel
from spacy_transformers.layers.transformer_model import forward as plain_forward
from thinc.api import Model
from thinc.types import Ragged
from transformers.utils import ModelOutput


def wordpiece_counts(tokenizer, spans: list) -> list[int]:
    """Word pieces (special tokens included, as the forward pass counts them) of each span."""
    if not spans:
        return []
    encoded = tokenizer([span.text for span in spans], add_special_tokens=True, return_attention_mask=False)
    return [len(ids) for ids in encoded["input_ids"]]


def length_buckets(lengths: list[int], sizes: list[int], max_items: int) -> list[list[int]]:
    """Indices grouped so that each group, padded to its longest item, holds at most `max_items`
    word pieces (longest length x rows in the group; an item larger than that goes alone).

    `lengths[i]` is item i's padded length, `sizes[i]` how many rows it adds (its spans; an empty
    doc adds none and joins the first group). Items are taken shortest first, so each group pads
    little; ties keep their order."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    buckets: list[list[int]] = []
    bucket: list[int] = []
    rows = 0
    for i in order:
        if rows and lengths[i] * (rows + sizes[i]) > max_items:
            buckets.append(bucket)
            bucket, rows = [], 0
        bucket.append(i)
        rows += sizes[i]
    if bucket:
        buckets.append(bucket)
    return buckets


def bucketed_forward(model: TransformerModel, docs: list[Doc], bucket_wordpieces: int):
    """The prediction of spacy-transformers' forward pass, run in length groups."""
    is_train = False
    nested_spans = model.attrs["get_spans"](docs)
    counts = iter(wordpiece_counts(model.tokenizer, [span for spans in nested_spans for span in spans]))
    sizes = [len(spans) for spans in nested_spans]
    lengths = [max((next(counts) for _ in range(size)), default=0) for size in sizes]
    buckets = length_buckets(lengths, sizes, bucket_wordpieces)
    if len(buckets) <= 1:
        return plain_forward(model, docs, is_train)
    doc_data: list = [None] * len(docs)
    for bucket in buckets:
        batch, _ = plain_forward(model, [docs[i] for i in bucket], is_train)
        for i, data in zip(bucket, batch.doc_data, strict=True):
            doc_data[i] = data
    output = FullTransformerBatch(
        spans=nested_spans,
        wordpieces=WordpieceBatch.empty(),
        model_output=ModelOutput(),
        align=Ragged(numpy.zeros((0,), dtype="i"), numpy.zeros((0,), dtype="i")),
        cached_doc_data=doc_data,
    )

    def backprop(_):
        raise ValueError("bucketed_forward does not train: begin_update runs the plain forward pass")

    return output, backprop


@registry.architectures("assay_ner.BucketedTransformerModel.v1")
def build_bucketed_transformer(
    name: str,
    get_spans: Callable,
    tokenizer_config: dict = {},  # noqa: B006  (spacy-transformers' own signature; never mutated)
    transformer_config: dict = {},  # noqa: B006
    mixed_precision: bool = False,
    grad_scaler_config: dict = {},  # noqa: B006
    bucket_wordpieces: int = 2048,
) -> Model:
    """spacy-transformers.TransformerModel.v3 whose prediction runs in groups of docs of similar
    length, each group at most `bucket_wordpieces` padded word pieces (see the module doc)."""
    if bucket_wordpieces < 1:
        raise ValueError(f"bucket_wordpieces must be at least 1, got {bucket_wordpieces}")
    model = TransformerModel(
        name, get_spans, tokenizer_config, transformer_config, mixed_precision, grad_scaler_config
    )

    # The setting lives in this closure, not in model.attrs: thinc saves attrs with the weights and
    # would restore a saved value over the one the config gives at load time.
    def forward(model: TransformerModel, docs: list[Doc], is_train: bool):
        if is_train:
            return plain_forward(model, docs, is_train)
        return bucketed_forward(model, docs, bucket_wordpieces)

    model._func = forward
    return model
