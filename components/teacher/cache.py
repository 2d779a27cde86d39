"""Answer cache: one JSONL line per answer, appended and flushed as soon as the answer arrives.

Keyed by (model id, prompt, text), so a re-run skips answered documents, a crash or Ctrl-C
loses at most the answers still in flight, and changing the prompt or the model re-asks only
what changed. spacy-llm's BatchCache does not fit: it keys docs by a sum of token hashes and
writes only full batches.

A task's prompts share all their messages but the last (system message and few-shot turns, tens
of kilobytes): `PromptEncoder` encodes and hashes those once, and the cache file holds them once,
on the first line that used them (`shared_messages`); every line names them by
`shared_messages_sha256` and holds its own `last_message`. Lines written before this layout hold
the whole `messages` list; both are read.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

CACHE_FILE = "answers.jsonl"


def _dumps(obj) -> str:
    # The one encoding of keys and lines: keys must not change between versions.
    return json.dumps(obj, ensure_ascii=False, sort_keys=True)


def prompt_key(model_id: str, prompt: dict) -> str:
    """Cache key of one prompt: everything that changes the answer, and nothing else."""
    payload = _dumps([model_id, prompt["messages"], prompt.get("grammar"), prompt["text"]])
    return hashlib.sha256(payload.encode("utf8")).hexdigest()


@dataclass
class EncodedPrompt:
    """A prompt's cache key and the JSON of its messages, in two parts."""

    key: str
    shared: list  # the prompt's messages but the last
    shared_json: str  # their JSON objects joined by ", " ("" when there are none)
    shared_sha256: str  # of shared_json
    last_json: str  # the last message's JSON object

    def messages_json(self) -> str:
        """The JSON array of all the messages, as json.dumps(sort_keys=True, ensure_ascii=False) writes it."""
        return f"[{self.shared_json}, {self.last_json}]" if self.shared_json else f"[{self.last_json}]"


class PromptEncoder:
    """`prompt_key` and the messages' JSON for one model, with the shared messages encoded once.

    The key is the same digest prompt_key gives (the same bytes are hashed, the shared part's
    hash state copied instead of recomputed). The shared messages are compared by value with a
    private copy of the last ones seen, so a change to them is never missed.
    """

    def __init__(self, model_id: str):
        self.model_id = model_id
        self._shared: list | None = None
        self._shared_json = ""
        self._shared_sha256 = ""
        self._key_state = None

    def _remember(self, shared: list) -> None:
        self._shared = copy.deepcopy(shared)
        self._shared_json = ", ".join(_dumps(message) for message in shared)
        self._shared_sha256 = hashlib.sha256(self._shared_json.encode("utf8")).hexdigest()
        head = f"[{_dumps(self.model_id)}, [{self._shared_json}{', ' if shared else ''}"
        self._key_state = hashlib.sha256(head.encode("utf8"))

    def messages_json(self, prompt: dict) -> str:
        """The JSON array of the prompt's messages (what `EncodedPrompt.messages_json` gives)."""
        messages = prompt["messages"]
        if not messages:
            return "[]"
        shared = messages[:-1]
        if shared != self._shared:
            self._remember(shared)
        last_json = _dumps(messages[-1])
        return f"[{self._shared_json}, {last_json}]" if self._shared_json else f"[{last_json}]"

    def encode(self, prompt: dict) -> EncodedPrompt:
        messages = prompt["messages"]
        if not messages:
            return EncodedPrompt(prompt_key(self.model_id, prompt), [], "", "", "")
        shared = messages[:-1]
        if shared != self._shared:
            self._remember(shared)
        last_json = _dumps(messages[-1])
        state = self._key_state.copy()
        tail = f"{last_json}], {_dumps(prompt.get('grammar'))}, {_dumps(prompt['text'])}]"
        state.update(tail.encode("utf8"))
        return EncodedPrompt(state.hexdigest(), shared, self._shared_json, self._shared_sha256, last_json)


class AnswerCache:
    def __init__(self, directory: str | Path):
        self.path = Path(directory) / CACHE_FILE
        self._entries: dict[str, dict] = {}
        self._shared_written: set[str] = set()
        self._lock = threading.Lock()
        self._file = None
        if self.path.exists():
            self._load()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _load(self) -> None:
        # A line cut by a crash may end inside a character: read it as unreadable, not as an error.
        with self.path.open(encoding="utf8", errors="replace") as f:
            for line_no, line in enumerate(f, start=1):
                try:
                    entry = json.loads(line)
                    self._entries[entry["key"]] = {"model": entry["model"], "answer": entry["answer"]}
                except (json.JSONDecodeError, KeyError, TypeError):
                    # A line cut short by a crash: its document is simply asked again.
                    logger.warning("%s:%d: skipping an unreadable cache line", self.path, line_no)
                    continue
                if "shared_messages" in entry:
                    self._shared_written.add(entry["shared_messages_sha256"])

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> dict | None:
        """{"model", "answer"} stored under `key`, or None."""
        return self._entries.get(key)

    def models(self) -> set[str]:
        return {entry["model"] for entry in self._entries.values()}

    def put(
        self,
        key: str | EncodedPrompt,
        model_id: str,
        prompt: dict,
        answer: str,
        tokens_in: int,
        tokens_out: int,
    ) -> None:
        """Store an answer under its key (a prompt_key, or the prompt's encoding from a PromptEncoder)."""
        encoded = key if isinstance(key, EncodedPrompt) else None
        grammar = prompt.get("grammar")
        entry = {"key": encoded.key if encoded else key, "model": model_id, "text": prompt["text"]}
        with self._lock:
            if encoded is not None and encoded.shared:
                entry["shared_messages_sha256"] = encoded.shared_sha256
                if encoded.shared_sha256 not in self._shared_written:
                    entry["shared_messages"] = encoded.shared
                entry["last_message"] = prompt["messages"][-1]
            else:
                entry["messages"] = prompt["messages"]
            # The grammar is derived from the text; its hash is enough to tell versions apart.
            entry["grammar_sha256"] = hashlib.sha256(grammar.encode("utf8")).hexdigest() if grammar else None
            entry.update(answer=answer, tokens_in=tokens_in, tokens_out=tokens_out, time=time.time())
            if self._file is None:
                self._file = self.path.open("a", encoding="utf8")
                weakref.finalize(self, self._file.close)
            # Flushed per answer: once put() returns, a crash of this process cannot lose it.
            self._file.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self._file.flush()
            self._entries[entry["key"]] = {"model": model_id, "answer": answer}
            if "shared_messages" in entry:
                self._shared_written.add(encoded.shared_sha256)
