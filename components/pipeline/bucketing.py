"""Length groups for the transformer at inference: fewer padding word pieces, and one answer per
description whatever its batch.

spacy-transformers pads every forward pass to its longest span. Its `transformer` component groups
a `nlp.pipe` batch by length in spaCy tokens (`max_batch_items`), but the backbone's cost is in word
pieces, and a chemical name splits into many more of them than a plain word: grouped by spaCy
tokens, a batch still pads heavily.

`assay_ner.BucketedTransformerModel.v1` is spacy-transformers' TransformerModel with one change at
prediction time: it tokenizes the batch once, gives each doc a fixed padded width (its longest
span's word pieces rounded up to a multiple of PAD_MULTIPLE), and runs the backbone on groups of
docs of one width, at most `bucket_wordpieces` padded word pieces a group; then it hands every doc
its own outputs, in the order the docs came (bench/RESULTS.md measures what it saves).

Why a fixed width rather than the group's longest: the backbone's kernels (attention above all)
round differently for different padded widths, so padding a description to its companions' length
moved its numbers a little. Its own width makes a description's forward pass the same whatever
else is in the batch; with components/pipeline/int8.py, the same bits.

What does not change: the weights and their serialisation (the same layers in the same order, so a
pipeline trained with `spacy-transformers.TransformerModel.v3` loads under this architecture and
back), training (`begin_update` runs the plain forward pass), and each doc's outputs in
`doc._.trf_data` up to float rounding (padding is masked out of attention). One thing does: when a
batch is split into several groups, the batch-level fields of the prediction (`wordpieces`,
`model_output`, `align`) are left empty and only its per-doc `doc_data` is filled, so an annotation
setter that reads the whole batch sees nothing (the shipped config uses the null setter).

The grouping runs on the CPU; the forward passes run where the model is. Nothing here imports from
the project (it ships in the wheel).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy
from spacy.tokens import Doc
from spacy.util import registry
from spacy_transformers.align import get_alignment_via_offset_mapping
from spacy_transformers.data_classes import FullTransformerBatch, WordpieceBatch
from spacy_transformers.layers.transformer_model import TransformerModel
from spacy_transformers.layers.transformer_model import forward as plain_forward
from spacy_transformers.truncate import truncate_oversize_splits
from thinc.api import Model
from thinc.types import Ragged
from transformers import PreTrainedTokenizerFast
from transformers.utils import ModelOutput

# Padded widths are multiples of this many word pieces: few distinct widths, so that groups stay
# large, and little padding (3.5 pieces a description on average).
PAD_MULTIPLE = 8


def padded_width(pieces: int, multiple: int = PAD_MULTIPLE) -> int:
    return -(-pieces // multiple) * multiple


def length_buckets(lengths: list[int], sizes: list[int], max_items: int) -> list[list[int]]:
    """Indices grouped so that every item of a group has the same length and each group holds at
    most `max_items` word pieces (length x rows; an item larger than that goes alone).

    `lengths[i]` is item i's padded length, `sizes[i]` how many rows it adds (its spans; an empty
    doc adds none and joins the first group). Shortest lengths first; ties keep their order."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    buckets: list[list[int]] = []
    bucket: list[int] = []
    rows, width = 0, None
    for i in order:
        if sizes[i] and rows and (lengths[i] != width or lengths[i] * (rows + sizes[i]) > max_items):
            buckets.append(bucket)
            bucket, rows = [], 0
        bucket.append(i)
        if sizes[i]:
            rows += sizes[i]
            width = lengths[i]
    if bucket:
        buckets.append(bucket)
    return buckets


def _pad(rows: list[list], width: int, value) -> numpy.ndarray:
    padded = numpy.full((len(rows), width), value, dtype="int64")
    for i, row in enumerate(rows):
        padded[i, : len(row)] = row
    return padded


def _group_batch(model: TransformerModel, nested_spans: list, encoded: dict, rows: list[int], width: int):
    """The prediction for one group: `rows` index the flat spans' encodings, all padded to `width`."""
    tokenizer = model.tokenizer
    ids = [encoded["input_ids"][r] for r in rows]
    input_ids = _pad(ids, width, tokenizer.pad_token_id)
    token_data = {
        "input_ids": input_ids,
        "attention_mask": _pad([[1] * len(row) for row in ids], width, 0),
        "input_texts": [tokenizer.convert_ids_to_tokens(row) for row in input_ids.tolist()],
        "pad_token": tokenizer.pad_token,
    }
    if "token_type_ids" in encoded:
        token_data["token_type_ids"] = _pad([encoded["token_type_ids"][r] for r in rows], width, 0)
    offsets = numpy.zeros((len(rows), width, 2), dtype="int64")
    for i, r in enumerate(rows):
        offsets[i, : len(encoded["offset_mapping"][r])] = encoded["offset_mapping"][r]
    flat_spans = [span for spans in nested_spans for span in spans]
    wordpieces = WordpieceBatch.from_batch_encoding(token_data)
    align = get_alignment_via_offset_mapping(flat_spans, offsets)
    wordpieces, align = truncate_oversize_splits(wordpieces, align, tokenizer.model_max_length)
    model_output, _ = model.layers[0](wordpieces, False)
    return FullTransformerBatch(
        spans=nested_spans, wordpieces=wordpieces, model_output=model_output, align=align
    )


def bucketed_forward(model: TransformerModel, docs: list[Doc], bucket_wordpieces: int):
    """The prediction of spacy-transformers' forward pass, run in groups of one padded width."""
    nested_spans = model.attrs["get_spans"](docs)
    flat_spans = [span for spans in nested_spans for span in spans]
    tokenizer = model.tokenizer
    if not flat_spans or not isinstance(tokenizer, PreTrainedTokenizerFast):
        # No text, or no offsets to align by (a slow tokenizer): the plain path.
        return plain_forward(model, docs, False)
    encoded = tokenizer(
        [span.text for span in flat_spans],
        add_special_tokens=True,
        return_attention_mask=False,
        return_offsets_mapping=True,
        return_token_type_ids=None,
    )
    starts = numpy.cumsum([0] + [len(spans) for spans in nested_spans])
    counts = [len(ids) for ids in encoded["input_ids"]]
    widths = [
        padded_width(max(counts[starts[d] : starts[d + 1]], default=0)) for d in range(len(docs))
    ]
    sizes = [len(spans) for spans in nested_spans]
    buckets = length_buckets(widths, sizes, bucket_wordpieces)
    doc_data: list = [None] * len(docs)
    for bucket in buckets:
        rows = [r for d in bucket for r in range(starts[d], starts[d + 1])]
        width = max(widths[d] for d in bucket)
        batch = _group_batch(model, [nested_spans[d] for d in bucket], encoded, rows, width)
        if len(buckets) == 1:
            return batch, _no_backprop
        for d, data in zip(bucket, batch.doc_data, strict=True):
            doc_data[d] = data
    output = FullTransformerBatch(
        spans=nested_spans,
        wordpieces=WordpieceBatch.empty(),
        model_output=ModelOutput(),
        align=Ragged(numpy.zeros((0,), dtype="i"), numpy.zeros((0,), dtype="i")),
        cached_doc_data=doc_data,
    )
    return output, _no_backprop


def _no_backprop(_):
    raise ValueError("bucketed_forward does not train: begin_update runs the plain forward pass")


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
    """spacy-transformers.TransformerModel.v3 whose prediction runs in groups of docs of one padded
    width, each group at most `bucket_wordpieces` padded word pieces (see the module doc)."""
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
