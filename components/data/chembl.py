"""Deterministic samples of assay descriptions from ChEMBL's web services, a ChEMBL SQLite dump or a
corpus JSONL file (the bundled sample).

Every source is read the same way (`sample_assays`): the seed shuffles the pages of the filtered
assay list, pages are read in that order, and records pass the corpus filter (empty, over-long,
duplicate) until N are kept. The web source keeps each page on disk as it arrives, so a rerun after
an interruption fetches only the pages it lacks, and it asks politely: a request rate limit, and
retries with backoff on 429, 5xx and timeouts, honouring Retry-After.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import httpx
from tqdm import tqdm

from components.data.corpus import CorpusFilter, read_corpus
from components.data.http import RetryPolicy
from components.data.records import atomic_path
from components.errors import UserError

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://www.ebi.ac.uk/chembl/api/data"
ASSAY_TYPES = frozenset("ABFPTU")  # binding, ADME, functional, physicochemical, toxicity, unclassified
USER_AGENT = "en_assay_ner (spaCy project; assay description sample)"


class ChemblError(UserError, RuntimeError):
    """ChEMBL could not be read; the message names the URL or file."""


class Source(Protocol):
    page_size: int

    def count(self) -> int: ...

    def page(self, offset: int) -> list[tuple[str, dict]]:
        """("where", corpus record) for the records from `offset`."""
        ...


def parse_assay_types(value: str) -> list[str]:
    """ "B,F" -> ["B", "F"]; "" -> [] (all types)."""
    types = [t.strip().upper() for t in value.split(",") if t.strip()]
    unknown = sorted(set(types) - ASSAY_TYPES)
    if unknown:
        raise ChemblError(f"unknown assay type(s) {unknown}; ChEMBL's are {sorted(ASSAY_TYPES)}")
    return types


class ChemblClient:
    """GET JSON from ChEMBL at most `rate` requests per second, retrying what a retry can fix."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        rate: float = 3.0,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 1.0,
        backoff_max: float = 60.0,
    ):
        self.base_url = base_url.rstrip("/")
        self.min_interval = 1.0 / rate if rate > 0 else 0.0
        self.retry = RetryPolicy(retries, backoff, backoff_max)
        self._last = float("-inf")
        self._http = httpx.Client(
            timeout=timeout, headers={"Accept": "application/json", "User-Agent": USER_AGENT}
        )

    def close(self) -> None:
        self._http.close()

    def _wait_turn(self) -> None:
        delay = self._last + self.min_interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._last = time.monotonic()

    def get_json(self, path: str, params: dict) -> dict:
        url = f"{self.base_url}/{path}"
        attempt = 0
        while True:
            self._wait_turn()
            retry_after = None
            try:
                response = self._http.get(url, params=params)
            except httpx.TransportError as e:  # timeouts, refused or dropped connections
                problem = f"{type(e).__name__}: {e}"
            else:
                if response.status_code == 200:
                    try:
                        return response.json()
                    except ValueError:
                        raise ChemblError(f"{response.url}: the answer is not JSON") from None
                if not self.retry.retryable(response.status_code):
                    raise ChemblError(f"{response.url}: HTTP {response.status_code}")
                problem = f"HTTP {response.status_code}"
                retry_after = response.headers.get("Retry-After")
            wait = self.retry.wait_s(attempt, retry_after)
            if wait is None:
                raise ChemblError(f"cannot read ChEMBL at {url} ({problem}, {attempt + 1} attempts)")
            logger.warning("%s: %s; retrying in %.1f s", url, problem, wait)
            time.sleep(wait)
            attempt += 1


def _assay_record(row: dict) -> dict:
    # The web services give CHEMBL ids only; the numeric assay_id is the SQLite dump's.
    return {
        "assay_id": None,
        "assay_chembl_id": row["assay_chembl_id"],
        "assay_type": row.get("assay_type"),
        "text": row.get("description") or "",
    }


class WebSource:
    """The assay endpoint of ChEMBL's web services, one page per request, pages cached on disk.

    The cache directory is keyed by URL, filter and page size, and remembers the total count, so a
    rerun samples the same pages even if ChEMBL has grown meanwhile. Delete it for a fresh count.
    """

    def __init__(self, client: ChemblClient, assay_types: Sequence[str], page_size: int, cache_dir: Path):
        self.client = client
        self.page_size = page_size
        self.params: dict = {}
        if len(assay_types) == 1:
            self.params["assay_type"] = assay_types[0]
        elif assay_types:
            self.params["assay_type__in"] = ",".join(assay_types)
        key = json.dumps([client.base_url, self.params, page_size], sort_keys=True)
        self.cache_dir = Path(cache_dir) / hashlib.sha256(key.encode()).hexdigest()[:16]

    def _cached(self, name: str, fetch) -> dict:
        path = self.cache_dir / name
        if path.exists():
            return json.loads(path.read_text(encoding="utf8"))
        data = fetch()
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(data), encoding="utf8")
        return data

    def count(self) -> int:
        def fetch():
            page = self.client.get_json("assay.json", {**self.params, "limit": 1, "offset": 0})
            total = (page.get("page_meta") or {}).get("total_count")
            if not isinstance(total, int):
                raise ChemblError(f"{self.client.base_url}/assay.json: no page_meta.total_count")
            return {"base_url": self.client.base_url, "params": self.params, "total_count": total}

        return int(self._cached("count.json", fetch)["total_count"])

    def page(self, offset: int) -> list[tuple[str, dict]]:
        def fetch():
            params = {**self.params, "limit": self.page_size, "offset": offset}
            assays = self.client.get_json("assay.json", params).get("assays")
            if not isinstance(assays, list):
                raise ChemblError(f"{self.client.base_url}/assay.json?offset={offset}: no 'assays' list")
            # Keep only what the corpus needs: full assay objects are ~30 fields each.
            return [_assay_record(a) for a in assays]

        records = self._cached(f"offset-{offset:09d}.json", fetch)
        return [(f"ChEMBL {r['assay_chembl_id']}", r) for r in records]


