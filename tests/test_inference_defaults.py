"""The inference defaults en_assay_ner ships with: configs/ner.cfg's settings reach the
trained pipeline and the package built from it, and the fast path predicts what the plain path does.

One real pipeline for the module: configs/ner.cfg on the MiniLM stand-in, trained for a few dozen
steps on the first tuning documents, scored on real hand-checked descriptions.
"""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.util import load_config, load_model_from_config

from components.data.docs import read_span_docs
from components.pipeline import answer, bio_ner, bucketing, int8  # noqa: F401  (registers them)
from components.pipeline.bucketing import PAD_MULTIPLE, length_buckets, padded_width

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ["labels", "answer", "bio_ner", "int8", "bucketing"]
ARCHITECTURE = ("components", "transformer", "model", "@architectures")
BUCKET = ("components", "transformer", "model", "bucket_wordpieces")

# What configs/ner.cfg sets for inference, and so what a trained pipeline and its package carry.
DEFAULTS = {
    ("nlp", "batch_size"): 1000,
    ARCHITECTURE: "assay_ner.BucketedTransformerModel.v1",
    BUCKET: 2048,
    ("components", "int8", "enabled"): True,
}
FP32 = {("components", "int8", "enabled"): False}
# The earlier defaults (plain transformer, batch 64, fp32), for the plain path.
PLAIN = {
    ("nlp", "batch_size"): 64,
    ARCHITECTURE: "spacy-transformers.TransformerModel.v3",
    ("components", "int8", "enabled"): False,
}


def setting(config, path: tuple[str, ...]):
    for key in path:
        config = config[key]
    return config


def with_settings(config, settings: dict):
    config = copy.deepcopy(config)
    for (*path, key), value in settings.items():
        setting(config, tuple(path))[key] = value
    if settings.get(ARCHITECTURE) == "spacy-transformers.TransformerModel.v3":
        setting(config, ARCHITECTURE[:-1]).pop("bucket_wordpieces", None)
    return config


@pytest.fixture(scope="module")
def real_docs():
    nlp = spacy.blank("en")
    return {
        "tuning": read_span_docs(nlp, ROOT / "assets" / "tuning.jsonl"),
        "handchecked": read_span_docs(nlp, ROOT / "assets" / "handchecked.jsonl"),
    }


@pytest.fixture(scope="module")
def trained(trained_transformer_pipeline):
    return trained_transformer_pipeline


def load_with(path: Path, settings: dict):
    """The trained pipeline with some of its config's settings changed (weights from disk)."""
    config = with_settings(load_config(path / "config.cfg"), settings)
    return load_model_from_config(config, auto_fill=False).from_disk(path)


def entities(docs) -> list[list[tuple[int, int, str]]]:
    return [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in docs]


def test_the_config_sets_the_fast_defaults():
    config = load_config(ROOT / "configs" / "ner.cfg")
    assert {path: setting(config, path) for path in DEFAULTS} == DEFAULTS


def test_a_trained_pipeline_carries_the_defaults_and_loads_them(trained):
    nlp = spacy.load(trained)
    assert {path: setting(nlp.config, path) for path in DEFAULTS} == DEFAULTS
    assert nlp.batch_size == DEFAULTS[("nlp", "batch_size")]
    assert nlp.get_pipe("int8").quantized  # on a CPU


def test_length_bucketing_predicts_what_the_plain_path_does_in_the_order_given(trained, real_docs):
    bucketed = load_with(trained, FP32)
    plain = load_with(trained, PLAIN)
    # Real descriptions in a shuffled order, with texts that test the edges: an empty one, a
    # one-word one, and one longer than the transformer's window (128 tokens), cut into spans.
    texts = [doc.text for doc in real_docs["handchecked"]]
    texts = [texts[i] for i in numpy.random.default_rng(0).permutation(len(texts))]
    texts[5:5] = ["", "Kinase", " ".join(texts[:12])]
    fast_docs, plain_docs = list(bucketed.pipe(texts)), list(plain.pipe(texts))
    assert [doc.text for doc in fast_docs] == texts
    assert entities(fast_docs) == entities(plain_docs)
    assert sum(map(len, entities(fast_docs))) > 50  # the few training steps learnt something
    fast_scores = bucketed.get_pipe("bio_ner").predict(fast_docs)
    plain_scores = plain.get_pipe("bio_ner").predict(plain_docs)
    for a, b in zip(fast_scores, plain_scores, strict=True):
        numpy.testing.assert_allclose(a, b, atol=1e-4)
    # nlp(text) takes the same path as nlp.pipe.
    assert entities([bucketed(texts[0])]) == entities(plain_docs[:1])


