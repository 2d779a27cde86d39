"""Bytes that are not UTF-8 in the files each command reads: a Latin-1 "é" as a spreadsheet saved
on Windows writes it, and a stray \\xff. They are bad input like a malformed line: the line or row
is named with the byte, and skipped where the reader skips bad rows (predict, tag, a ChEMBL dump);
where it reads strictly (annotate's corpus, the assets step's sample, convert's span records,
imported annotations) the command stops in one line, never in a traceback."""

import json
import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer

from components.data.records import InputError, read_jsonl, read_rows
from components.inference.tag import read_items
from scripts.convert import main as convert_main
from scripts.fetch_chembl import main as fetch_main
from scripts.import_annotations import main as import_main
from scripts.predict import main as predict_main

ROOT = Path(__file__).resolve().parent.parent
GOOD = ["Inhibition of human JNK2 using ATF2 as substrate", "Inhibition of tyrosinase using L-DOPA"]
# "Antagonist activity at human muscarinic M5 receptor in café-au-lait cells" saved as Latin-1, and
# a description with a stray byte.
LATIN1 = "Antagonist activity at human muscarinic M5 receptor in caf\xe9-au-lait cells".encode("latin-1")
STRAY = b"Displacement of [3H]NMS from \xff muscarinic M5 receptor"
AT_LATIN1 = LATIN1.index(b"\xe9") + 1  # the bad byte's character, counted from 1
AT_STRAY = STRAY.index(b"\xff") + 1


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def jsonl_line(text: bytes, **fields) -> bytes:
    """A JSONL line with `text` as its raw bytes: what a program that writes Latin-1 puts there."""
    head = json.dumps(fields)[:-1] + (", " if fields else "")
    return head.encode() + b'"text": "' + text + b'"}'


def test_jsonl_and_text_lines_that_are_not_utf8_are_reported_and_skipped(tmp_path):
    lines = [GOOD[0].encode(), LATIN1, GOOD[1].encode(), STRAY]
    jsonl = write_lines(tmp_path / "in.jsonl", [jsonl_line(line) for line in lines])
    text = write_lines(tmp_path / "in.txt", lines)
    offset = len(jsonl_line(b"")) - 2  # the characters before the text in a JSONL line
    for path, shift in ((jsonl, offset), (text, 0)):
        problems = []
        rows = list(read_rows(path, problems.append))
        assert rows == [(f"{path}:1", {"text": GOOD[0]}), (f"{path}:3", {"text": GOOD[1]})]
        assert problems == [
            f"{path}:2: not UTF-8 text (byte 0xe9 at character {AT_LATIN1 + shift} of the line)",
            f"{path}:4: not UTF-8 text (byte 0xff at character {AT_STRAY + shift} of the line)",
        ]


@pytest.mark.parametrize("suffix, delimiter", [(".csv", b","), (".tsv", b"\t")])
def test_table_rows_that_are_not_utf8_are_reported_and_skipped(tmp_path, suffix, delimiter):
    rows = [
        b"description" + delimiter + b"assay_id",
        GOOD[0].encode() + delimiter + b"1",
        LATIN1 + delimiter + b"2",
    ]
    rows += [b'"' + STRAY + b'\nsecond line"' + delimiter + b"3", GOOD[1].encode() + delimiter + b"4"]
    path = write_lines(tmp_path / f"in{suffix}", rows)
    problems = []
    got = list(read_rows(path, problems.append))
    assert [(where, row["assay_id"]) for where, row in got] == [(f"{path}:2", "1"), (f"{path}:6", "4")]
    assert problems == [
        f"{path}:3: column 'description' is not UTF-8 text (byte 0xe9 at character {AT_LATIN1})",
        f"{path}:4: column 'description' is not UTF-8 text (byte 0xff at character {AT_STRAY})",
    ]


