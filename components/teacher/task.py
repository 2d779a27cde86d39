"""spacy-llm tasks that turn assay descriptions into prompts and answers into TARGET/SUBSTRATE spans.

`assay_ner.CompactNER.v1` asks for a short JSON answer, `{"targets": [...], "substrates": [...]}`,
with few-shot examples as chat turns and, for small local models, a per-document grammar that
allows only the document's own substrings. `assay_ner.HybridNER.v1`, the offline default, takes
ChEMBL's phrasings (components.teacher.phrases) first and asks the constrained small model only
where they name no target. `assay_ner.NERv3.v1` sends spacy-llm's own `spacy.NER.v3` prompt (our
label definitions and examples) and reads its chain-of-thought lines. All align the strings with
components.data.align and record in `doc.user_data["meta"]` the raw answer, flags ("unparseable",
"hallucinated"), alignment notes and unaligned strings; a bad answer flags its document and the
run goes on. A document whose prompt the teacher gave up on (response None) is flagged
"unanswered" and gets no spans at all, not even the rules'.
"""

from __future__ import annotations

import hashlib
import json
import re

# spacy-llm's type check reads typing.Iterable (its `_name`), which collections.abc generics lack.
from typing import Any, Iterable  # noqa: UP035

import spacy
from spacy.tokens import Doc
from spacy_llm.registry import registry
from spacy_llm.tasks.span.examples import SpanReason

from components.data.align import align_mentions
from components.pipeline.labels import ANSWER_KEYS, DEFINITIONS, LABELS, TARGET
from components.teacher.cues import apply_cues, excluded
from components.teacher.examples import read_fewshot
from components.teacher.grammar import answer_grammar, candidate_strings
from components.teacher.phrases import Vote, phenotypic, phrase_votes, plausible_target

UNPARSEABLE = "unparseable"
HALLUCINATED = "hallucinated"
UNANSWERED = "unanswered"

_LABEL_OF_KEY = {key: label for label, key in ANSWER_KEYS.items()}
_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def compact_answer(mentions: dict[str, list[str]]) -> str:
    """The compact answer as the examples show it (and as the grammar allows it)."""
    return json.dumps({ANSWER_KEYS[label]: mentions.get(label, []) for label in LABELS}, ensure_ascii=False)


