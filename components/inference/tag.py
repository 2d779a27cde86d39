"""Tag a whole corpus (all of ChEMBL) with en_assay_ner on Ray Data: resumable, Parquet out.

The driver reads the input in a fixed order: a ChEMBL SQLite dump (the `assays` table, in
assay_id order, filtered by assay type) or JSONL / CSV / TSV / Parquet / TXT files (a file, or a
folder of them in name order). It cuts the rows into blocks of `block_rows` input rows, bad rows
included, so the cut depends on the input alone, and puts the blocks still to do into Ray's object
store. `map_batches` sends them through a fixed pool of actors, each of which loads the model once
(`load_pipeline`) and, where the cluster has GPUs, holds one. The driver collects each block's
predictions as they arrive and writes the block as `part-NNNNNN.parquet` once its last row is in,
through an atomic rename: a file either holds its whole block or does not exist.

A rerun skips the blocks whose file exists, after checking from the file's metadata that it was
cut from the same rows (a digest of each row's source and text hash) by the same model and block
size; anything else stops the run rather than mixing two inputs or two models in one output. A
killed run loses only the blocks in flight. Bad rows (no text, not text, empty, longer than
`max_chars`, malformed) are reported with their source and row, kept in their block's metadata
and in `_skipped.jsonl`, and skipped. `_summary.json` sums up every block written so far.

The input is read on the driver and the output written there, so a cluster needs neither on a
shared filesystem; the model must be installed on (or its directory copied to) every node.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy
import pyarrow as pa
import pyarrow.parquet as pq
import srsly
from tqdm import tqdm

from components.data.chembl import SqliteSource
from components.data.records import ROW_SUFFIXES, atomic_path, write_json, write_jsonl
from components.inference.predict import entity_records, read_descriptions, text_problem
from components.pipeline.labels import ANSWER_KEYS, answer_strings

logger = logging.getLogger(__name__)

BLOCK_ROWS = 2000
# Rows per Ray task (at least a batch): blocks are cut into tasks, so that every actor has work
# while few blocks are left, and the progress bar moves more often than once a block.
TASK_ROWS = 250
# ChEMBL's description column holds up to 4000 characters: nothing real is cut, junk is.
MAX_CHARS = 5000
# CPUs of the driver's node left out of the actor pool: the driver and Ray's own processes.
RESERVED_CPUS = 0.5
METADATA_KEY = b"assay_ner.tag"
PART = re.compile(r"part-(\d{6})\.parquet")
SQLITE_MAGIC = b"SQLite format 3\x00"

ENTITY = pa.struct(
    [
        ("label", pa.string()),
        ("start", pa.int32()),
        ("end", pa.int32()),
        ("text", pa.string()),
        ("confidence", pa.float32()),
    ]
)
# Where a description comes from: carried from the input to its output row.
PROVENANCE = [
    ("assay_id", pa.int64()),
    ("chembl_id", pa.string()),
    ("assay_type", pa.string()),
    ("source", pa.string()),
    ("text_sha256", pa.string()),
]
# What the driver sends the actors: one row per description.
INPUT_SCHEMA = pa.schema([("block", pa.int32()), ("row", pa.int32()), *PROVENANCE, ("text", pa.string())])
# What each part-NNNNNN.parquet holds: one row per description, in input order.
OUTPUT_SCHEMA = pa.schema(
    [
        *PROVENANCE,
        *((key, pa.list_(pa.string())) for key in ANSWER_KEYS.values()),
        ("entities", pa.list_(ENTITY)),
        ("model", pa.string()),
        ("model_version", pa.string()),
    ]
)


class TagError(RuntimeError):
    """The run cannot start or go on; the message says why and what to do."""


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf8")).hexdigest()


# --- reading the input ----------------------------------------------------------------------------


@dataclass
class Item:
    """One input row: a description to tag, or a problem (then `text` is None)."""

    source: str  # "file:line", "file:row n" or "file:assay_id n"
    text: str | None = None
    assay_id: int | None = None
    chembl_id: str | None = None
    assay_type: str | None = None
    problem: str | None = None


def is_sqlite(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC


def input_files(path: Path) -> list[Path]:
    """A file as itself; a folder as its row files (.jsonl, .csv, .tsv, .parquet, .txt) in path order,
    skipping hidden names and names that start with "_"."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise TagError(f"{path}: no such file or folder")
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and p.suffix.lower() in ROW_SUFFIXES
        and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
    )
    if not files:
        raise TagError(f"{path}: no {', '.join(ROW_SUFFIXES)} files in the folder")
    return files


