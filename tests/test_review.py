"""The review loop without a server: which descriptions are chosen and why, the tasks and labelling
config Label Studio gets, and a Label Studio export read back as gold with a verdict per task and
errors that name the file and the task. tests/test_review_labelstudio.py runs it against a real
Label Studio."""

import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import spacy
import typer

from components.data.corpus import normalise_text
from components.data.records import InputError, read_jsonl
from components.inference.load import load_pipeline
from components.pipeline.labels import COLORS, DEFINITIONS, LABELS
from components.review.client import LabelStudio, LabelStudioError
from components.review.loop import export_for_review
from components.review.select import DIVERSITY_DECAY, TEACHER_DOUBT, assess, choose
from components.review.tasks import import_review, label_config, merge_reviewed, review_task
from scripts.review_import import main as review_import_main

ROOT = Path(__file__).resolve().parent.parent
NLP = spacy.blank("en")


def write_jsonl(path: Path, objects: list[dict]) -> Path:
    path.write_text("".join(json.dumps(o) + "\n" for o in objects), encoding="utf8")
    return path


def teacher_record(text: str, mentions: list[tuple[str, str]], model_asked: bool = False, i: int = 0) -> dict:
    """A record as the hybrid teacher writes it: each mention's first occurrence marked."""
    spans = [{"start": text.index(s), "end": text.index(s) + len(s), "label": label} for s, label in mentions]
    return {
        "text": text,
        "spans": spans,
        "meta": {"assay_id": 1000 + i, "flags": [], "model_asked": model_asked},
    }


def test_the_labelling_config_has_both_labels_with_their_colours_and_definitions():
    root = ElementTree.fromstring(label_config())
    (labels,) = root.iter("Labels")
    (text,) = root.iter("Text")
    assert (labels.get("name"), labels.get("toName"), text.get("name"), text.get("value")) == (
        "label", "text", "text", "$text"
    )  # fmt: skip
    got = {label.get("value"): (label.get("background"), label.get("hint")) for label in labels}
    assert got == {label: (COLORS[label], DEFINITIONS[label]) for label in LABELS}


def test_the_choice_puts_disagreement_and_doubt_first_and_spreads_over_phrasings(tiny_pipeline):
    nlp = load_pipeline(tiny_pipeline)  # entities by rule (TINY_PATTERNS), no confidences
    agree = "Inhibition of human JNK2 at 1 uM using ATF2 as substrate"
    records = [
        teacher_record(agree, [("JNK2", "TARGET"), ("ATF2", "SUBSTRATE")]),
        # The student finds nothing, the teacher something.
        teacher_record("Inhibition of CDK9 kinase activity", [("CDK9", "TARGET")]),
        # Agreement, but the teacher's small model answered alone.
        teacher_record("Activity at tyrosinase in mushroom", [("tyrosinase", "TARGET")], model_asked=True),
    ]
    # Five copies of one phrasing on which student and teacher disagree about the substrate.
    records += [
        teacher_record(f"Inhibition of human JNK2 at {n} uM using ATF2 as substrate", [("JNK2", "TARGET")])
        for n in (2, 3, 5, 7, 9)
    ]
    candidates = [assess(nlp, doc, r, f"a.jsonl:{i}") for i, (doc, r) in enumerate(zip(nlp.pipe(
        r["text"] for r in records), records, strict=True))]  # fmt: skip
    priorities = [round(c.priority, 4) for c in candidates]
    rules, model = TEACHER_DOUBT["rules"], TEACHER_DOUBT["model_alone"]
    assert priorities[:3] == [rules, 1.0, model]
    assert priorities[3:] == [round(1 - 0.5 * (1 - rules), 4)] * 5  # 1 of 2 spans only the student's
    assert candidates[1].reasons[0] == "the student finds nothing where the teacher found 1 span(s)"
    assert candidates[3].phrasing == candidates[4].phrasing == "inhibition of human TARGET"

    chosen = [c.text for c in choose(candidates, 3)]
    # Two copies of one phrasing would come before the tyrosinase description, were it not for
    # the decay: the second copy drops to 0.55 * DIVERSITY_DECAY, below 0.4.
    assert 0.55 * DIVERSITY_DECAY < model < 0.55
    assert chosen[0] == records[1]["text"] and chosen[2] == records[2]["text"]
    assert chosen[1] in {r["text"] for r in records[3:]}
    assert len(choose(candidates, 100)) == len(candidates)