class SqliteSource:
    """The `assays` table of a ChEMBL SQLite dump, in assay_id order; pages of one record."""

    page_size = 1

    def __init__(self, path: str | Path, assay_types: Sequence[str]):
        self.path = Path(path)
        if not self.path.is_file():
            raise ChemblError(f"{self.path}: no such ChEMBL SQLite file")
        self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        # Bytes that are not UTF-8 become lone surrogates, which the readers report, not a crash.
        self.db.text_factory = lambda data: data.decode("utf8", "surrogateescape")
        try:
            columns = {row[1] for row in self.db.execute("PRAGMA table_info(assays)")}
        except sqlite3.DatabaseError as e:
            raise ChemblError(f"{self.path}: not a readable SQLite database ({e})") from None
        missing = sorted({"assay_id", "chembl_id", "assay_type", "description"} - columns)
        if missing:
            raise ChemblError(f"{self.path}: table 'assays' lacks column(s) {missing}")
        self.where, self.args = "", list(assay_types)
        if assay_types:
            self.where = f"WHERE assay_type IN ({','.join('?' * len(assay_types))})"

    def count(self) -> int:
        return self.db.execute(f"SELECT COUNT(*) FROM assays {self.where}", self.args).fetchone()[0]

    def page(self, offset: int) -> list[tuple[str, dict]]:
        rows = self.db.execute(
            f"SELECT assay_id, chembl_id, assay_type, description FROM assays {self.where} "
            "ORDER BY assay_id LIMIT ? OFFSET ?",
            [*self.args, self.page_size, offset],
        )
        return [
            (
                f"{self.path} assay_id {aid}",
                {"assay_id": aid, "assay_chembl_id": cid, "assay_type": atype, "text": text or ""},
            )
            for aid, cid, atype, text in rows
        ]


class JsonlSource:
    """A corpus JSONL file (the bundled sample), checked line by line; pages of one record."""

    page_size = 1

    def __init__(self, path: str | Path, assay_types: Sequence[str]):
        items = read_corpus(path)
        self.items = [(w, rec) for w, rec in items if not assay_types or rec["assay_type"] in assay_types]

    def count(self) -> int:
        return len(self.items)

    def page(self, offset: int) -> list[tuple[str, dict]]:
        return self.items[offset : offset + self.page_size]


def sample_assays(source: Source, n: int, seed: int, corpus_filter: CorpusFilter) -> list[dict]:
    """N records that pass `corpus_filter`, from pages drawn in an order fixed by `seed`."""
    n_pages = math.ceil(source.count() / source.page_size)
    order = list(range(n_pages))
    random.Random(seed).shuffle(order)
    kept: list[dict] = []
    with tqdm(total=n, desc="assays", unit="assay") as bar:
        for page_no in order:
            for where, record in source.page(page_no * source.page_size):
                if corpus_filter.keep(record["text"], where):
                    kept.append(record)
                    bar.update()
                    if len(kept) == n:
                        return kept
    logger.warning("only %d usable assays in the source; %d asked for", len(kept), n)
    return kept


def sample_corpus(
    source: str,
    n: int,
    seed: int,
    assay_types: str = "",
    *,
    sqlite: str | Path | None = None,
    sample: str | Path | None = None,
    base_url: str = DEFAULT_BASE_URL,
    cache_dir: str | Path = "cache/chembl",
    page_size: int = 20,
    rate: float = 3.0,
    max_chars: int | None = None,
) -> tuple[list[dict], CorpusFilter]:
    """N corpus records from `source` ("sample": a corpus JSONL, "sqlite": a ChEMBL dump, "chembl":
    the web services), and the filter that says what was skipped and why."""
    corpus_filter = CorpusFilter(max_chars)
    types = parse_assay_types(assay_types)
    client = None
    try:
        if source == "chembl":
            client = ChemblClient(base_url, rate=rate)
            src: Source = WebSource(client, types, page_size, Path(cache_dir))
        elif source == "sqlite":
            if sqlite is None:
                raise ChemblError("the sqlite source needs the dump's path")
            src = SqliteSource(sqlite, types)
        elif source == "sample":
            if sample is None:
                raise ChemblError("the sample source needs the corpus JSONL's path")
            src = JsonlSource(sample, types)
        else:
            raise ChemblError(f"unknown source {source!r}; expected sample, sqlite or chembl")
        logger.info("sampling %d assays (seed %d, types %s) from %s", n, seed, types or "all", source)
        records = sample_assays(src, n, seed, corpus_filter)
    finally:
        if client is not None:
            client.close()
    if not records:
        raise ChemblError(f"no usable assay descriptions in the {source} source")
    return records, corpus_filter