def parse_compact(raw: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(label, string) pairs from a compact answer, and notes on what could not be read.

    Lenient where intent is clear (code fences, prose around the object, a bare string for a
    list, a missing key meaning none); anything else makes the answer unparseable (notes non-empty).
    """
    match = _JSON_OBJECT.search(raw or "")
    if not match:
        return [], ["no JSON object in the answer" if (raw or "").strip() else "empty answer"]
    try:
        obj = json.loads(match.group(0))
    except json.JSONDecodeError as e:
        return [], [f"answer is not valid JSON ({e.msg})"]
    if not isinstance(obj, dict) or not any(key in obj for key in _LABEL_OF_KEY):
        return [], [f"answer has none of the keys {list(_LABEL_OF_KEY)}"]
    mentions = []
    for key, label in _LABEL_OF_KEY.items():
        values = obj.get(key) or []
        values = [values] if isinstance(values, str) else values
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            return [], [f"{key!r} is not a list of strings"]
        mentions += [(label, v) for v in values if v.strip()]
    return mentions, []


def _prompt_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode("utf8")).hexdigest()[:16]


class _AssayTask:
    """Shared by the tasks: one prompt per doc, answers aligned and recorded the same way."""

    name = "abstract"
    guideline_cues = False

    def generate_prompts(self, docs: Iterable[Doc]) -> Iterable[Any]:
        for doc in docs:
            yield self.prompt(doc)

    def parse_responses(self, docs: Iterable[Doc], responses: Iterable[Any]) -> Iterable[Doc]:
        for doc, answers in zip(docs, responses, strict=True):
            (raw,) = answers
            if raw is None:
                yield self.unanswered(doc)
                continue
            mentions, problems = self.read_answer(raw)
            yield self.annotate(doc, raw, mentions, problems)

    def unanswered(self, doc: Doc) -> Doc:
        """The document of a prompt the teacher gave up on: no spans, flagged, asked again next run."""
        doc.ents = []
        meta = doc.user_data.setdefault("meta", {})
        meta.update(
            task=self.name, prompt_hash=self.prompt_hash, raw_answer=None, flags=[UNANSWERED],
            alignment_notes=[], unaligned=[],
        )
        return doc

    def annotate(self, doc: Doc, raw: str, mentions: list[tuple[str, str]], problems: list[str]) -> Doc:
        dropped: list[str] = []
        if self.guideline_cues:  # an unreadable answer has no mentions: nothing to correct
            mentions, dropped = apply_cues(doc.text, mentions)
        # A molecule cannot be both: where a SUBSTRATE occurrence overlaps a TARGET (small models
        # repeat the target as substrate, or stretch it), the TARGET keeps its place.
        alignment = align_mentions(doc, mentions, prefer=[TARGET])
        doc.ents = alignment.spans
        flags = []
        if problems:
            flags.append(UNPARSEABLE)
        if alignment.unaligned:
            flags.append(HALLUCINATED)
        meta = doc.user_data.setdefault("meta", {})
        meta.update(
            task=self.name,
            prompt_hash=self.prompt_hash,
            raw_answer=raw,
            flags=flags,
            **alignment.to_meta(),
        )
        meta["alignment_notes"] = problems + dropped + meta["alignment_notes"]
        return doc

    def prompt(self, doc: Doc) -> dict:
        raise NotImplementedError

    def read_answer(self, raw: str) -> tuple[list[tuple[str, str]], list[str]]:
        raise NotImplementedError


class CompactNERTask(_AssayTask):
    def __init__(
        self, examples: list[dict], constrain: bool, max_candidate_tokens: int, guideline_cues: bool
    ):
        self.guideline_cues = guideline_cues
        self.name = ("constrained" if constrain else "compact") + ("+cues" if guideline_cues else "")
        self.examples = examples
        self.constrain = constrain
        self.max_candidate_tokens = max_candidate_tokens
        self.system = (
            "Find the assay's TARGET and SUBSTRATE in the text.\n"
            + "\n".join(f"{label}: {DEFINITIONS[label]}" for label in LABELS)
            + '\nAnswer with JSON {"targets": [...], "substrates": [...]}, copying names exactly as written '
            "in the text; use [] when the text names none."
        )
        # The shared prefix: system message and examples. The document comes last (KV-cache reuse).
        self.prefix = [{"role": "system", "content": self.system}]
        for eg in examples:
            answer = compact_answer({label: eg[ANSWER_KEYS[label]] for label in LABELS})
            self.prefix += [{"role": "user", "content": eg["text"]}, {"role": "assistant", "content": answer}]
        self.prompt_hash = _prompt_hash(
            {"task": self.name, "prefix": self.prefix, "constrain": constrain, "n": max_candidate_tokens}
        )

    def prompt(self, doc: Doc) -> dict:
        text = doc.text  # spaCy rebuilds Doc.text from its tokens on every access
        prompt = {"text": text, "messages": self.prefix + [{"role": "user", "content": text}]}
        if self.constrain:
            prompt["grammar"] = answer_grammar(candidate_strings(doc, self.max_candidate_tokens))
        return prompt

    def read_answer(self, raw: str) -> tuple[list[tuple[str, str]], list[str]]:
        return parse_compact(raw)


class HybridNERTask(CompactNERTask):
    """The phrasing rules first, the small model where they find no target (components.teacher.phrases).

    Where a rule names a TARGET, or the description is a phenotypic one, the model's answer is not
    needed: the prompt says "skip", and every teacher answers it "" without asking its model
    (components.teacher.base). Elsewhere the model answers the constrained task's prompt (the two share cached
    answers) and its TARGETs that look like a macromolecule's name join the rules' SUBSTRATEs.
    Every vote, the rules' and the model's, is kept in `doc.user_data["meta"]["votes"]`.
    """

    def __init__(self, examples: list[dict], max_candidate_tokens: int, guideline_cues: bool):
        super().__init__(examples, True, max_candidate_tokens, guideline_cues)
        self.name = "hybrid" + ("+cues" if guideline_cues else "")
        self.prompt_hash = _prompt_hash({"base": self.prompt_hash, "task": self.name})

    @staticmethod
    def rules_suffice(text: str, votes: list[Vote]) -> bool:
        return phenotypic(text) or any(vote.label == TARGET for vote in votes)

    def prompt(self, doc: Doc) -> dict:
        text = doc.text
        if self.rules_suffice(text, phrase_votes(text)):
            messages = self.prefix + [{"role": "user", "content": text}]
            return {"text": text, "messages": messages, "skip": True}
        return super().prompt(doc)

    def parse_responses(self, docs: Iterable[Doc], responses: Iterable[Any]) -> Iterable[Doc]:
        for doc, answers in zip(docs, responses, strict=True):
            (raw,) = answers
            if raw is None:
                yield self.unanswered(doc)
                continue
            text = doc.text
            votes = phrase_votes(text)
            asked = not self.rules_suffice(text, votes)
            model, problems = self.read_answer(raw) if asked else ([], [])
            # Each vote with the name it gives: a model TARGET where it looks like a macromolecule's
            # name (trimmed as the guidelines mark names), a model SUBSTRATE never, and no vote
            # for what the guidelines exclude (cofactors, ATP not called the substrate, cell lines).
            record = [{"label": v.label, "text": v.text, "by": v.rule} for v in votes] + [
                {"label": label, "text": string, "by": "model"} for label, string in model
            ]
            names = []
            for vote in record:
                name = vote["text"] if vote["by"] != "model" else None
                if vote["by"] == "model" and vote["label"] == TARGET:
                    name = plausible_target(vote["text"])
                names.append(None if name is None or excluded(text, vote["label"], name) else name)
            mentions = [(vote["label"], name) for vote, name in zip(record, names, strict=True) if name]
            doc = self.annotate(doc, raw, mentions, problems)
            answer = {(e.label_, e.text) for e in doc.ents}
            for vote, name in zip(record, names, strict=True):
                vote["kept"] = (vote["label"], name) in answer
            doc.user_data["meta"].update(model_asked=asked, votes=record)
            yield doc


class NERv3Task(_AssayTask):
    """spacy-llm's spacy.NER.v3 prompt; its answer lines `n. text | True | LABEL | reason`."""

    def __init__(self, examples: list[dict], guideline_cues: bool):
        self.guideline_cues = guideline_cues
        self.name = "ner_v3" + ("+cues" if guideline_cues else "")
        reasons = {
            "TARGET": "is the molecule whose activity the assay measures",
            "SUBSTRATE": "is the molecule used to probe the target",
        }
        v3_examples = [
            {
                "text": eg["text"],
                "spans": [
                    {"text": s, "is_entity": True, "label": label, "reason": reasons[label]}
                    for label in LABELS
                    for s in eg[ANSWER_KEYS[label]]
                ],
            }
            for eg in examples
        ]
        self._v3 = registry.llm_tasks.get("spacy.NER.v3")(
            labels=list(LABELS), label_definitions=DEFINITIONS, examples=v3_examples
        )
        self._nlp = spacy.blank("en")
        self.prompt_hash = _prompt_hash({"task": self.name, "prefix": self._render("")})

    def _render(self, text: str) -> str:
        ((prompt,), _shards) = next(iter(self._v3.generate_prompts([self._nlp.make_doc(text)])))
        return prompt

    def prompt(self, doc: Doc) -> dict:
        text = doc.text
        return {"text": text, "messages": [{"role": "user", "content": self._render(text)}]}

    def read_answer(self, raw: str) -> tuple[list[tuple[str, str]], list[str]]:
        mentions, readable = [], 0
        for line in (raw or "").splitlines():
            try:
                reason = SpanReason.from_str(line)
            except ValueError:
                continue
            readable += 1
            label = reason.label.strip().upper()
            if reason.is_entity and label in LABELS:
                mentions.append((label, reason.text))
        problems = [] if readable else ["no answer line of the form 'n. text | True | LABEL | reason'"]
        return mentions, problems