def test_export_writes_scored_tasks_never_handchecked_nor_gold(trained_pipeline, tmp_path):
    tuning = [obj for _, obj in read_jsonl(ROOT / "assets" / "tuning.jsonl")][40:60]
    checked = next(obj for _, obj in read_jsonl(ROOT / "assets" / "handchecked.jsonl"))
    fewshot = next(obj for _, obj in read_jsonl(ROOT / "assets" / "fewshot.jsonl"))
    records = [{**obj, "meta": {"assay_id": obj["meta"]["assay_id"], "model_asked": False}} for obj in tuning]
    records += [{**checked, "text": checked["text"].upper()}, fewshot]  # other case: the same text
    annotated = write_jsonl(tmp_path / "annotated.jsonl", records)
    gold = write_jsonl(tmp_path / "gold.jsonl", [fewshot])
    output, config = tmp_path / "review" / "tasks.json", tmp_path / "review" / "label_config.xml"

    tasks, summary = export_for_review(
        trained_pipeline, annotated, output, config, ROOT / "assets" / "handchecked.jsonl", [gold], k=100,
        progress=False,
    )  # fmt: skip
    assert json.loads(output.read_text()) == tasks and config.read_text() == label_config()
    assert summary["candidates"] == summary["chosen"] == len(tasks) == 20
    assert summary["model_version"] == "en_assay_ner_test 0.0.1"
    assert {normalise_text(t["data"]["text"]) for t in tasks} == {normalise_text(o["text"]) for o in tuning}
    assert summary["tokens_to_read"] == sum(len(NLP.make_doc(t["data"]["text"])) for t in tasks)

    nlp = load_pipeline(trained_pipeline)
    scores = [t["predictions"][0]["score"] for t in tasks]
    assert scores[0] == min(scores)  # the most worth reviewing first
    with_spans = [t for t in tasks if t["predictions"][0]["result"]]
    assert with_spans
    for task in with_spans:
        text = task["data"]["text"]
        doc = nlp(text)
        (prediction,) = task["predictions"]
        assert prediction["model_version"] == "en_assay_ner_test 0.0.1"
        regions = prediction["result"]
        assert [(r["value"]["start"], r["value"]["end"], r["value"]["labels"]) for r in regions] == [
            (e.start_char, e.end_char, [e.label_]) for e in doc.ents
        ]
        assert [r["score"] for r in regions] == pytest.approx([e._.confidence for e in doc.ents], abs=1e-4)
        assert all(r["value"]["text"] == text[r["value"]["start"] : r["value"]["end"]] for r in regions)
        # The task's score: 1 - its priority, which is at least the least sure entity's doubt.
        assert prediction["score"] <= min(r["score"] for r in regions) + 1e-4
        assert task["meta"]["prediction"]["spans"] == [
            {"start": e.start_char, "end": e.end_char, "label": e.label_} for e in doc.ents
        ]
        assert task["data"]["assay_id"] in {o["meta"]["assay_id"] for o in tuning}


# --- the review back -------------------------------------------------------------------------------

TEXT = "Inhibition of human JNK2 at 1 uM using ATF2 as substrate"
PREDICTED = [{"start": 20, "end": 24, "label": "TARGET", "confidence": 0.9},
             {"start": 39, "end": 43, "label": "SUBSTRATE", "confidence": 0.6}]  # fmt: skip


def region(start: int, end: int, label: str) -> dict:
    return {"from_name": "label", "to_name": "text", "type": "labels",
            "value": {"start": start, "end": end, "labels": [label]}}  # fmt: skip


def answer(i: int, regions: list[dict], when: str, cancelled: bool = False) -> dict:
    return {"id": i, "result": regions, "was_cancelled": cancelled, "updated_at": f"2026-12-06T10:{when}Z"}