def test_a_table_whose_header_is_not_utf8_is_refused_in_one_line(tmp_path):
    path = write_lines(tmp_path / "in.csv", [b"descripci\xf3n,target", GOOD[0].encode() + b",JNK2"])
    with pytest.raises(InputError) as refused:
        list(read_rows(path, print))
    assert str(refused.value) == (
        f"{path}:1: the header row is not UTF-8 text (byte 0xf3 at character 10); save the file as UTF-8"
    )


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path):
    # Excel's "CSV UTF-8" starts the file with one.
    path = write_lines(tmp_path / "in.csv", [b"\xef\xbb\xbfdescription,target", GOOD[0].encode() + b",JNK2"])
    assert list(read_rows(path)) == [(f"{path}:2", {"description": GOOD[0], "target": "JNK2"})]


def test_parquet_strings_that_are_not_utf8_are_reported_and_skipped(tmp_path):
    # A string column written without checking its bytes (pyarrow itself checks; other writers may not).
    texts = pa.array([GOOD[0].encode(), LATIN1, STRAY, GOOD[1].encode()], pa.binary()).view(pa.string())
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"assay_id": [1, 2, 3, 4], "text": texts}), path)
    problems = []
    rows = list(read_rows(path, problems.append))
    assert rows == [
        (f"{path}:row 1", {"assay_id": 1, "text": GOOD[0]}),
        (f"{path}:row 4", {"assay_id": 4, "text": GOOD[1]}),
    ]
    assert problems == [
        f"{path}:row 2: column 'text' is not UTF-8 text (byte 0xe9)",
        f"{path}:row 3: column 'text' is not UTF-8 text (byte 0xff)",
    ]


def test_strict_reading_stops_at_the_first_such_line(tmp_path):
    path = write_lines(tmp_path / "records.jsonl", [jsonl_line(GOOD[0].encode()), jsonl_line(STRAY)])
    with pytest.raises(
        InputError, match=rf"^{path}:2: not UTF-8 text \(byte 0xff at character \d+ of the line\)$"
    ):
        list(read_jsonl(path))