def test_the_int8_default_keeps_the_order_and_nearly_all_predictions(trained, real_docs):
    import torch

    quantized, fp32 = spacy.load(trained), load_with(trained, FP32)
    assert quantized.get_pipe("int8").quantized and not fp32.get_pipe("int8").quantized

    def linear_types(nlp):
        modules = nlp.get_pipe("transformer").model.transformer.modules()
        return {type(m) for m in modules if "Linear" in type(m).__name__}

    assert linear_types(fp32) == {torch.nn.Linear}
    assert torch.nn.Linear not in linear_types(quantized)
    texts = [doc.text for doc in real_docs["handchecked"]]
    int8_docs = list(quantized.pipe(texts))
    assert [doc.text for doc in int8_docs] == texts
    # The same batch gives the same entities again. Against full precision most docs agree; a briefly
    # trained model's tag probabilities are less sure than a trained one's, so the bar is loose here
    # (bench/RESULTS.md scores int8 on a trained model).
    assert entities(quantized.pipe(texts)) == entities(int8_docs)
    fp32_ents = entities(fp32.pipe(texts))
    same_docs = sum(a == b for a, b in zip(fp32_ents, entities(int8_docs), strict=True))
    assert same_docs >= 0.8 * len(texts)
    both = sum(len(set(a) & set(b)) for a, b in zip(fp32_ents, entities(int8_docs), strict=True))
    assert 2 * both / (sum(map(len, fp32_ents)) + sum(map(len, entities(int8_docs)))) >= 0.85


def test_an_int8_pipeline_refuses_to_be_saved_and_loads_in_full_precision_on_request(trained, tmp_path):
    quantized = spacy.load(trained)
    with pytest.raises(ValueError, match="int8-quantised and cannot be saved"):
        quantized.to_disk(tmp_path / "int8")
    with pytest.raises(ValueError, match="int8-quantised and cannot be saved"):
        quantized.to_bytes()
    fp32 = spacy.load(trained, config={"components": {"int8": {"enabled": False}}})
    fp32.to_disk(tmp_path / "fp32")
    again = spacy.load(tmp_path / "fp32", config={"components": {"int8": {"enabled": False}}})
    text = "Inhibition of human JNK2 using ATF2 as substrate"
    assert entities([again(text)]) == entities([fp32(text)])


def test_a_large_default_batch_is_split_into_groups_of_one_padded_width(trained, real_docs):
    nlp = spacy.load(trained)
    model = nlp.get_pipe("transformer").model
    docs = [nlp.make_doc(doc.text) for doc in real_docs["handchecked"]]
    counts = [len(model.tokenizer(doc.text)["input_ids"]) for doc in docs]
    widths = [padded_width(count) for count in counts]
    padding = [width - count for width, count in zip(widths, counts, strict=True)]
    assert all(w % PAD_MULTIPLE == 0 for w in widths) and all(0 <= p < PAD_MULTIPLE for p in padding)
    limit = DEFAULTS[BUCKET]
    groups = length_buckets(widths, [1] * len(docs), limit)
    assert sorted(i for group in groups for i in group) == list(range(len(docs)))
    assert all(len({widths[i] for i in group}) == 1 for group in groups)
    assert all(widths[group[0]] * len(group) <= limit for group in groups)
    # The forward pass hands every doc its own outputs, in the order given, padded to its own width
    # whatever else is in the batch: alone, a doc looks the same.
    batch = model.predict(docs)
    assert len(groups) > 1 and len(batch.doc_data) == len(docs)
    for i, doc in enumerate(docs):
        data = batch.doc_data[i]
        assert data.wordpieces.input_ids.shape == (1, widths[i])
        assert data.wordpieces.input_ids[0, : counts[i]].tolist() == model.tokenizer(doc.text)["input_ids"]
        assert data.model_output.last_hidden_state.shape[:2] == (1, widths[i])
    alone = model.predict(docs[:1]).doc_data[0]
    numpy.testing.assert_array_equal(
        alone.model_output.last_hidden_state, batch.doc_data[0].model_output.last_hidden_state
    )