def _sqlite_items(path: Path, assay_types: Sequence[str], max_chars: int) -> Iterator[Item]:
    source = SqliteSource(path, assay_types)  # checks the table and its columns
    try:
        rows = source.db.execute(
            f"SELECT assay_id, chembl_id, assay_type, description FROM assays {source.where} "
            "ORDER BY assay_id",
            source.args,
        )
        for assay_id, chembl_id, assay_type, text in rows:
            where = f"{path}:assay_id {assay_id}"
            problem = text_problem(text, max_chars)
            yield Item(where, None if problem else text, assay_id, chembl_id, assay_type, problem)
    finally:
        source.db.close()


def _assay_id(value) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(value)
    number = int(value)
    if not -(2**63) <= number < 2**63:
        raise ValueError(value)
    return number


def _file_items(path: Path, assay_types: Sequence[str], max_chars: int) -> Iterator[Item]:
    problems: list[Item] = []

    def report(problem: str) -> None:  # "file:line: why"; the file name may hold ": " itself
        where, _, why = problem.removeprefix(str(path)).partition(": ")
        problems.append(Item(f"{path}{where}", problem=why))

    for description in read_descriptions(path, report, max_chars):
        yield from problems
        problems.clear()
        fields = description.fields
        assay_type = fields.get("assay_type")
        if assay_types and assay_type not in (None, "") and assay_type not in assay_types:
            continue
        try:
            assay_id = _assay_id(fields.get("assay_id"))
        except ValueError:
            yield Item(description.where, problem=f"assay_id is not an integer ({fields['assay_id']!r})")
            continue
        chembl_id = fields.get("chembl_id") or fields.get("assay_chembl_id")
        yield Item(
            description.where,
            description.text,
            assay_id,
            None if chembl_id is None else str(chembl_id),
            None if assay_type in (None, "") else str(assay_type),
        )
    yield from problems


def read_items(
    path: str | Path, assay_types: Sequence[str] = (), max_chars: int = MAX_CHARS
) -> Iterator[Item]:
    """Every row of the input in a fixed order, bad ones as problems. A ChEMBL SQLite dump is
    filtered by `assay_types` in SQL; a file row whose assay_type is given and not listed is left
    out (a row without one is kept)."""
    path = Path(path)
    if path.is_file() and is_sqlite(path):
        yield from _sqlite_items(path, assay_types, max_chars)
        return
    for file in input_files(path):
        yield from _file_items(file, assay_types, max_chars)


# --- blocks ----------------------------------------------------------------------------------------


def part_name(index: int) -> str:
    return f"part-{index:06d}.parquet"


@dataclass
class Block:
    """A run of `block_rows` consecutive input rows: what it holds and where it comes from. Only the
    blocks still to do keep their descriptions (`table`), and only until they go to Ray."""

    index: int
    rows: int  # descriptions to tag
    skipped: list[dict]  # the bad rows: {"source", "problem"}
    digest: str  # what the block was cut from: each row's source and text hash, or its problem
    table: pa.Table | None = None  # INPUT_SCHEMA rows

    @property
    def name(self) -> str:
        return part_name(self.index)


def make_block(index: int, items: list[Item], keep_table: bool) -> Block:
    good = [item for item in items if item.problem is None]
    hashes = [text_sha256(item.text) for item in good]
    digest = hashlib.sha256()
    found = iter(hashes)
    for item in items:
        what = f"!{item.problem}" if item.problem is not None else next(found)
        digest.update(f"{item.source}\t{what}\n".encode("utf8", "backslashreplace"))
    table = None
    if keep_table:
        table = pa.table(
            {
                "block": [index] * len(good),
                "row": list(range(len(good))),
                "assay_id": [item.assay_id for item in good],
                "chembl_id": [item.chembl_id for item in good],
                "assay_type": [item.assay_type for item in good],
                "source": [item.source for item in good],
                "text_sha256": hashes,
                "text": [item.text for item in good],
            },
            schema=INPUT_SCHEMA,
        )
    skipped = [{"source": item.source, "problem": item.problem} for item in items if item.problem is not None]
    return Block(index, len(good), skipped, digest.hexdigest(), table)


