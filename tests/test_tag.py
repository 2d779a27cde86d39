"""`tag` on a real local Ray instance (2 CPUs) with a small trained pipeline: a ChEMBL-shaped SQLite
dump and a JSONL file in, Parquet out equal to plain nlp.pipe; a killed run resumes without loss
or duplicates; bad rows are reported with their source and row."""

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
import spacy

from components.inference.tag import (
    METADATA_KEY,
    Pool,
    TagError,
    init_ray,
    size_pool,
    tag_corpus,
)

ROOT = Path(__file__).resolve().parent.parent
HANDCHECKED = [json.loads(line) for line in (ROOT / "assets" / "handchecked.jsonl").open(encoding="utf8")]


@pytest.fixture(scope="module")
def ray_address():
    """One local Ray instance of 2 CPUs for the module; its address lets a subprocess join it."""
    import ray

    init_ray(num_cpus=2)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def nlp(trained_pipeline):
    return spacy.load(trained_pipeline)


def predicted(nlp, texts: list[str]) -> list[dict]:
    """What tag must write for `texts`, from plain nlp.pipe."""
    rows = []
    for doc in nlp.pipe(texts):
        rows.append(
            {
                "text_sha256": hashlib.sha256(doc.text.encode("utf8")).hexdigest(),
                "targets": [span.text for span in doc._.targets],
                "substrates": [span.text for span in doc._.substrates],
                "entities": [
                    (e.label_, e.start_char, e.end_char, e.text, pytest.approx(e._.confidence, rel=1e-6))
                    for e in doc.ents
                ],
            }
        )
    return rows


def read_output(path: Path) -> list[dict]:
    rows = pads.dataset(path, format="parquet").to_table().to_pylist()  # part files in name order
    for row in rows:
        row["entities"] = [
            (e["label"], e["start"], e["end"], e["text"], e["confidence"]) for e in row["entities"]
        ]
    return rows


def chembl_dump(path: Path, records: list[dict], bad: list[tuple]) -> Path:
    """A SQLite file with ChEMBL's `assays` table (its real column names and types, a few of them)."""
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE assays (assay_id BIGINT NOT NULL PRIMARY KEY, doc_id BIGINT NOT NULL, "
        "description VARCHAR(4000), assay_type VARCHAR(1), assay_test_type VARCHAR(20), "
        "assay_category VARCHAR(50), assay_organism VARCHAR(250), assay_tax_id BIGINT, tid BIGINT, "
        "confidence_score SMALLINT, curated_by VARCHAR(32), src_id INTEGER NOT NULL, "
        "chembl_id VARCHAR(20) NOT NULL, bao_format VARCHAR(11))"
    )
    rows = [
        (r["meta"]["assay_id"], r["text"], r["meta"]["assay_type"], f"CHEMBL{900000 + i}")
        for i, r in enumerate(records)
    ]
    db.executemany(
        "INSERT INTO assays (assay_id, doc_id, description, assay_type, assay_test_type, tid, "
        "confidence_score, src_id, chembl_id, bao_format) VALUES (?, 1, ?, ?, 'In vitro', 11, 9, 1, ?, "
        "'BAO_0000357')",
        rows + bad,
    )
    db.commit()
    db.close()
    return path


