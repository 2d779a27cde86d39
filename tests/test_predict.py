"""Batch prediction over JSONL/CSV/TSV with a tiny saved pipeline (EntityRuler + assay_answer), and
with a small trained bio_ner pipeline for the confidences."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import spacy

from components.data.records import InputError
from components.inference.predict import predict_file, read_descriptions
from components.pipeline import answer  # noqa: F401  (registers assay_answer for the tiny pipeline)

ROOT = Path(__file__).resolve().parent.parent

PATTERNS = {
    "TARGET": ["JNK2", "muscarinic M5 receptor", "tyrosinase", "NQO1", "beta-adrenergic receptor"],
    "SUBSTRATE": ["ATF2", "[3H]NMS", "L-DOPA", "isoproterenol"],
}


def save_tiny_pipeline(path: Path) -> Path:
    """A pipeline that loads like the real one (spacy.load of a directory) and ends in assay_answer,
    with a rule-based stand-in for the trained NER so that its output is known exactly."""
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(
        [{"label": label, "pattern": p} for label, patterns in PATTERNS.items() for p in patterns]
    )
    nlp.add_pipe("assay_answer")
    nlp.meta["name"] = "assay_ner_tiny"
    nlp.to_disk(path)
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny") / "model")


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
    assert all(span["confidence"] is None for span in first["spans"])  # the ruler gives no confidence
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
        "spans": [{"start": 14, "end": 18, "label": "TARGET", "text": "NQO1", "confidence": None}],
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


def test_every_span_of_a_trained_pipeline_carries_its_confidence(trained_pipeline, tmp_path):
    texts = [json.loads(line)["text"] for line in (ROOT / "assets" / "handchecked.jsonl").open()][:30]
    src = tmp_path / "in.jsonl"
    src.write_text(
        "".join(json.dumps({"text": t, "n": i}) + "\n" for i, t in enumerate(texts)), encoding="utf8"
    )
    out = tmp_path / "out.jsonl"
    predict_file(str(trained_pipeline), src, out, progress=False, batch_size=8)
    records = read_output(out)
    nlp = spacy.load(trained_pipeline)
    expected = [
        [(e.start_char, e.end_char, e.label_, e.text, e._.confidence) for e in doc.ents]
        for doc in nlp.pipe(texts)
    ]
    got = [
        [(s["start"], s["end"], s["label"], s["text"], s["confidence"]) for s in r["spans"]] for r in records
    ]
    assert got == expected
    assert sum(map(len, got)) >= 10
    assert all(0.0 < span[4] <= 1.0 for spans in got for span in spans)