def cut_blocks(items: Iterator[Item], block_rows: int, keep_table: Callable[[int], bool]) -> Iterator[Block]:
    """Consecutive blocks of `block_rows` items (the last may be short); `keep_table(index)` says
    which blocks keep their descriptions."""
    chunk: list[Item] = []
    index = 0
    for item in items:
        chunk.append(item)
        if len(chunk) == block_rows:
            yield make_block(index, chunk, keep_table(index))
            chunk, index = [], index + 1
    if chunk:
        yield make_block(index, chunk, keep_table(index))


def block_metadata(path: Path) -> dict:
    metadata = pq.read_schema(path).metadata or {}
    if METADATA_KEY not in metadata:
        raise TagError(f"{path}: not written by tag (no {METADATA_KEY.decode()} metadata)")
    return json.loads(metadata[METADATA_KEY])


def finished_blocks(output: Path) -> dict[int, dict]:
    """The metadata of every block file in `output`, by block number."""
    found = {}
    for path in sorted(output.glob("part-*.parquet")):
        if match := PART.fullmatch(path.name):
            found[int(match.group(1))] = block_metadata(path)
    return found


# --- the model and the actors ------------------------------------------------------------------------


def model_identity(model: str | Path) -> dict:
    """{"model", "model_version"} from a pipeline directory's or an installed package's meta.json,
    read without importing the package (so the driver never registers its components)."""
    path = Path(model)
    if not path.is_dir():
        spec = importlib.util.find_spec(str(model)) if re.fullmatch(r"[\w.]+", str(model)) else None
        if spec is None or spec.origin is None:
            raise TagError(f"{model}: neither a pipeline directory nor an installed package")
        path = Path(spec.origin).parent
    if not (path / "meta.json").is_file():
        raise TagError(f"{path}: no meta.json; not a spaCy pipeline")
    meta = srsly.read_json(path / "meta.json")
    return {"model": f"{meta['lang']}_{meta['name']}", "model_version": meta["version"]}


class Tagger:
    """A Ray Data actor: loads the model once, then tags batches of the input table."""

    def __init__(self, model: str, threads: int, gpu: bool, batch_size: int, config: dict | None = None):
        import torch

        from components.inference.load import load_pipeline, use_device

        torch.set_num_threads(threads)
        if gpu:  # Ray shows the actor only its own GPU(s), so the first is the one it holds
            use_device(0)
        self.nlp = load_pipeline(model, config)
        self.batch_size = batch_size
        self.identity = {
            "model": f"{self.nlp.meta['lang']}_{self.nlp.meta['name']}",
            "model_version": self.nlp.meta["version"],
        }

    def __call__(self, batch: pa.Table) -> pa.Table:
        entities: list[list[dict]] = []
        answers: dict[str, list[list[str]]] = {key: [] for key in ANSWER_KEYS.values()}
        for doc in self.nlp.pipe(batch.column("text").to_pylist(), batch_size=self.batch_size):
            entities.append(entity_records(doc))
            for key, names in answer_strings(doc).items():
                answers[key].append(names)
        out = batch.drop_columns(["text"])
        for key, values in answers.items():
            out = out.append_column(key, pa.array(values, pa.list_(pa.string())))
        out = out.append_column("entities", pa.array(entities, pa.list_(ENTITY)))
        for key, value in self.identity.items():
            out = out.append_column(key, pa.array([value] * len(out), pa.string()))
        return out


@dataclass(frozen=True)
class Pool:
    actors: int
    cpus: float  # Ray's CPU request per actor
    gpus: float  # GPUs per actor
    threads: int  # torch threads per actor

    def describe(self) -> str:
        each = f"{self.cpus:g} CPU" + (f", {self.gpus:g} GPU" if self.gpus else "")
        return f"{self.actors} actor(s), {self.threads} torch thread(s) and {each} each"


