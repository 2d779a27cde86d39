"""Importing existing annotations: a description/target/substrate table (CSV/TSV/parquet) and span JSONL as
Prodigy and doccano export it, through the CLI and the DocBin it writes."""

import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import spacy
import typer

from components.data.docs import read_docbin
from components.data.importing import import_annotations
from components.data.records import InputError
from scripts.import_annotations import main as import_main

NLP = spacy.blank("en")

# (description, target cell, substrate cell, expected (label, text) entities)
TABLE = [
    (
        "Inhibition of human JNK2 at 1 uM using ATF2 as substrate",
        "JNK2",
        "ATF2",
        [("TARGET", "JNK2"), ("SUBSTRATE", "ATF2")],
    ),
    ("Inhibition of PDE4B and PDE4D", "PDE4B; PDE4D", "None", [("TARGET", "PDE4B"), ("TARGET", "PDE4D")]),
    (
        "Displacement of [3H]NMS from human muscarinic M5 receptor expressed in CHO cells",
        "muscarinic M5 receptor",
        "[3H]NMS",
        [("SUBSTRATE", "[3H]NMS"), ("TARGET", "muscarinic M5 receptor")],
    ),
    ("Cytotoxicity against human HepG2 cells assessed as cell viability by MTT assay", "", "None", []),
    # JNK3 is not in the text: reported, not dropped silently.
    (
        "Mixed-type inhibition of mushroom tyrosinase using L-DOPA as substrate",
        "tyrosinase|JNK3",
        "L-DOPA",
        [("TARGET", "tyrosinase"), ("SUBSTRATE", "L-DOPA")],
    ),
    # The first description again, in other case: collapsed.
    ("inhibition of human JNK2 at 1 uM using ATF2 as substrate", "JNK2", "ATF2", None),
]
EXPECTED = [row[3] for row in TABLE if row[3] is not None]


def ents(doc):
    return [(e.label_, e.text) for e in doc.ents]


def write_table(path):
    rows = [{"description": d, "target": t, "substrate": s, "model": "llama3"} for d, t, s, _ in TABLE]
    if path.suffix == ".parquet":
        rows[1]["substrate"] = None  # a null cell, as pandas writes None
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        with path.open("w", encoding="utf8", newline="") as f:
            writer = csv.DictWriter(f, list(rows[0]), delimiter="," if path.suffix == ".csv" else "\t")
            writer.writeheader()
            writer.writerows(rows)
    return path


def test_cli_imports_a_seed_table_into_docbin_and_jsonl(tmp_path, caplog):
    table = write_table(tmp_path / "seed_llm_output.csv")
    docbin, jsonl = tmp_path / "out" / "imported.spacy", tmp_path / "out" / "imported.jsonl"
    with caplog.at_level("INFO"):
        import_main(table, jsonl_out=jsonl, docbin_out=docbin)
    docs = read_docbin(docbin, NLP.vocab)
    assert [ents(doc) for doc in docs] == EXPECTED
    # DocBin's msgpack gives lists back as tuples.
    assert list(docs[4].user_data["meta"]["unaligned"]) == [{"label": "TARGET", "text": "JNK3"}]
    assert docs[4].user_data["meta"]["imported_from"] == f"{table}:6"
    assert all(not doc.user_data["meta"]["unaligned"] for doc in docs[:4])
    assert "1 of 9 strings could not be aligned (in 1 records" in caplog.text
    assert "1 duplicate" in caplog.text
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [[(s["label"], s["text"]) for s in r["spans"]] for r in records] == EXPECTED


@pytest.mark.parametrize("suffix", [".tsv", ".parquet"])
def test_tsv_and_parquet_tables_import_alike(tmp_path, suffix):
    docs, report = import_annotations(NLP, write_table(tmp_path / f"seed{suffix}"))
    assert [ents(doc) for doc in docs] == EXPECTED
    assert (report.docs, report.mentions, report.unaligned, report.docs_with_unaligned) == (5, 9, 1, 1)
    assert report.filter.skipped == {"duplicate": 1}


def test_table_without_a_label_column_names_the_file(tmp_path):
    path = tmp_path / "seed.csv"
    path.write_text("description,target\nInhibition of JNK2,JNK2\n", encoding="utf8")
    with pytest.raises(InputError, match=rf"{path}:1: missing column\(s\) \['substrate'\]"):
        import_annotations(NLP, path)


def write_jsonl(path, objects):
    path.write_text("".join(json.dumps(o) + "\n" for o in objects), encoding="utf8")
    return path