def test_groups_hold_one_width_and_a_description_longer_than_the_bucket_goes_alone():
    assert length_buckets([8, 304, 8, 8], [1, 1, 1, 1], 20) == [[0, 2], [3], [1]]
    assert length_buckets([8, 16, 8], [2, 1, 1], 100) == [[0, 2], [1]]
    # An empty doc adds no rows and rides with the first group.
    assert length_buckets([0, 8, 8], [0, 1, 1], 100) == [[0, 1, 2]]
    assert length_buckets([], [], 100) == []


def result(doc) -> list[tuple[int, int, str, float]]:
    return [(e.start_char, e.end_char, e.label_, e._.confidence) for e in doc.ents]


def test_one_answer_per_description_alone_in_any_batch_order_and_thread_count(trained, real_docs):
    """At the shipped defaults (int8 on a CPU, length groups, batch 1000), the entities and the
    confidences of each of the 300 hand-checked descriptions are the same bits whatever its batch."""
    import torch

    nlp = spacy.load(trained)
    assert nlp.get_pipe("int8").quantized
    texts = [doc.text for doc in real_docs["handchecked"]]
    default = [result(doc) for doc in nlp.pipe(texts)]
    assert sum(map(len, default)) > 50
    assert [result(doc) for doc in nlp.pipe(texts, batch_size=64)] == default
    assert [result(nlp(text)) for text in texts] == default
    order = numpy.random.default_rng(1).permutation(len(texts))
    shuffled = [result(doc) for doc in nlp.pipe([texts[i] for i in order])]
    assert [shuffled[list(order).index(i)] for i in range(len(texts))] == default
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert [result(doc) for doc in nlp.pipe(texts)] == default
    finally:
        torch.set_num_threads(threads)


def test_int8_under_torch_inference_mode_gives_the_same_answers(trained, real_docs):
    # Tensors made under inference_mode carry no version counter, which int8's shared row scales
    # read otherwise.
    import torch

    nlp = spacy.load(trained)
    texts = [doc.text for doc in real_docs["handchecked"][:40]]
    default = [result(doc) for doc in nlp.pipe(texts)]
    with torch.inference_mode():
        assert [result(doc) for doc in nlp.pipe(texts)] == default


def test_the_package_built_from_the_trained_pipeline_ships_the_defaults(trained, tmp_path, real_docs):
    """`spacy package` as the workflow's package step runs it, the wheel installed into a folder of
    its own, and loaded by a fresh interpreter that cannot import the project."""
    code = ",".join(str(ROOT / "components" / "pipeline" / f"{name}.py") for name in SHIPPED)
    subprocess.run(
        [sys.executable, "-m", "spacy", "package", str(trained), str(tmp_path), "--name", "defaults_ner",
         "--version", "0.0.1", "--code", code, "--build", "wheel", "--force"],
        check=True, capture_output=True,
    )  # fmt: skip
    wheel = next((tmp_path / "en_defaults_ner-0.0.1" / "dist").glob("*.whl"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(tmp_path / "site"),
         str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    texts = [doc.text for doc in real_docs["handchecked"][:40]]
    script = (
        "import json, sys\n"
        "import en_defaults_ner\n"
        "nlp = en_defaults_ner.load()\n"
        "texts = json.loads(sys.stdin.read())\n"
        "model = nlp.config['components']['transformer']['model']\n"
        "print(json.dumps({'batch_size': nlp.batch_size, 'architecture': model['@architectures'],\n"
        "    'bucket_wordpieces': model['bucket_wordpieces'], 'int8': nlp.get_pipe('int8').quantized,\n"
        "    'modules': sorted(m for m in sys.modules if m.startswith('components')),\n"
        "    'ents': [[[e.start_char, e.end_char, e.label_] for e in d.ents] for d in nlp.pipe(texts)]}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site"), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps(texts), cwd=tmp_path, env=env,
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    shipped = json.loads(out.stdout)
    assert shipped["batch_size"] == DEFAULTS[("nlp", "batch_size")]
    assert shipped["architecture"] == DEFAULTS[ARCHITECTURE]
    assert shipped["bucket_wordpieces"] == DEFAULTS[BUCKET]
    assert shipped["int8"] == DEFAULTS[("components", "int8", "enabled")]
    assert shipped["modules"] == []
    # The package predicts what the pipeline directory does with the same defaults.
    assert [[tuple(e) for e in doc] for doc in shipped["ents"]] == entities(spacy.load(trained).pipe(texts))