def test_a_chembl_dump_is_tagged_like_nlp_pipe_and_bad_rows_are_reported(
    ray_address, trained_pipeline, nlp, tmp_path
):
    records = HANDCHECKED[:50]  # binding (B) and functional (F) assays
    bad = [
        (1, None, "B", "CHEMBL1"),  # no description
        (2, "", "F", "CHEMBL2"),
        (3, "   ", "B", "CHEMBL3"),
        (4, "Inhibition of JNK2 " * 30, "F", "CHEMBL4"),  # 570 characters, over max_chars
        (5, b"\xff\xfe", "B", "CHEMBL5"),  # a BLOB: SQLite stores bytes as given
        (6, "Inhibition of CYP3A4 in human liver microsomes", "A", "CHEMBL6"),  # ADME: filtered out
        (7, None, "T", "CHEMBL7"),  # filtered out too: not counted as a bad row
    ]
    db = chembl_dump(tmp_path / "chembl_35.db", records, bad)
    with sqlite3.connect(db) as con:  # a TEXT value that is not UTF-8
        con.execute(
            "INSERT INTO assays (assay_id, doc_id, description, assay_type, src_id, chembl_id) "
            "VALUES (8, 1, CAST(? AS TEXT), 'B', 1, 'CHEMBL8')",
            (b"Inhibition of \xff JNK2",),
        )
    con.close()
    out = tmp_path / "tagged"
    stats = tag_corpus(
        db, out, model=trained_pipeline, block_rows=16, batch_size=8, assay_types=["B", "F"], max_chars=300,
        progress=False,
    )  # fmt: skip
    assert (stats["rows"], stats["skipped"], stats["blocks"], stats["complete"]) == (50, 6, 4, True)
    assert sorted(p.name for p in out.iterdir()) == [
        "_skipped.jsonl", "_summary.json", *(f"part-{i:06d}.parquet" for i in range(4)),
    ]  # fmt: skip

    rows = read_output(out)
    ordered = sorted(records, key=lambda r: r["meta"]["assay_id"])  # ChEMBL's order: assay_id
    assert [r["assay_id"] for r in rows] == [r["meta"]["assay_id"] for r in ordered]
    assert [r["source"] for r in rows] == [f"{db}:assay_id {r['meta']['assay_id']}" for r in ordered]
    assert {r["assay_type"] for r in rows} == {"B", "F"}
    assert all(r["chembl_id"].startswith("CHEMBL9") for r in rows)
    assert {(r["model"], r["model_version"]) for r in rows} == {("en_assay_ner_test", "0.0.1")}
    keys = ["text_sha256", "targets", "substrates", "entities"]
    assert [{k: r[k] for k in keys} for r in rows] == predicted(nlp, [r["text"] for r in ordered])
    assert sum(len(r["entities"]) for r in rows) >= 20

    skipped = [json.loads(line) for line in (out / "_skipped.jsonl").open()]
    assert [(s["source"], s["problem"]) for s in skipped] == [
        (f"{db}:assay_id 1", "no text"),
        (f"{db}:assay_id 2", "empty text"),
        (f"{db}:assay_id 3", "empty text"),
        (f"{db}:assay_id 4", "text longer than 300 characters (570)"),
        (f"{db}:assay_id 5", "not text (bytes)"),
        (f"{db}:assay_id 8", "not UTF-8 text (byte 0xff at character 15)"),
    ]
    summary = json.loads((out / "_summary.json").read_text())
    assert summary["skipped_by_reason"] == {
        "empty text": 2, "no text": 1, "text longer than 300 characters": 1, "not text": 1,
        "not UTF-8 text": 1,
    }  # fmt: skip
    meta = json.loads(pq.read_schema(out / "part-000000.parquet").metadata[METADATA_KEY])
    assert (meta["rows"], len(meta["skipped"]), meta["block_rows"]) == (10, 6, 16)

    # Everything is done: a rerun finds nothing to tag and starts no actors.
    again = tag_corpus(db, out, model=trained_pipeline, block_rows=16, assay_types=["B", "F"], max_chars=300)
    assert (again["tagged"], again["new_blocks"], again["rows"]) == (0, 0, 50)


def test_the_shipped_defaults_tag_each_description_as_nlp_tags_it_alone(
    ray_address, trained_transformer_pipeline, tmp_path
):
    """A transformer pipeline at the shipped defaults (int8 on a CPU, length groups): the Parquet rows
    that two single-thread actors write, in batches of 40, are the same bits as `nlp(text)` one
    description at a time in this process."""
    texts = [record["text"] for record in HANDCHECKED[:120]]
    src = tmp_path / "descriptions.jsonl"
    lines = (json.dumps({"assay_id": i, "text": text}) + "\n" for i, text in enumerate(texts))
    src.write_text("".join(lines), encoding="utf8")
    out = tmp_path / "tagged"
    stats = tag_corpus(
        src, out, model=trained_transformer_pipeline, actors=2, threads=1, batch_size=40, block_rows=60,
        progress=False,
    )  # fmt: skip
    assert (stats["rows"], stats["complete"]) == (120, True)
    nlp = spacy.load(trained_transformer_pipeline)
    assert nlp.get_pipe("int8").quantized
    alone = [nlp(text) for text in texts]
    rows = read_output(out)
    assert [row["text_sha256"] for row in rows] == [hashlib.sha256(t.encode()).hexdigest() for t in texts]
    # Parquet keeps confidences as float32: the same bits once rounded to it.
    assert [row["entities"] for row in rows] == [
        [(e.label_, e.start_char, e.end_char, e.text, float(numpy.float32(e._.confidence))) for e in doc.ents]
        for doc in alone
    ]
    assert sum(len(row["entities"]) for row in rows) >= 20


def write_jsonl_input(path: Path, n: int) -> tuple[Path, list[str]]:
    """n good descriptions (hand-checked ChEMBL texts, cycled) with four bad lines among them."""
    lines, texts = [], []
    for i in range(n):
        record = HANDCHECKED[i % len(HANDCHECKED)]
        texts.append(record["text"])
        lines.append(
            json.dumps({"assay_chembl_id": f"CHEMBL{i}", "assay_id": str(i), "text": record["text"]})
        )
        if i == 5:
            lines += [
                "{not json",
                json.dumps({"description": 7}),
                json.dumps({"id": 1}),
                json.dumps({"text": ""}),
            ]
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    return path, texts


def part_files(out: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(out.glob("part-*.parquet"))}