def char_span(text, mention, label):
    start = text.index(mention)
    return start, start + len(mention), label


def test_span_jsonl_from_prodigy_and_doccano(tmp_path):
    jnk = "Inhibition of human JNK2 at 1 uM using ATF2 as substrate"
    nms = "Displacement of [3H]NMS from human muscarinic M5 receptor expressed in CHO cells"
    pde = "Inhibition of PDE4B and PDE4D"
    tyr = "Mixed-type inhibition of mushroom tyrosinase using L-DOPA as substrate"
    receptor = char_span(nms, "muscarinic M5 receptor", "TARGET")
    prodigy = {
        "text": jnk,
        "spans": [
            {"start": s, "end": e, "label": lab, "token_start": 3, "token_end": 3}
            for s, e, lab in (char_span(jnk, "JNK2", "TARGET"), char_span(jnk, "ATF2", "SUBSTRATE"))
        ],
        "answer": "accept",
        "meta": {"source": "prodigy"},
    }
    rejected = {"text": "Inhibition of EGFR", "spans": [], "answer": "reject"}
    # Offsets cut into words and around a space: snapped to tokens, with notes.
    doccano = {
        "id": 12,
        "text": nms,
        "label": [
            [receptor[0] + 1, receptor[1] - 2, "TARGET"],
            [nms.index("[3H]NMS") - 1, nms.index("[3H]NMS") + 7, "SUBSTRATE"],
        ],
    }
    doccano_entities = {
        "id": 13,
        "text": pde,
        "entities": [
            {"id": 1, "start_offset": s, "end_offset": e, "label": lab}
            for s, e, lab in (char_span(pde, "PDE4B", "TARGET"), char_span(pde, "PDE4D", "TARGET"))
        ],
        "relations": [],
    }
    doccano_data = {"id": 14, "data": tyr, "label": [list(char_span(tyr, "L-DOPA", "SUBSTRATE"))]}
    path = write_jsonl(
        tmp_path / "export.jsonl", [prodigy, rejected, doccano, doccano_entities, doccano_data]
    )

    docs, report = import_annotations(NLP, path)
    assert [ents(doc) for doc in docs] == [
        [("TARGET", "JNK2"), ("SUBSTRATE", "ATF2")],
        [("SUBSTRATE", "[3H]NMS"), ("TARGET", "muscarinic M5 receptor")],
        [("TARGET", "PDE4B"), ("TARGET", "PDE4D")],
        [("SUBSTRATE", "L-DOPA")],
    ]
    notes = docs[1].user_data["meta"]["alignment_notes"]
    assert len(notes) == 2 and "'uscarinic M5 recept'" in notes[0] and "'muscarinic M5 receptor'" in notes[0]
    assert docs[0].user_data["meta"] == {"source": "prodigy", "imported_from": f"{path}:1"}
    assert (report.docs, report.not_accepted, report.notes) == (4, 1, 2)


def test_malformed_jsonl_line_names_file_and_line(tmp_path):
    path = tmp_path / "export.jsonl"
    path.write_text('{"text": "Inhibition of JNK2", "spans": []}\n{"text": "Inhibition\n', encoding="utf8")
    with pytest.raises(InputError, match=rf"{path}:2: malformed JSON"):
        import_annotations(NLP, path)


def test_bad_offsets_name_file_and_line(tmp_path):
    path = write_jsonl(
        tmp_path / "export.jsonl", [{"text": "Inhibition of JNK2", "label": [[14, 40, "TARGET"]]}]
    )
    with pytest.raises(InputError, match=rf"{path}:1: TARGET span \[14:40\] is outside the text"):
        import_annotations(NLP, path)


def test_cli_refuses_a_label_outside_the_set_and_writes_nothing(tmp_path, capsys):
    text = "Inhibition of JNK2 in HEK293 cells"
    path = write_jsonl(
        tmp_path / "export.jsonl",
        [
            {"text": text, "spans": [{"start": 14, "end": 18, "label": "TARGET"}]},
            {"text": text + " at 1 uM", "label": [[14, 18, "TARGET"], [22, 28, "CELL_LINE"]]},
        ],
    )
    out = tmp_path / "out"
    with pytest.raises(typer.Exit) as failed:
        import_main(path, jsonl_out=out / "a.jsonl", docbin_out=out / "a.spacy")
    assert failed.value.exit_code == 1
    assert f"import: {path}:2: unknown label(s) ['CELL_LINE']" in capsys.readouterr().err
    assert not out.exists()