def test_annotate_stops_in_one_line_naming_the_file_and_line(tmp_path, annotate_config):
    corpus = write_lines(
        tmp_path / "corpus.jsonl",
        [jsonl_line(GOOD[0].encode(), assay_id=1), jsonl_line(LATIN1, assay_id=2)],
    )
    run = subprocess.run(
        [sys.executable, "-m", "scripts.annotate", str(corpus), str(tmp_path / "out.jsonl"),
         "--config", str(annotate_config), "--vars.cache_dir", str(tmp_path / "cache")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 1 and "Traceback" not in run.stderr
    column = AT_LATIN1 + len(jsonl_line(b"", assay_id=2)) - 2
    assert run.stderr.splitlines()[-1] == (
        f"annotate: {corpus}:2: not UTF-8 text (byte 0xe9 at character {column} of the line)"
    )
    assert not (tmp_path / "out.jsonl").exists()


def test_predict_skips_such_rows_and_refuses_a_header_it_cannot_read(tiny_pipeline, tmp_path, caplog, capsys):
    src = write_lines(tmp_path / "in.csv", [b"description", GOOD[0].encode(), LATIN1, GOOD[1].encode()])
    out = tmp_path / "out.jsonl"
    predict_main(str(tiny_pipeline), src, out, batch_size=None, n_process=1, gpu_id=-1)
    assert [json.loads(line)["targets"] for line in out.read_text().splitlines()] == [
        ["JNK2"],
        ["tyrosinase"],
    ]
    assert (
        f"{src}:3: column 'description' is not UTF-8 text (byte 0xe9 at character {AT_LATIN1})" in caplog.text
    )
    unreadable = write_lines(tmp_path / "header.csv", [b"descripci\xf3n", GOOD[0].encode()])
    with pytest.raises(typer.Exit) as failed:
        predict_main(str(tiny_pipeline), unreadable, tmp_path / "none.jsonl", None, 1, -1)
    assert failed.value.exit_code == 1 and not (tmp_path / "none.jsonl").exists()
    assert capsys.readouterr().err.endswith(
        f"predict: {unreadable}:1: the header row is not UTF-8 text (byte 0xf3 at character 10); "
        "save the file as UTF-8\n"
    )


def test_import_stops_in_one_line_and_writes_nothing(tmp_path, capsys):
    path = write_lines(
        tmp_path / "table.csv",
        [b"description,target,substrate", GOOD[0].encode() + b",JNK2,ATF2", LATIN1 + b",caf\xe9,None"],
    )
    out = tmp_path / "out"
    with pytest.raises(typer.Exit) as failed:
        import_main(path, jsonl_out=out / "a.jsonl", docbin_out=out / "a.spacy")
    assert failed.value.exit_code == 1
    assert capsys.readouterr().err == (
        f"import: {path}:3: column 'description' is not UTF-8 text (byte 0xe9 at character {AT_LATIN1})\n"
    )
    assert not out.exists()


def test_tags_readers_report_such_rows_as_problems(tmp_path):
    path = write_lines(tmp_path / "in.txt", [GOOD[0].encode(), STRAY, GOOD[1].encode()])
    items = list(read_items(path))
    assert [(item.source, item.text, item.problem) for item in items] == [
        (f"{path}:1", GOOD[0], None),
        (f"{path}:2", None, f"not UTF-8 text (byte 0xff at character {AT_STRAY} of the line)"),
        (f"{path}:3", GOOD[1], None),
    ]


def chembl_dump(path: Path, descriptions: list[bytes]) -> Path:
    """The columns of ChEMBL's `assays` table that the readers use; descriptions stored as given."""
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE assays (assay_id INTEGER, chembl_id TEXT, assay_type TEXT, description TEXT)"
        )
        db.executemany(
            "INSERT INTO assays VALUES (?, ?, 'B', CAST(? AS TEXT))",
            [(i, f"CHEMBL{i}", text) for i, text in enumerate(descriptions, start=1)],
        )
    db.close()
    return path


def test_the_assets_step_skips_such_descriptions_in_a_chembl_dump_and_refuses_a_sample(
    tmp_path, capsys, caplog
):
    db = chembl_dump(tmp_path / "chembl.db", [GOOD[0].encode(), LATIN1, GOOD[1].encode()])
    out = tmp_path / "assays.jsonl"
    with caplog.at_level(logging.INFO, logger="assets"):
        fetch_main(out, n=3, source="sqlite", sqlite=db)
    assert sorted(json.loads(line)["text"] for line in out.read_text().splitlines()) == sorted(GOOD)
    assert f"skipped 1 not UTF-8 text (e.g. {db} assay_id 2)" in caplog.text
    # Tag reads the same dump: the row is reported, with the byte.
    problems = [item.problem for item in read_items(db) if item.problem]
    assert problems == [f"not UTF-8 text (byte 0xe9 at character {AT_LATIN1})"]
    capsys.readouterr()  # the progress bar's

    sample = write_lines(
        tmp_path / "sample.jsonl", [jsonl_line(GOOD[0].encode(), assay_id=1), jsonl_line(STRAY, assay_id=2)]
    )
    with pytest.raises(typer.Exit) as failed:
        fetch_main(tmp_path / "from_sample.jsonl", n=1, source="sample", sample=sample)
    assert failed.value.exit_code == 1
    assert capsys.readouterr().err.startswith(f"assets: {sample}:2: not UTF-8 text (byte 0xff at character ")
    assert not (tmp_path / "from_sample.jsonl").exists()


def test_convert_stops_in_one_line_and_writes_nothing(tmp_path, capsys):
    record = {"text": GOOD[0], "spans": [{"start": 20, "end": 24, "label": "TARGET"}], "meta": {}}
    checked = {**record, "meta": {"source": "handchecked"}}
    handchecked = tmp_path / "handchecked.jsonl"
    handchecked.write_text(json.dumps(checked) + "\n", encoding="utf8")
    annotated = write_lines(
        tmp_path / "annotated.jsonl",
        [json.dumps(record).encode(), b'{"text": "' + LATIN1 + b'", "spans": [], "meta": {}}'],
    )
    out = tmp_path / "corpus"
    with pytest.raises(typer.Exit) as failed:
        convert_main(annotated, out, handchecked=handchecked)
    assert failed.value.exit_code == 1
    assert capsys.readouterr().err == (
        f"convert: {annotated}:2: not UTF-8 text (byte 0xe9 at character {AT_LATIN1 + 10} of the line)\n"
    )
    assert not out.exists()