def size_pool(resources: dict, actors: int = 0, threads: int = 0, gpus_per_actor: float = 0.0) -> Pool:
    """Size the actor pool from the cluster's resources (`ray.cluster_resources()`).

    On GPUs: one actor per `gpus_per_actor` GPUs unless `actors` is given, one CPU thread each.
    On CPUs: the pool's CPU requests add up to the cluster's CPUs less RESERVED_CPUS (the driver
    and Ray's own processes), so that no actor ever waits for a CPU that another Ray task holds;
    by default one single-threaded actor per CPU (rounded), else `actors` and/or `threads` as given.
    """
    cpus, gpus = float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
    usable = cpus - RESERVED_CPUS
    if usable <= 0:
        raise TagError(f"the Ray cluster has {cpus:g} CPU(s); tag needs more than {RESERVED_CPUS:g}")
    if gpus_per_actor > 0:
        if gpus < gpus_per_actor:
            raise TagError(f"{gpus_per_actor:g} GPU(s) per actor asked for; the Ray cluster has {gpus:g}")
        n = actors or int(gpus // gpus_per_actor)
        if n * gpus_per_actor > gpus:
            raise TagError(f"{n} actors x {gpus_per_actor:g} GPU(s) is more than the cluster's {gpus:g}")
        return Pool(n, min(1.0, usable / n), gpus_per_actor, threads or 1)
    if actors and threads:
        n = actors
    elif actors:
        n, threads = actors, max(1, round(cpus / actors))
    else:
        threads = threads or 1
        n = max(1, round(usable / threads))
    return Pool(n, usable / n, 0.0, threads)


# --- the run -------------------------------------------------------------------------------------------


@dataclass
class Plan:
    pending: list[Block]
    done: dict[int, dict]  # block number -> metadata of its file
    blocks: int = 0  # blocks in the whole input
    rows: int = 0  # descriptions in the whole input
    skipped: int = 0  # bad rows in the whole input

    @property
    def pending_rows(self) -> int:
        return sum(block.rows for block in self.pending)


def make_plan(items: Iterator[Item], output: Path, block_rows: int, identity: dict) -> Plan:
    """Cut the input into blocks and check the finished ones against it."""
    done = finished_blocks(output)
    for number, meta in done.items():
        theirs = (meta["model"], meta["model_version"], meta["block_rows"])
        ours = (identity["model"], identity["model_version"], block_rows)
        if theirs != ours:
            raise TagError(
                f"{output / part_name(number)} was written by {theirs[0]} {theirs[1]} in blocks of "
                f"{theirs[2]} rows; this run is {ours[0]} {ours[1]} in blocks of {ours[2]}: use another "
                "output folder (or the same model and block size)"
            )
    plan = Plan([], done)
    last = -1
    for block in cut_blocks(items, block_rows, lambda index: index not in done):
        last = block.index
        plan.blocks += 1
        plan.rows += block.rows
        plan.skipped += len(block.skipped)
        if block.index in done:
            if done[block.index]["input_sha256"] != block.digest:
                raise TagError(
                    f"{output / block.name} was cut from other rows than block {block.index} of this input: "
                    "the input changed since; use another output folder"
                )
        else:
            plan.pending.append(block)
    extra = sorted(n for n in done if n > last)
    if extra:
        raise TagError(f"{output} holds blocks beyond the end of this input ({part_name(extra[0])}, ...)")
    return plan


class Collector:
    """Gathers the actors' output by block and writes each block once all its rows are in."""

    def __init__(self, output: Path, blocks: list[Block], block_rows: int, identity: dict, source: str):
        self.output, self.block_rows, self.identity, self.source = output, block_rows, identity, source
        self.pending = {block.index: block for block in blocks}
        self.parts: dict[int, list[pa.Table]] = defaultdict(list)
        self.seen: dict[int, set[int]] = defaultdict(set)
        self.written: dict[int, dict] = {}

    def add(self, batch: pa.Table) -> int:
        """Take one batch of predictions; write the blocks it completes; return its new rows."""
        for key, value in self.identity.items():
            found = set(batch.column(key).to_pylist())
            if found - {value}:
                raise TagError(f"an actor ran {key} {sorted(found)}; the driver expected {value!r}")
        new = 0
        blocks = batch.column("block").to_numpy()
        for number in numpy.unique(blocks).tolist():
            part = batch.filter(pa.array(blocks == number))
            seen = self.seen[number]
            before = len(seen)
            seen.update(part.column("row").to_pylist())  # a retried task may send rows twice
            new += len(seen) - before
            self.parts[number].append(part)
            if len(seen) == self.pending[number].rows:
                self.finish(number)
        return new

    def finish(self, number: int) -> None:
        """Write block `number` from the rows gathered (none for a block of bad rows only)."""
        block = self.pending.pop(number)
        parts = self.parts.pop(number, [])
        self.seen.pop(number, None)
        if parts:
            table = pa.concat_tables(parts)
            _, first = numpy.unique(table.column("row").to_numpy(), return_index=True)  # in row order
            table = table.take(pa.array(first)).select(OUTPUT_SCHEMA.names).cast(OUTPUT_SCHEMA)
        else:
            table = OUTPUT_SCHEMA.empty_table()
        meta = {
            **self.identity,
            "block": number,
            "block_rows": self.block_rows,
            "input": self.source,
            "input_sha256": block.digest,
            "rows": table.num_rows,
            "skipped": block.skipped,
        }
        table = table.replace_schema_metadata({METADATA_KEY: json.dumps(meta)})
        with atomic_path(self.output / block.name) as tmp:
            pq.write_table(table, tmp, compression="zstd")
        self.written[number] = meta


def _reason(problem: str) -> str:
    return re.sub(r"\s*\([^()]*\)$", "", problem)


def write_summary(output: Path, input_path: Path, plan: Plan, identity: dict) -> dict:
    """_summary.json and _skipped.jsonl from every block file in `output` (this run's and earlier ones)."""
    blocks = finished_blocks(output)
    skipped = [{"block": n, **problem} for n in sorted(blocks) for problem in blocks[n]["skipped"]]
    summary = {
        "input": str(input_path),
        **identity,
        "blocks": len(blocks),
        "blocks_in_input": plan.blocks,
        "rows": sum(meta["rows"] for meta in blocks.values()),
        "skipped": len(skipped),
        "skipped_by_reason": dict(Counter(_reason(p["problem"]) for p in skipped).most_common()),
    }
    summary["complete"] = summary["blocks"] == summary["blocks_in_input"]
    write_jsonl(output / "_skipped.jsonl", skipped)
    write_json(output / "_summary.json", summary)
    return summary


def _actor_env(threads: int) -> dict:
    env = {
        # One torch/OpenMP pool of `threads` per actor, and threads that sleep rather than spin
        # while they wait: actors share their node's cores with each other and with Ray.
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "OMP_WAIT_POLICY": "PASSIVE",
        "TOKENIZERS_PARALLELISM": "false",
    }
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def init_ray(address: str = "", **options) -> None:
    """Start a local Ray instance ("") or join one ("auto": the one running on this machine;
    "host:port": a cluster's head), shipping this package (components/) to every worker of the
    job so that the actors can import it wherever they run. `options` go to `ray.init` (e.g.
    num_cpus for a local instance)."""
    import ray

    ray.init(
        address=address or "local",
        include_dashboard=False,
        logging_level=logging.WARNING,
        # Workers' own output (and Ray's noise when an idle worker exits) stays in Ray's logs
        # (/tmp/ray/session_latest/logs); an actor's exception still reaches the driver.
        log_to_driver=False,
        runtime_env={"py_modules": [str(Path(__file__).resolve().parent.parent)]},
        **options,
    )


def run_actors(
    blocks: list[Block],
    collector: Collector,
    *,
    model: str,
    pool: Pool,
    batch_size: int,
    config: dict | None,
    bar: tqdm,
) -> dict:
    """Tag `blocks` on the actor pool of the connected Ray cluster; `collector` writes them."""
    import ray
    from ray.data import ActorPoolStrategy, DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = False  # ours says rows, rate and time left
    # Into the object store in tasks of TASK_ROWS rows (a copy each: a slice would drag its whole
    # block along); the driver keeps only the references.
    task_rows = max(batch_size, TASK_ROWS)
    refs = []
    for block in blocks:
        for start in range(0, block.rows, task_rows):
            refs.append(ray.put(block.table.take(pa.array(range(start, min(start + task_rows, block.rows))))))
        block.table = None
    pool = replace(pool, actors=min(pool.actors, len(refs)))  # no actor without work
    logger.info("Ray: %s; %g CPU(s) in the cluster", pool.describe(), ray.cluster_resources().get("CPU", 0))
    dataset = ray.data.from_arrow_refs(refs).map_batches(
        Tagger,
        fn_constructor_kwargs={
            "model": str(model),
            "threads": pool.threads,
            "gpu": pool.gpus > 0,
            "batch_size": batch_size,
            "config": config,
        },
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ActorPoolStrategy(size=pool.actors),
        num_cpus=pool.cpus,
        num_gpus=pool.gpus or None,
        runtime_env={"env_vars": _actor_env(pool.threads)},
    )
    started = time.perf_counter()
    first = None
    rows = 0
    for batch in dataset.iter_batches(batch_format="pyarrow", batch_size=None):
        new = collector.add(batch)
        if first is None:
            first = (time.perf_counter() - started, new)
        rows += new
        bar.update(new)
    seconds = time.perf_counter() - started
    steady = (rows - first[1]) / (seconds - first[0]) if first and seconds > first[0] else None
    return {
        "seconds": seconds,
        "first_result_seconds": first[0] if first else None,
        "steady_rows_per_s": steady,
    }


def tag_corpus(
    input_path: str | Path,
    output: str | Path,
    *,
    model: str | Path = "en_assay_ner",
    address: str = "",
    actors: int = 0,
    threads: int = 0,
    gpus_per_actor: float = 0.0,
    batch_size: int = 1000,
    block_rows: int = BLOCK_ROWS,
    assay_types: Sequence[str] = (),
    max_chars: int = MAX_CHARS,
    int8: bool | None = None,
    progress: bool = True,
) -> dict:
    """Tag every description of `input_path` into the Parquet dataset `output` (see the module
    docstring); resume where an earlier run stopped. `address`: "" starts a local Ray instance,
    "auto" joins the one running on this machine, "host:port" a cluster. Returns this run's
    figures and the summary of the output."""
    input_path, output = Path(input_path), Path(output)
    if Path(model).is_dir():  # the actors' working directory is not ours
        model = Path(model).resolve()
    if block_rows < 1 or batch_size < 1:
        raise TagError("block_rows and batch_size must be at least 1")
    identity = model_identity(model)
    output.mkdir(parents=True, exist_ok=True)
    for stale in output.glob(".part-*.tmp"):  # left by a run that was killed mid-write
        stale.unlink()
    started = time.perf_counter()
    plan = make_plan(read_items(input_path, assay_types, max_chars), output, block_rows, identity)
    logger.info(
        f"{input_path}: {plan.rows} descriptions and {plan.skipped} bad row(s) in "
        f"{plan.blocks} block(s) of {block_rows} rows; {len(plan.done)} block(s) "
        f"already done, {plan.pending_rows} descriptions to tag with {identity['model']} "
        f"{identity['model_version']}"
    )
    problems = [problem for block in plan.pending for problem in block.skipped]
    for problem in problems[:10]:
        logger.warning("skipped %s: %s", problem["source"], problem["problem"])
    if len(problems) > 10:
        logger.warning("... and %d more bad row(s): see %s", len(problems) - 10, output / "_skipped.jsonl")
    collector = Collector(output, plan.pending, block_rows, identity, str(input_path))
    for block in plan.pending:
        if not block.rows:
            collector.finish(block.index)
    todo = [block for block in plan.pending if block.rows]
    run: dict = {"seconds": 0.0, "first_result_seconds": None, "steady_rows_per_s": None}
    if todo:
        import ray

        joined = ray.is_initialized()
        if not joined:
            init_ray(address)
        try:
            pool = size_pool(ray.cluster_resources(), actors, threads, gpus_per_actor)
            # None keeps the model's own default (int8 on a CPU)
            config = None if int8 is None else {"components": {"int8": {"enabled": int8}}}
            total = sum(block.rows for block in todo)
            with tqdm(total=total, unit="desc", desc="tag", disable=not progress, smoothing=0.1) as bar:
                run = run_actors(
                    todo,
                    collector,
                    model=str(model),
                    pool=pool,
                    batch_size=batch_size,
                    config=config,
                    bar=bar,
                )
        finally:
            if not joined:
                ray.shutdown()
        if collector.pending:
            missing = sorted(collector.pending)
            raise TagError(f"blocks {missing[:5]} did not get all their rows back from the actors")
    tagged = sum(meta["rows"] for meta in collector.written.values())
    summary = write_summary(output, input_path, plan, identity)
    seconds = time.perf_counter() - started
    logger.info(
        f"{output}: {tagged} descriptions tagged into {len(collector.written)} new block(s) in "
        f"{seconds:.0f} s; "
        f"{summary['rows']} descriptions and {summary['skipped']} bad row(s) in {summary['blocks']} of "
        f"{summary['blocks_in_input']} block(s)"
    )
    return {
        **run,
        "tagged": tagged,
        "new_blocks": len(collector.written),
        "total_seconds": seconds,
        **summary,
    }
