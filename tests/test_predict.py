"""Batch prediction over JSONL/CSV/TSV with a tiny saved pipeline (conftest: EntityRuler + assay_answer)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from components.data.records import InputError
from components.inference.predict import predict_file, read_descriptions

ROOT = Path(__file__).resolve().parent.parent

@pytest.fixture(scope="module")
def model_dir(tiny_pipeline):
    return tiny_pipeline


def read_output(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf8").splitlines()]


def test_jsonl_passes_fields_through_and_skips_bad_lines(model_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(
        "\n".join(
            [
                json.dumps(
                    {"id": "A1", "text": "Inhibition of human JNK2 using ATF2 as substrate; JNK2 again"}
                ),
                "{not json",
                json.dumps({"id": "A3"}),
                "",
                json.dumps({"id": "A5", "text": "   "}),
                json.dumps(["a", "list"]),
                json.dumps(
                    {"id": "A7", "text": "Cytotoxicity against HepG2 cells by MTT assay", "extra": {"k": 1}}
                ),
            ]
        )
        + "\n",
        encoding="utf8",
    )
    out = tmp_path / "out.jsonl"
    stats = predict_file(str(model_dir), src, out, progress=False)
    assert stats["written"] == 2 and stats["skipped"] == 4
    assert [p.split(": ")[0] for p in stats["problems"]] == [f"{src}:{n}" for n in (2, 3, 5, 6)]
    assert "malformed JSON" in stats["problems"][0]
    first, second = read_output(out)
    assert first["id"] == "A1"
    assert first["targets"] == ["JNK2"] and first["substrates"] == ["ATF2"]
    assert [(s["text"], s["label"]) for s in first["spans"]] == [
        ("JNK2", "TARGET"),
        ("ATF2", "SUBSTRATE"),
        ("JNK2", "TARGET"),
    ]
    for span in first["spans"]:
        assert first["text"][span["start"] : span["end"]] == span["text"]
    assert second == {
        "id": "A7",
        "extra": {"k": 1},
        "text": "Cytotoxicity against HepG2 cells by MTT assay",
        "spans": [],
        "targets": [],
        "substrates": [],
    }


def test_csv_description_column_with_multiline_row_and_bad_rows(model_dir, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text(
        "assay_chembl_id,description\n"
        'CHEMBL1,"Displacement of [3H]NMS from human\nmuscarinic M5 receptor"\n'
        "CHEMBL2,\n"
        "CHEMBL3,Inhibition of mushroom tyrosinase using L-DOPA as substrate,surplus\n"
        "CHEMBL4,Activation of beta-adrenergic receptor by isoproterenol\n",
        encoding="utf8",
    )
    out = tmp_path / "out.jsonl"
    stats = predict_file(str(model_dir), src, out, progress=False)
    # CHEMBL2 (empty) starts on line 4 and CHEMBL3 (a field too many) on line 5: the quoted field spans 2-3.
    assert [p.split(": ")[0] for p in stats["problems"]] == [f"{src}:4", f"{src}:5"]
    records = read_output(out)
    assert [r["assay_chembl_id"] for r in records] == ["CHEMBL1", "CHEMBL4"]
    assert "description" not in records[0]
    assert records[0]["text"].count("\n") == 1
    assert records[0]["targets"] == ["muscarinic M5 receptor"] and records[0]["substrates"] == ["[3H]NMS"]
    assert records[1]["targets"] == ["beta-adrenergic receptor"] and records[1]["substrates"] == [
        "isoproterenol"
    ]


def test_tsv_text_column(model_dir, tmp_path):
    src = tmp_path / "in.tsv"
    src.write_text("text\tsource\nInhibition of NQO1 in presence of NADH\tlab\n", encoding="utf8")
    out = tmp_path / "out.jsonl"
    predict_file(str(model_dir), src, out, progress=False)
    assert read_output(out)[0] == {
        "source": "lab",
        "text": "Inhibition of NQO1 in presence of NADH",
        "spans": [{"start": 14, "end": 18, "label": "TARGET", "text": "NQO1"}],
        "targets": ["NQO1"],
        "substrates": [],
    }


def test_table_without_text_column_is_refused(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("id,summary\n1,Inhibition of JNK2\n", encoding="utf8")
    with pytest.raises(InputError, match=r"in\.csv:1: no text or description column"):
        list(read_descriptions(src))


def test_several_processes_give_the_same_output(model_dir, tmp_path):
    src = tmp_path / "in.txt"
    lines = [
        "Inhibition of human JNK2 using ATF2 as substrate",
        "Displacement of [3H]NMS",
        "no entity here",
    ] * 5
    src.write_text("\n".join(lines) + "\n", encoding="utf8")
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    predict_file(str(model_dir), src, one, progress=False, batch_size=2)
    predict_file(str(model_dir), src, two, progress=False, batch_size=2, n_process=2)
    assert read_output(one) == read_output(two)
    assert read_output(two)[1]["substrates"] == ["[3H]NMS"]


def test_cli_writes_output_and_names_bad_input(model_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": "Inhibition of JNK2"}) + "\n{oops\n", encoding="utf8")
    out = tmp_path / "out.jsonl"
    run = subprocess.run(
        [sys.executable, "-m", "scripts.predict", str(model_dir), str(src), str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "1 descriptions written, 1 bad line(s) skipped" in run.stdout
    assert f"{src}:2: malformed JSON" in run.stderr
    assert read_output(out)[0]["targets"] == ["JNK2"]


def test_unknown_format_is_refused(tmp_path):
    bad = tmp_path / "in.xml"
    bad.write_text("<x/>", encoding="utf8")
    with pytest.raises(InputError, match=r"in\.xml: unknown format '\.xml'"):
        list(read_descriptions(bad))
