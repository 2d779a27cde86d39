"""`bio_ner`: entity recognition as per-token classification over BIO tags.

The head of the plain token-classification recipe, as a spaCy component behind the transformer
listener: a softmax over O / B-label / I-label on each token's vector. On the hand-checked proxy
it scores above spaCy's transition-based `ner` on the same data and backbone (bench/RESULTS.md).
Its output layer starts from random weights: spacy.Tagger.v2's zero-initialised one sends the
transformer no gradient at first and learned far more slowly here. Tags are decoded with Viterbi
over the allowed transitions (see `allowed_transitions`), so per-token guesses always make
well-formed spans.

Every entity gets a confidence (`ent._.confidence`, see `span_confidences`): the probability of
that entity, with its exact edges and label, under the distribution the decoder reads the tag
softmaxes as. It is kept with the spans in the scored span group `doc.spans["bio_ner"]`
(`.attrs["scores"]`), so it survives `Doc.to_bytes`, DocBin and `nlp.pipe(n_process > 1)`.

A softmax trained on a few hundred descriptions is surer than it is right. The component's
`Calibration` (in its cfg, saved with it; the identity until fitted after training on descriptions
the model did not learn from, components/training/calibrate.py) aims to make a confidence of 0.8
right about 8 times in 10: a temperature divides the tag log-probabilities before the forward-backward
(so that entities the softmax called certain are told apart again), then a logistic map of each
entity's probability sets the scale. It changes no entity: every tag sequence's score is divided by
the same number, so Viterbi's best path stays the best.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

import numpy
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.util import registry
from thinc.api import (
    Model,
    SequenceCategoricalCrossentropy,
    Softmax_v2,
    chain,
    glorot_uniform_init,
    set_dropout_rate,
    with_array,
)


def bio_tags(labels: Iterable[str]) -> list[str]:
    return ["O"] + [f"{prefix}-{label}" for label in labels for prefix in ("B", "I")]


def biluo_to_bio(tag: str | None) -> str | None:
    """A gold BILUO tag as BIO; None (unaligned) and "-" (missing) are left out of the loss."""
    if tag is None or tag == "-":
        return None
    if tag == "O":
        return "O"
    move, label = tag.split("-", 1)
    return f"{'B' if move in ('B', 'U') else 'I'}-{label}"


def allowed_transitions(tags: list[str]) -> numpy.ndarray:
    """allowed[i, j]: tag j may follow tag i. Row len(tags) is the start of the doc.

    An I- tag only continues an entity of its label, and a B- tag never starts an entity right
    after one of the same label: two names of one label always have something between them in
    our data (none touch in the hand-checked set or the teacher's labels), so "muscarinic" +
    "M5 receptor" is one entity, not two."""
    allowed = numpy.ones((len(tags) + 1, len(tags)), dtype=bool)
    for j, tag in enumerate(tags):
        if tag == "O":
            continue
        same_label = [i for i, previous in enumerate(tags) if previous[2:] == tag[2:]]
        if tag.startswith("I-"):
            allowed[:, j] = False
            allowed[same_label, j] = True
        else:
            allowed[same_label, j] = False
    return allowed


def viterbi(log_probs: numpy.ndarray, allowed: numpy.ndarray) -> list[int]:
    """The most probable tag sequence that obeys `allowed` (log_probs: tokens x tags)."""
    forbid = numpy.where(allowed, 0.0, -numpy.inf)
    score = log_probs[0] + forbid[-1]
    back = []
    for row in log_probs[1:]:
        candidates = score[:, None] + forbid[:-1]
        back.append(candidates.argmax(axis=0))
        score = candidates.max(axis=0) + row
    best = [int(score.argmax())]
    for pointers in reversed(back):
        best.append(int(pointers[best[-1]]))
    return best[::-1]


def tags_to_spans(doc: Doc, tags: list[str]) -> list[Span]:
    """Spans of well-formed BIO tags (every I- continues a B- or I- of its label)."""
    spans, start = [], None
    for i, tag in enumerate([*tags, "O"]):
        if start is not None and not tag.startswith("I-"):
            spans.append(Span(doc, start, i, label=tags[start][2:]))
            start = None
        if tag.startswith("B-"):
            start = i
    return spans


def tagged_spans(spans: Sequence[Span], tags: list[str]) -> list[tuple[int, int, int, int]]:
    """Entities as `span_confidences` takes them: (start, end, B tag id, I tag id)."""
    ids = {tag: i for i, tag in enumerate(tags)}
    return [(s.start, s.end, ids[f"B-{s.label_}"], ids[f"I-{s.label_}"]) for s in spans]


def span_confidences(
    probs: Sequence[numpy.ndarray],
    spans: Sequence[Sequence[tuple[int, int, int, int]]],
    allowed: numpy.ndarray,
) -> list[list[float]]:
    """The probability of each entity, exactly as decoded, under the distribution the decoder uses.

    `probs[d]` holds doc d's per-token tag probabilities (tokens x tags); `spans[d]` its entities
    as (start, end, B tag id, I tag id); `allowed` is `allowed_transitions`. The tag softmaxes,
    chained under the transitions Viterbi obeys, define a distribution over well-formed tag
    sequences whose most probable member is the Viterbi path; an entity's confidence is the
    probability mass of the sequences that contain it: B at `start`, I up to `end`, and no I of
    its label at `end` (a constrained forward-backward, as CRF taggers score an extracted field).
    It weighs both edges: "B or I?" at an entity's first token after an "O" costs nothing (I
    cannot follow O), while a likely entity token just before or after it lowers the score.

    All docs are run together, one (docs x tags) product per token position, rather than a
    Python loop per doc: a small share of a description (bench/RESULTS.md). The products are
    written as broadcast sums, not matrix products: BLAS picks its kernel by the number of docs,
    which would make a doc's confidence depend on its batch in the last bits.
    """
    lengths = [len(p) for p in probs]
    n_tags = allowed.shape[1]
    if not any(spans):
        return [[] for _ in spans]
    width = max(lengths)
    p = numpy.ones((len(probs), width, n_tags))  # tags beyond a doc's end: probability 1, never read
    for d, doc_probs in enumerate(probs):
        p[d, : len(doc_probs)] = numpy.maximum(doc_probs, 1e-12)
    move, start = allowed[:-1].astype(float), allowed[-1].astype(float)
    # Scaled forward pass: alpha[:, i] is P(tag at i | tokens up to i), scale[:, i] the factor
    # taken out at i, so that the product of the scales up to the last token is the total mass.
    alpha = numpy.empty_like(p)
    scale = numpy.empty(p.shape[:2])
    step = numpy.broadcast_to(start, (len(probs), n_tags))
    for i in range(width):
        unnormalised = step * p[:, i]
        scale[:, i] = unnormalised.sum(axis=1)
        alpha[:, i] = unnormalised / scale[:, i, None]
        step = (alpha[:, i, :, None] * move).sum(axis=1)
    # Scaled backward pass: beta[:, i, k] is the mass after i given tag k at i, over the scales after i.
    beta = numpy.ones_like(p)
    ends = numpy.asarray(lengths)[:, None]
    for i in range(width - 2, -1, -1):
        following = ((p[:, i + 1] * beta[:, i + 1])[:, None, :] * move).sum(axis=2) / scale[:, i + 1, None]
        beta[:, i] = numpy.where(i < ends - 1, following, 1.0)
    log_scale = numpy.log(scale)
    confidences = []
    for d, doc_spans in enumerate(spans):
        found = []
        for s, e, b_tag, i_tag in doc_spans:
            enter = start[b_tag] if s == 0 else alpha[d, s - 1] @ move[:, b_tag]
            log_inside = numpy.log(p[d, s, b_tag]) + numpy.log(p[d, s + 1 : e, i_tag]).sum()
            last = b_tag if e - s == 1 else i_tag
            leave, scaled_to = 1.0, lengths[d] - 1
            if e < lengths[d]:
                after = move[last] * p[d, e] * beta[d, e]
                leave, scaled_to = after.sum() - after[i_tag], e
            log_mass = numpy.log(enter * leave) + log_inside - log_scale[d, s : scaled_to + 1].sum()
            found.append(float(min(1.0, numpy.exp(log_mass))))
        confidences.append(found)
    return confidences


def temper(probs: numpy.ndarray, temperature: float) -> numpy.ndarray:
    """Tag probabilities (tokens x tags) with their log-probabilities divided by `temperature`."""
    if temperature == 1.0:
        return probs
    scaled = numpy.log(numpy.maximum(probs, 1e-12)) / temperature
    scaled = numpy.exp(scaled - scaled.max(axis=-1, keepdims=True))
    return scaled / scaled.sum(axis=-1, keepdims=True)


def logit(p: float, floor: float = 1e-9) -> float:
    p = min(max(p, floor), 1.0 - floor)
    return math.log(p / (1.0 - p))


def logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


class Calibration(NamedTuple):
    """How tag probabilities become entity confidences: the log-probabilities divided by
    `temperature`, then each entity's probability p mapped to logistic(scale * logit(p) + shift).
    The default is the identity (the confidences as trained). A NamedTuple, not a dataclass:
    `spacy package` imports this file outside any package, where dataclasses cannot resolve
    their annotations."""

    temperature: float = 1.0
    scale: float = 1.0
    shift: float = 0.0

    def confidences(
        self,
        probs: Sequence[numpy.ndarray],
        entities: Sequence[Sequence[tuple[int, int, int, int]]],
        allowed: numpy.ndarray,
    ) -> list[list[float]]:
        found = span_confidences([temper(p, self.temperature) for p in probs], entities, allowed)
        if (self.scale, self.shift) == (1.0, 0.0):
            return found
        return [[logistic(self.scale * logit(c) + self.shift) for c in doc] for doc in found]

    def is_identity(self) -> bool:
        return self == Calibration()

    def to_cfg(self) -> dict:
        return self._asdict()


def _confidence_getter(span: Span) -> float | None:
    """The entity's confidence from the doc's scored span group; None for a span bio_ner did not make."""
    for group in span.doc.spans.values():
        scores = group.attrs.get("scores") if group.attrs.get("scorer") == "bio_ner" else None
        if scores is None:
            continue
        for scored, score in zip(group, scores, strict=True):
            if (scored.start, scored.end, scored.label) == (span.start, span.end, span.label):
                return score
    return None


@registry.architectures("assay_ner.BioTagger.v1")
def build_bio_tagger(tok2vec: Model, nO: int | None = None) -> Model:
    """A softmax over BIO tags on each token's vector. Unlike spacy.Tagger.v2's zero-initialised
    output layer, random weights send the transformer a gradient from the first step."""
    width = tok2vec.get_dim("nO") if tok2vec.has_dim("nO") else None
    return chain(tok2vec, with_array(Softmax_v2(nO, width, init_W=glorot_uniform_init)))


class BioNer(TrainablePipe):
    def __init__(self, vocab, model: Model, name: str = "bio_ner", *, scorer: Callable | None = None):
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg: dict = {"labels": [], "calibration": Calibration().to_cfg()}

    @property
    def calibration(self) -> Calibration:
        # Pipelines saved before calibration existed have none: theirs is the identity.
        return Calibration(**self.cfg.get("calibration", {}))

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.cfg["labels"])

    @property
    def tags(self) -> list[str]:
        return bio_tags(self.labels)

    def add_label(self, label: str) -> int:
        if label in self.labels:
            return 0
        self.cfg["labels"].append(label)
        return 1

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp=None, labels=None):
        validate_get_examples(get_examples, "BioNer.initialize")
        for label in labels or sorted({ent.label_ for eg in get_examples() for ent in eg.reference.ents}):
            self.add_label(label)
        if not self.labels:
            raise ValueError(f"{self.name}: the training data has no entities to learn labels from")
        docs = [eg.x for _, eg in zip(range(10), get_examples(), strict=False)]
        sample = [self.model.ops.alloc2f(len(doc), len(self.tags)) for doc in docs]
        self.model.initialize(X=docs, Y=sample)

    def predict(self, docs: Iterable[Doc]) -> list[numpy.ndarray]:
        docs = list(docs)
        if not any(len(doc) for doc in docs):
            return [numpy.zeros((len(doc), len(self.tags)), dtype="f") for doc in docs]
        return [self.model.ops.to_numpy(scores) for scores in self.model.predict(docs)]

    def set_annotations(self, docs: Iterable[Doc], scores: list[numpy.ndarray]) -> None:
        docs = list(docs)
        tags = self.tags
        allowed = allowed_transitions(tags)
        found = []
        for doc, probs in zip(docs, scores, strict=True):
            best = viterbi(numpy.log(numpy.maximum(probs, 1e-12)), allowed) if len(doc) else []
            found.append(tags_to_spans(doc, [tags[i] for i in best]))
        entities = [tagged_spans(spans, tags) for spans in found]
        confidences = self.calibration.confidences(scores, entities, allowed)
        for doc, spans, doc_confidences in zip(docs, found, confidences, strict=True):
            doc.ents = spans
            doc.spans[self.name] = SpanGroup(
                doc, name=self.name, spans=spans, attrs={"scorer": "bio_ner", "scores": doc_confidences}
            )

    def get_loss(self, examples: Iterable[Example], scores) -> tuple[float, list]:
        truths = [[biluo_to_bio(tag) for tag in eg.get_aligned_ner()] for eg in examples]
        loss_func = SequenceCategoricalCrossentropy(names=self.tags, normalize=False)
        d_scores, loss = loss_func(scores, truths)
        if self.model.ops.xp.isnan(loss):
            raise ValueError(f"{self.name}: the loss is NaN")
        return float(loss), d_scores

    def update(self, examples: Iterable[Example], *, drop: float = 0.0, sgd=None, losses=None):
        examples = list(examples)
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        validate_examples(examples, "BioNer.update")
        if not any(len(eg.predicted) for eg in examples):
            return losses
        set_dropout_rate(self.model, drop)
        scores, backprop = self.model.begin_update([eg.predicted for eg in examples])
        loss, d_scores = self.get_loss(examples, scores)
        backprop(d_scores)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses


@Language.factory(
    "bio_ner",
    assigns=["doc.ents", "doc.spans"],
    default_config={"scorer": {"@scorers": "spacy.ner_scorer.v1"}},
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_bio_ner(nlp: Language, name: str, model: Model, scorer: Callable | None) -> BioNer:
    # Bound each time a pipeline is built; the getter only reads doc.spans.
    Span.set_extension("confidence", getter=_confidence_getter, force=True)
    return BioNer(nlp.vocab, model, name, scorer=scorer)
