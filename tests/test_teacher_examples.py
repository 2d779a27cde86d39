"""The few-shot pool is read from span records: each example's answer is the distinct span texts
of each label, in text order."""

import json
from pathlib import Path

import pytest

from components.data.records import InputError
from components.teacher.examples import read_fewshot

ROOT = Path(__file__).resolve().parents[1]


def write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf8")
    return path


def span(text, name, label, nth=0):
    start = -1
    for _ in range(nth + 1):
        start = text.index(name, start + 1)
    return {"start": start, "end": start + len(name), "label": label, "text": name}


def test_answers_are_the_distinct_span_texts_in_text_order(tmp_path):
    text = "Displacement of [3H]NMS from M5 receptor and [3H]NMS binding to M4 receptor"
    spans = [
        span(text, "M4 receptor", "TARGET"),
        span(text, "[3H]NMS", "SUBSTRATE", nth=1),
        span(text, "M5 receptor", "TARGET"),
        span(text, "[3H]NMS", "SUBSTRATE"),
    ]
    none = "Cytotoxicity against human HepG2 cells"
    path = write(
        tmp_path / "pool.jsonl",
        [{"text": text, "spans": spans, "meta": {"assay_id": 1}}, {"text": none, "spans": []}],
    )
    assert read_fewshot(path) == [
        {
            "text": text,
            "targets": ["M5 receptor", "M4 receptor"],
            "substrates": ["[3H]NMS"],
            "meta": {"assay_id": 1},
        },
        {"text": none, "targets": [], "substrates": [], "meta": {}},
    ]


@pytest.mark.parametrize(
    "record,message",
    [
        (
            {"text": "Inhibition of JNK2", "targets": ["JNK2"], "substrates": []},
            "needs a 'text' and a 'spans' list",
        ),
        ({"text": "Inhibition of JNK2", "spans": [{"start": 14, "end": 18}]}, "each span needs"),
        (
            {"text": "Inhibition of JNK2", "spans": [{"start": 14, "end": 18, "label": "GENE"}]},
            "unknown label",
        ),
        (
            {"text": "Inhibition of JNK2", "spans": [{"start": 14, "end": 40, "label": "TARGET"}]},
            "outside the text",
        ),
        (
            {
                "text": "Inhibition of JNK2",
                "spans": [{"start": 13, "end": 17, "label": "TARGET", "text": "JNK2"}],
            },
            "does not match the text",
        ),
    ],
)
def test_a_bad_record_names_its_file_and_line(tmp_path, record, message):
    good = {"text": "Inhibition of PIM1", "spans": [{"start": 14, "end": 18, "label": "TARGET"}]}
    path = write(tmp_path / "pool.jsonl", [good, record])
    with pytest.raises(InputError, match=f"pool.jsonl:2: .*{message}"):
        read_fewshot(path)


def test_the_bundled_pool_reads_whole():
    pool = read_fewshot(ROOT / "assets" / "fewshot.jsonl")
    assert len(pool) == 100
    assert sum(bool(eg["targets"] or eg["substrates"]) for eg in pool) > 50
    for eg in pool:
        assert all(name in eg["text"] for key in ("targets", "substrates") for name in eg[key])
        assert all(len(set(eg[key])) == len(eg[key]) for key in ("targets", "substrates"))
