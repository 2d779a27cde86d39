"""The assay corpus: description records, cleaning, and the train/dev/test split.

Descriptions are compared by their normalised text (NFKC, case-folded, whitespace collapsed):
that key collapses duplicates on the way in and decides the train/dev/test split on the way out,
so one description never sits in two splits and the split does not depend on file order.
A corpus record is `{"assay_id": int | null, "assay_chembl_id": str | null, "assay_type": str |
null, "text": str}`: ChEMBL's numeric id (SQLite dumps, the bundled sample) and/or its CHEMBL id
(web services). Nothing here imports spaCy.
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from components.data.records import InputError, not_utf8, read_jsonl

logger = logging.getLogger(__name__)

MAX_CHARS = 2000
SPLITS = ("train", "dev", "test")


def normalise_text(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


@dataclass
class CorpusFilter:
    """Keeps each description once; skips empty and over-long ones, and ones with bytes that are
    not UTF-8 (read from a ChEMBL dump). Counts every skip by reason."""

    max_chars: int | None = MAX_CHARS
    skipped: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def keep(self, text: str | None, where: str) -> bool:
        reason = self._reason(text)
        if reason is None:
            return True
        self.skipped[reason] += 1
        self.examples.setdefault(reason, [])
        if len(self.examples[reason]) < 3:
            self.examples[reason].append(where)
        logger.debug("%s: skipped, %s", where, reason)
        return False

    def _reason(self, text: str | None) -> str | None:
        if not text or not text.strip():
            return "empty"
        if not_utf8(text):
            return "not UTF-8 text"
        if self.max_chars is not None and len(text) > self.max_chars:
            return f"longer than {self.max_chars} chars"
        key = normalise_text(text)
        if key in self.seen:
            return "duplicate"
        self.seen.add(key)
        return None

    def report(self) -> str:
        """One line for the log, e.g. 'skipped 2 duplicate (e.g. a.jsonl:3, a.jsonl:9)'."""
        parts = [f"{n} {why} (e.g. {', '.join(self.examples[why])})" for why, n in self.skipped.items()]
        return f"skipped {'; '.join(parts)}" if parts else "skipped none"


def corpus_record(obj: dict, where: str) -> dict:
    """Check the shape of one corpus object; return it with exactly the corpus fields."""
    text, assay_type = obj.get("text"), obj.get("assay_type")
    assay_id, chembl_id = obj.get("assay_id"), obj.get("assay_chembl_id")
    if not isinstance(text, str):
        raise InputError(f"{where}: 'text' must be a string, got {type(text).__name__}")
    if assay_id is not None and (isinstance(assay_id, bool) or not isinstance(assay_id, int)):
        raise InputError(f"{where}: 'assay_id' must be an integer or null, got {assay_id!r}")
    if chembl_id is not None and (not isinstance(chembl_id, str) or not chembl_id):
        raise InputError(f"{where}: 'assay_chembl_id' must be a non-empty string or null")
    if assay_id is None and chembl_id is None:
        raise InputError(f"{where}: a corpus record needs 'assay_id' or 'assay_chembl_id'")
    if assay_type is not None and not isinstance(assay_type, str):
        raise InputError(f"{where}: 'assay_type' must be a string or null")
    return {"assay_id": assay_id, "assay_chembl_id": chembl_id, "assay_type": assay_type, "text": text}


def assay_ids(record: dict) -> dict:
    """The ids a record carries, for a Doc's meta."""
    return {key: record[key] for key in ("assay_id", "assay_chembl_id") if record.get(key) is not None}


def read_corpus(path: str | Path) -> Iterator[tuple[str, dict]]:
    """Yield ("file:line", record) for each corpus line, unfiltered; a malformed line raises InputError."""
    for line_no, obj in read_jsonl(path):
        where = f"{path}:{line_no}"
        yield where, corpus_record(obj, where)


def load_corpus(path: str | Path, max_chars: int | None = MAX_CHARS) -> tuple[list[dict], CorpusFilter]:
    """The usable records of a corpus file, and the filter that says what was skipped and why."""
    corpus_filter = CorpusFilter(max_chars)
    records = [rec for where, rec in read_corpus(path) if corpus_filter.keep(rec["text"], where)]
    return records, corpus_filter


def split_key(text: str) -> str:
    return hashlib.sha256(normalise_text(text).encode("utf8")).hexdigest()


def assign_splits(texts: Iterable[str], dev: float, test: float) -> dict[str, str]:
    """Map each normalised text to "train", "dev" or "test".

    Distinct texts are ordered by hash; the first share goes to test, the next to dev. The order
    does not depend on input order, a share above zero gets at least one text and a share of zero none.
    """
    if not (0 <= dev < 1 and 0 <= test < 1 and dev + test < 1):
        raise InputError(f"dev ({dev}) and test ({test}) must be shares in [0, 1) adding up to less than 1")
    keys = sorted({normalise_text(t) for t in texts}, key=split_key)
    n_test, n_dev = (max(1, round(len(keys) * share)) if share else 0 for share in (test, dev))
    sizes = {"test": n_test, "dev": n_dev, "train": len(keys) - n_test - n_dev}
    # A share of zero asks for an empty split; any other split must get texts.
    wanted = {"test": test > 0, "dev": dev > 0, "train": True}
    empty = [name for name in SPLITS if wanted[name] and sizes[name] <= 0]
    if empty:
        raise InputError(
            f"split(s) {empty} would be empty: {len(keys)} distinct text(s) with dev={dev}, test={test}"
        )
    names = ["test"] * n_test + ["dev"] * n_dev + ["train"] * sizes["train"]
    return dict(zip(keys, names, strict=True))