def exported(task_id: int, text: str, annotations: list[dict], predicted: bool = True) -> dict:
    """A task as Label Studio's JSON export gives it back: ours, with an id and annotations."""
    task = review_task(text, {"assay_id": task_id}, PREDICTED, "en_assay_ner 0.1.0", {"priority": 0.7})
    if not predicted:  # a description someone added in Label Studio itself
        task = {"data": {"text": text}}
    return {**task, "id": task_id, "predictions": [task_id], "annotations": annotations}


def review_export(tmp_path: Path, tasks: list[dict]) -> Path:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks), encoding="utf8")
    return path


def test_a_review_becomes_gold_with_a_verdict_per_task(tmp_path):
    accepted = [region(20, 24, "TARGET"), region(39, 43, "SUBSTRATE")]
    tasks = [
        exported(1, TEXT, [answer(1, accepted, "00:00")]),
        # The reviewer kept JNK2 and stretched ATF2 into the middle of "as": snapped to tokens.
        exported(
            2, TEXT + " (2)", [answer(2, [region(20, 24, "TARGET"), region(39, 45, "SUBSTRATE")], "00:00")]
        ),
        exported(3, TEXT + " (3)", [answer(3, [], "00:00")]),  # no entity at all
        exported(4, TEXT + " (4)", [answer(4, accepted, "00:00", cancelled=True)]),  # skipped
        exported(5, TEXT + " (5)", []),  # not reviewed yet
        # Changed, then accepted on a second look, then skipped: the latest answer not cancelled wins.
        exported(
            6,
            TEXT + " (6)",
            [
                answer(7, accepted, "05:00"),
                answer(6, accepted[:1], "01:00"),
                answer(8, [], "09:00", cancelled=True),
            ],
        ),  # fmt: skip
        exported(7, "Binding to CDK9", [answer(9, [region(11, 15, "TARGET")], "00:00")], predicted=False),
        # Both spans relabelled: changed. A span where the model saw none, and none of its: rejected.
        exported(
            8, TEXT + " (8)", [answer(10, [region(20, 24, "SUBSTRATE"), region(39, 43, "TARGET")], "00:00")]
        ),
        exported(9, TEXT + " (9)", [answer(11, [region(30, 32, "TARGET")], "00:00")]),
    ]
    docs, report = import_review(NLP, review_export(tmp_path, tasks), set())
    got = {doc.user_data["meta"]["review"]["task"]: [(e.text, e.label_) for e in doc.ents] for doc in docs}
    assert got == {
        1: [("JNK2", "TARGET"), ("ATF2", "SUBSTRATE")],
        2: [("JNK2", "TARGET"), ("ATF2 as", "SUBSTRATE")],
        3: [],
        6: [("JNK2", "TARGET"), ("ATF2", "SUBSTRATE")],
        7: [("CDK9", "TARGET")],
        8: [("JNK2", "SUBSTRATE"), ("ATF2", "TARGET")],
        9: [("uM", "TARGET")],
    }
    assert {t["task"]: t["verdict"] for t in report.per_task} == {
        1: "accepted", 2: "changed", 3: "rejected", 4: "skipped", 6: "accepted", 7: "unpredicted",
        8: "changed", 9: "rejected",
    }  # fmt: skip
    assert report.as_dict()["verdicts"] == {"accepted": 2, "changed": 2, "rejected": 2, "unpredicted": 1}
    assert (report.tasks, report.reviewed, report.skipped, report.unreviewed) == (9, 7, 1, 1)
    meta = docs[1].user_data["meta"]
    assert meta["alignment_notes"] and report.alignment_notes == len(meta["alignment_notes"])
    assert meta["source"] == "reviewed" and meta["assay_id"] == 2
    assert meta["review"] == {"task": 2, "annotation": 2, "model_version": "en_assay_ner 0.1.0",
                              "reviewed_at": "2026-12-06T10:00:00Z", "verdict": "changed"}  # fmt: skip
    assert docs[3].user_data["meta"]["review"]["annotation"] == 7


