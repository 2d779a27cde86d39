"""Answer cache: one JSONL line per answer, appended and flushed as soon as the answer arrives.

Keyed by (model id, prompt, text), so a re-run skips answered documents, a crash or Ctrl-C
loses at most the answers still in flight, and changing the prompt or the model re-asks only
what changed. spacy-llm's BatchCache does not fit: it keys docs by a sum of token hashes and
writes only full batches.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from pathlib import Path

logger = logging.getLogger(__name__)

CACHE_FILE = "answers.jsonl"


def prompt_key(model_id: str, prompt: dict) -> str:
    """Cache key of one prompt: everything that changes the answer, and nothing else."""
    payload = json.dumps(
        [model_id, prompt["messages"], prompt.get("grammar"), prompt["text"]],
        ensure_ascii=False,
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode("utf8")).hexdigest()


class AnswerCache:
    def __init__(self, directory: str | Path):
        self.path = Path(directory) / CACHE_FILE
        self._entries: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._file = None
        if self.path.exists():
            self._load()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _load(self) -> None:
        with self.path.open(encoding="utf8") as f:
            for line_no, line in enumerate(f, start=1):
                try:
                    entry = json.loads(line)
                    self._entries[entry["key"]] = entry
                except (json.JSONDecodeError, KeyError, TypeError):
                    # A line cut short by a crash: its document is simply asked again.
                    logger.warning("%s:%d: skipping an unreadable cache line", self.path, line_no)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> dict | None:
        return self._entries.get(key)

    def models(self) -> set[str]:
        return {entry["model"] for entry in self._entries.values()}

    def put(
        self, key: str, model_id: str, prompt: dict, answer: str, tokens_in: int, tokens_out: int
    ) -> None:
        grammar = prompt.get("grammar")
        entry = {
            "key": key,
            "model": model_id,
            "text": prompt["text"],
            "messages": prompt["messages"],
            # The grammar is derived from the text; its hash is enough to tell versions apart.
            "grammar_sha256": hashlib.sha256(grammar.encode("utf8")).hexdigest() if grammar else None,
            "answer": answer,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "time": time.time(),
        }
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            if self._file is None:
                self._file = self.path.open("a", encoding="utf8")
            # Flushed per answer: once put() returns, a crash of this process cannot lose it.
            self._file.write(line)
            self._file.flush()
            self._entries[key] = entry