def test_a_killed_run_resumes_without_loss_or_duplicates(ray_address, trained_pipeline, nlp, tmp_path):
    src, texts = write_jsonl_input(tmp_path / "descriptions.jsonl", 2400)
    out = tmp_path / "tagged"
    # Blocks of 300 rows go to Ray as tasks of 250 and 50 rows: a block is written once both are in.
    args = ["--model", str(trained_pipeline), "--block-rows", "300", "--batch-size", "8", "--actors", "1"]
    run = subprocess.Popen(
        [sys.executable, "-m", "scripts.tag", str(src), str(out), "--ray-address", ray_address, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so the kill reaches all of it
    )
    try:
        deadline = time.monotonic() + 300
        while not list(out.glob("part-*.parquet")) and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert run.poll() is None, run.stdout.read().decode()
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    before = part_files(out)
    total_blocks = (2400 + 4 + 299) // 300
    assert 1 <= len(before) < total_blocks
    for name in before:  # every file there is a whole block
        meta = json.loads(pq.read_schema(out / name).metadata[METADATA_KEY])
        assert pq.read_metadata(out / name).num_rows == meta["rows"] > 0

    stats = tag_corpus(src, out, model=trained_pipeline, block_rows=300, batch_size=8, progress=False)
    after = part_files(out)
    assert all(after[name] == before[name] for name in before)  # finished blocks were not redone
    assert stats["new_blocks"] == total_blocks - len(before) and stats["complete"]
    assert not list(out.glob(".part-*"))  # no temporary file left behind
    rows = read_output(out)
    assert [r["chembl_id"] for r in rows] == [f"CHEMBL{i}" for i in range(2400)]  # each once, in order
    assert [r["assay_id"] for r in rows[:3]] == [0, 1, 2]
    assert rows[6]["source"] == f"{src}:11" and stats["skipped"] == 4
    keys = ["text_sha256", "targets", "substrates", "entities"]
    unique = texts[: len(HANDCHECKED)]
    expected = predicted(nlp, unique)
    assert [{k: r[k] for k in keys} for r in rows] == [expected[i % len(unique)] for i in range(2400)]
    skipped = [json.loads(line) for line in (out / "_skipped.jsonl").open()]
    assert [(s["source"], s["problem"]) for s in skipped] == [
        (f"{src}:7", "malformed JSON (Expecting property name enclosed in double quotes)"),
        (f"{src}:8", "not text (int)"),
        (f"{src}:9", "no text or description field"),
        (f"{src}:10", "empty text"),
    ]


def test_an_output_from_other_input_model_or_blocks_is_not_mixed_in(trained_pipeline, tmp_path):
    src, out = tmp_path / "descriptions.jsonl", tmp_path / "tagged"
    # A block of bad rows only is written without Ray: enough to leave a finished block behind.
    src.write_text("{broken\n" * 5, encoding="utf8")
    stats = tag_corpus(src, out, model=trained_pipeline, block_rows=5, progress=False)
    assert (stats["blocks"], stats["rows"], stats["skipped"], stats["tagged"]) == (1, 0, 5, 0)
    with pytest.raises(
        TagError, match="in blocks of 5 rows; this run is en_assay_ner_test 0.0.1 in blocks of 4"
    ):
        tag_corpus(src, out, model=trained_pipeline, block_rows=4, progress=False)
    src.write_text("{broken\n" * 4 + json.dumps({"text": "Inhibition of JNK2"}) + "\n", encoding="utf8")
    with pytest.raises(TagError, match="part-000000.parquet was cut from other rows"):
        tag_corpus(src, out, model=trained_pipeline, block_rows=5, progress=False)
    other = tmp_path / "other"
    nlp = spacy.load(trained_pipeline)
    nlp.meta["version"] = "0.0.2"
    nlp.to_disk(other)
    with pytest.raises(
        TagError, match="written by en_assay_ner_test 0.0.1 .* this run is en_assay_ner_test 0.0.2"
    ):
        tag_corpus(src, out, model=other, block_rows=5, progress=False)


def test_the_pool_is_sized_from_the_cluster_and_leaves_room_for_the_driver():
    assert size_pool({"CPU": 2.0}) == Pool(actors=2, cpus=0.75, gpus=0.0, threads=1)
    assert size_pool({"CPU": 2.0}, actors=1) == Pool(actors=1, cpus=1.5, gpus=0.0, threads=2)
    assert size_pool({"CPU": 16.0}, threads=4) == Pool(actors=4, cpus=3.875, gpus=0.0, threads=4)
    assert size_pool({"CPU": 64.0, "GPU": 4.0}, gpus_per_actor=1) == Pool(4, 1.0, 1.0, 1)
    assert size_pool({"CPU": 8.0, "GPU": 1.0}, gpus_per_actor=0.5) == Pool(2, 1.0, 0.5, 1)
    with pytest.raises(TagError, match="the Ray cluster has 0"):
        size_pool({"CPU": 8.0}, gpus_per_actor=1)
    with pytest.raises(TagError, match="3 actors x 1 GPU"):
        size_pool({"CPU": 8.0, "GPU": 2.0}, actors=3, gpus_per_actor=1)


def test_the_cli_names_what_is_wrong(tmp_path):
    src, _ = write_jsonl_input(tmp_path / "in.jsonl", 3)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.tag",
            str(src),
            str(tmp_path / "out"),
            "--model",
            "no_such_model_xyz",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert "tag: no_such_model_xyz: neither a pipeline directory nor an installed package" in run.stderr
