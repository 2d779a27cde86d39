"""What every teacher model shares: the spacy-llm model protocol on top of the answer cache.

spacy-llm calls a model with one iterable of prompts per document and expects one iterable of
responses per document back. A prompt here is a dict: `text` (the document), `messages`
(chat messages, the document last so that backends can reuse the shared prefix) and an
optional `grammar` (GBNF that constrains the answer). Backends implement `_generate`, which
hands each answer to `deliver` as soon as it has it, so that it is cached at once.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# spacy-llm's type check reads typing.Iterable (its `_name`), which collections.abc generics lack.
from typing import Any, Iterable  # noqa: UP035

from components.errors import UserError
from components.teacher.cache import AnswerCache, prompt_key

logger = logging.getLogger(__name__)

class TeacherError(UserError, RuntimeError):
    """The teacher cannot answer at all (unreachable, key refused, retries exhausted)."""


@dataclass
class Answer:
    text: str
    tokens_in: int
    tokens_out: int


class Teacher:
    backend = "abstract"

    def __init__(self, model_id: str, cache_dir: str | Path | None):
        self.model_id = model_id
        self.cache = AnswerCache(cache_dir) if cache_dir else None
        self.usage: Counter = Counter()
        # Called once per document answered (from the cache or the model): drives the progress bar.
        self.on_answer: Callable[[], None] | None = None

    def __call__(self, prompts: Iterable[Iterable[Any]]) -> Iterable[Iterable[str]]:
        per_doc = [list(doc_prompts) for doc_prompts in prompts]
        flat = [prompt for doc_prompts in per_doc for prompt in doc_prompts]
        answers: list[str | None] = [None] * len(flat)
        keys = [prompt_key(self.model_id, prompt) for prompt in flat]
        missing = []
        for i, key in enumerate(keys):
            entry = self.cache.get(key) if self.cache is not None else None
            if entry is None:
                missing.append(i)
                continue
            answers[i] = entry["answer"]
            self.usage["cached"] += 1
            self._tick()

        def deliver(j: int, answer: Answer) -> None:
            i = missing[j]
            answers[i] = answer.text
            if self.cache is not None:
                self.cache.put(
                    keys[i], self.model_id, flat[i], answer.text, answer.tokens_in, answer.tokens_out
                )
            self.usage["asked"] += 1
            self.usage["tokens_in"] += answer.tokens_in
            self.usage["tokens_out"] += answer.tokens_out
            self._tick()

        if missing:
            self._generate([flat[i] for i in missing], deliver)
        unanswered = sum(a is None for a in answers)
        if unanswered:
            raise TeacherError(f"{self.model_id}: {unanswered} prompt(s) got no answer")
        it = iter(answers)
        return [[next(it) for _ in doc_prompts] for doc_prompts in per_doc]

    def _tick(self) -> None:
        if self.on_answer is not None:
            self.on_answer()

    def _generate(self, prompts: list[dict], deliver: Callable[[int, Answer], None]) -> None:
        raise NotImplementedError
