"""What every teacher model shares: the spacy-llm model protocol on top of the answer cache.

spacy-llm calls a model with one iterable of prompts per document and expects one iterable of
responses per document back. A prompt here is a dict: `text` (the document), `messages`
(chat messages, the document last so that backends can reuse the shared prefix) and an
optional `grammar` (GBNF that constrains the answer). Backends implement `_generate`, which
hands each answer to `deliver` as soon as it has it, so that it is cached at once.

A backend that gives up on one prompt (every retry of its request failed) delivers `NoAnswer`
with the last error instead: that prompt's response is None (the task flags its document
"unanswered") and `unanswered` keeps the error under the prompt's text; every other prompt is
answered as usual. A failure of the backend as a whole raises TeacherError.

A backend that sets `streams_prompts` gets the prompts the cache cannot answer as an iterator
that computes each one (spacy-llm renders a prompt when it is drawn) only when the backend takes
it, so that a concurrent backend sends the first requests while later prompts are still being
made; others get a list.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

# spacy-llm's type check reads typing.Iterable (its `_name`), which collections.abc generics lack.
from typing import Any, Iterable  # noqa: UP035

from components.errors import UserError
from components.teacher.cache import AnswerCache, PromptEncoder

logger = logging.getLogger(__name__)

class TeacherError(UserError, RuntimeError):
    """The teacher cannot answer at all (unreachable, key refused, retries exhausted)."""


@dataclass
class Answer:
    text: str
    tokens_in: int
    tokens_out: int


@dataclass
class NoAnswer:
    """What a backend delivers for a prompt it gave up on; it costs only that prompt's document."""

    error: str


class Teacher:
    backend = "abstract"
    # True: _generate takes an iterator of prompts, made as it draws them (see the module doc).
    streams_prompts = False

    def __init__(self, model_id: str, cache_dir: str | Path | None):
        self.model_id = model_id
        self.cache = AnswerCache(cache_dir) if cache_dir else None
        self.encoder = PromptEncoder(model_id)
        self.usage: Counter = Counter()
        # The last error of each prompt given up on, by the prompt's text; an answer later removes it.
        self.unanswered: dict[str, str] = {}
        # Called once per document answered (from the cache or the model): drives the progress bar.
        self.on_answer: Callable[[], None] | None = None

    # Returns None in place of a prompt given up on; spacy-llm's type check cannot read `str | None`.
    def __call__(self, prompts: Iterable[Iterable[Any]]) -> Iterable[Iterable[str]]:
        answers: list[list[str | None]] = []  # per document, per prompt; None where given up
        asked: list[tuple[list, int, Any, Any]] = []  # per prompt sent: (its row, index, prompt, encoding)
        given_up = 0

        def missing() -> Iterator[dict]:
            """The prompts the cache does not answer; answers from the cache are filled in on the way."""
            for doc_prompts in prompts:
                row: list[str | None] = []
                answers.append(row)
                for prompt in doc_prompts:
                    if prompt.get("skip"):  # the task needs no answer here (the hybrid task's rules)
                        row.append("")
                        self.usage["not_asked"] += 1
                        self._tick()
                        continue
                    encoded = self.encoder.encode(prompt)
                    entry = self.cache.get(encoded.key) if self.cache is not None else None
                    row.append(None if entry is None else entry["answer"])
                    if entry is None:
                        asked.append((row, len(row) - 1, prompt, encoded))
                        yield prompt
                    else:
                        self.usage["cached"] += 1
                        self._tick()

        def deliver(j: int, answer: Answer | NoAnswer) -> None:
            nonlocal given_up
            row, k, prompt, encoded = asked[j]
            if isinstance(answer, NoAnswer):
                given_up += 1
                self.unanswered[prompt["text"]] = answer.error
                self.usage["unanswered"] += 1
                self._tick()
                return
            self.unanswered.pop(prompt["text"], None)
            row[k] = answer.text
            if self.cache is not None:
                self.cache.put(
                    encoded, self.model_id, prompt, answer.text, answer.tokens_in, answer.tokens_out
                )
            self.usage["asked"] += 1
            self.usage["tokens_in"] += answer.tokens_in
            self.usage["tokens_out"] += answer.tokens_out
            self._tick()

        todo = missing()
        if self.streams_prompts:
            first = next(todo, None)
            if first is not None:
                self._generate(itertools.chain([first], todo), deliver)
            for _ in todo:  # prompts the backend never took, if any, count as unanswered below
                pass
        else:
            todo = list(todo)
            if todo:
                self._generate(todo, deliver)
        never_taken = sum(answer is None for row in answers for answer in row) - given_up
        if never_taken:
            raise TeacherError(f"{self.model_id}: {never_taken} prompt(s) got no answer")
        return answers

    def _tick(self) -> None:
        if self.on_answer is not None:
            self.on_answer()

    def _generate(
        self, prompts: list[dict] | Iterator[dict], deliver: Callable[[int, Answer | NoAnswer], None]
    ) -> None:
        """Answer `prompts` (a list, or an iterator where `streams_prompts`), calling
        `deliver(j, answer)` for the j-th prompt as soon as its answer is there (or NoAnswer)."""
        raise NotImplementedError