def test_a_second_review_replaces_the_first_of_the_same_text_and_keeps_the_rest(tmp_path):
    gold = tmp_path / "reviewed.jsonl"
    first, _ = import_review(NLP, review_export(tmp_path, [
        exported(1, TEXT, [answer(1, [region(20, 24, "TARGET")], "00:00")]),
        exported(2, "Binding to CDK9", [answer(2, [], "00:00")], predicted=False),
    ]), set())  # fmt: skip
    records, counts = merge_reviewed(gold, first)
    assert counts == {"added": 2, "replaced": 0, "kept": 0}
    write_jsonl(gold, records)
    again, _ = import_review(NLP, review_export(tmp_path, [
        exported(9, TEXT.upper(), [answer(3, [region(39, 43, "SUBSTRATE")], "00:00")]),
    ]), set())  # fmt: skip
    records, counts = merge_reviewed(gold, again)
    assert counts == {"added": 0, "replaced": 1, "kept": 1}
    assert [(r["text"], [s["text"] for s in r["spans"]]) for r in records] == [
        ("Binding to CDK9", []), (TEXT.upper(), ["ATF2"])
    ]  # fmt: skip


@pytest.mark.parametrize(
    "regions,message",
    [
        ([region(20, 24, "KINASE")], r"unknown label\(s\) \['KINASE'\]"),
        ([region(20, 240, "TARGET")], r"TARGET span \[20:240\] is outside the text"),
        ([{**region(20, 24, "TARGET"), "value": {"start": 20, "end": 24, "labels": ["TARGET", "SUBSTRATE"]}}],
         r"span \[20:24\] has labels \['TARGET', 'SUBSTRATE'\]; give each span exactly one"),
        ([{"from_name": "sentiment", "type": "choices", "value": {"choices": ["good"]}}],
         r"a 'choices' result of 'sentiment'"),
    ],
)  # fmt: skip
def test_a_bad_review_names_the_file_and_the_task(tmp_path, regions, message):
    path = review_export(
        tmp_path, [exported(1, TEXT, []), exported(12, TEXT + ".", [answer(1, regions, "00:00")])]
    )
    with pytest.raises(InputError, match=rf"{path}: task 12: {message}"):
        import_review(NLP, path, set())


def test_a_review_of_a_handchecked_description_is_refused_naming_the_task(tmp_path, capsys):
    checked = next(obj for _, obj in read_jsonl(ROOT / "assets" / "handchecked.jsonl"))["text"]
    path = review_export(tmp_path, [exported(3, TEXT, []), exported(4, checked, [answer(1, [], "00:00")])])
    gold = tmp_path / "reviewed.jsonl"
    with pytest.raises(typer.Exit) as failed:
        review_import_main(path, gold, handchecked=ROOT / "assets" / "handchecked.jsonl",
                           report=tmp_path / "review.json")  # fmt: skip
    assert failed.value.exit_code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"review-import: {path}: task 4: {checked[:60]!r} is a hand-checked description")
    assert not gold.exists() and not (tmp_path / "review.json").exists()


def test_not_an_export_and_one_description_twice_are_refused(tmp_path):
    path = tmp_path / "export.json"
    path.write_text('[{"id": 1,\n "data": ', encoding="utf8")
    with pytest.raises(InputError, match=rf"{path}:2: not JSON"):
        import_review(NLP, path, set())
    path.write_text('{"tasks": []}', encoding="utf8")
    with pytest.raises(InputError, match=rf"{path}: expected Label Studio's JSON export, a list of tasks"):
        import_review(NLP, path, set())
    twice = [exported(1, TEXT, [answer(1, [], "00:00")]), exported(2, TEXT.lower(), [answer(2, [], "00:00")])]
    with pytest.raises(InputError, match=r"task 2: the same description as task 1"):
        import_review(NLP, review_export(tmp_path, twice), set())


def test_no_label_studio_and_no_token_say_what_to_do(free_port, monkeypatch):
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(LabelStudioError, match=rf"cannot reach Label Studio at {url} .*; is it running\?"):
        LabelStudio(url, "token", "MY_LS_TOKEN").project_id("review")
    monkeypatch.delenv("MY_LS_TOKEN", raising=False)
    with pytest.raises(LabelStudioError, match="set the environment variable MY_LS_TOKEN to your"):
        LabelStudio.from_env(url, "MY_LS_TOKEN")