@registry.llm_tasks("assay_ner.CompactNER.v1")
def compact_ner(
    examples_path: str,
    constrain: bool = False,
    max_candidate_tokens: int = 8,
    guideline_cues: bool = False,
    n_examples: int = 18,
) -> CompactNERTask:
    """Short JSON answers for small models. `constrain` adds a per-document grammar (honoured by
    llama.cpp, and by servers that take one) allowing only the document's token n-grams;
    `guideline_cues` applies the guideline's rules to each answer (components.teacher.cues)."""
    return CompactNERTask(
        read_fewshot(examples_path)[:n_examples], constrain, max_candidate_tokens, guideline_cues
    )


@registry.llm_tasks("assay_ner.HybridNER.v1")
def hybrid_ner(
    examples_path: str, max_candidate_tokens: int = 8, guideline_cues: bool = False, n_examples: int = 18
) -> HybridNERTask:
    """ChEMBL's phrasings (components.teacher.phrases) first; the constrained small model only
    where they name no target, its answer kept where it looks like a macromolecule's name."""
    return HybridNERTask(read_fewshot(examples_path)[:n_examples], max_candidate_tokens, guideline_cues)


@registry.llm_tasks("assay_ner.NERv3.v1")
def ner_v3(examples_path: str, guideline_cues: bool = False, n_examples: int = 18) -> NERv3Task:
    """spacy-llm's spacy.NER.v3 prompt with our label definitions and few-shot examples."""
    return NERv3Task(read_fewshot(examples_path)[:n_examples], guideline_cues)
