"""The bundled real data: ChEMBL descriptions labelled by hand, cut into the project's disjoint parts.

One file of hand-labelled ChEMBL descriptions (assay_id, assay_type, text, spans) becomes
- `handchecked.jsonl`: the evaluation set, never trained on and never looked at while tuning;
- `fewshot.jsonl`: the teacher's few-shot pool (they also join the training split as gold);
- `sample_assays.jsonl`: the offline corpus that the teacher labels and the student learns from;
- `tuning.jsonl`: the hand labels of the sample's descriptions, for tuning the teacher and for
  gold-label benchmarks only; the workflow never reads it.

The cut is deterministic: descriptions are ordered by the hash of their normalised text
(corpus.split_key) and taken in that order, so it does not depend on the file's order.
"""

from __future__ import annotations

from pathlib import Path

from components.data.corpus import normalise_text, split_key
from components.data.records import InputError, check_labels, read_jsonl, write_jsonl

PARTS = ("handchecked", "fewshot", "sample")
DEFAULT_SIZES = {"handchecked": 300, "fewshot": 100}
SOURCE = "ChEMBL"
LICENCE = "CC BY-SA 3.0"


def read_labelled(path: str | Path) -> list[dict]:
    """The hand-labelled records, checked: ids, type, text and spans whose text matches the offsets."""
    records, seen = [], set()
    for line_no, obj in read_jsonl(path):
        where = f"{path}:{line_no}"
        text, spans = obj.get("text"), obj.get("spans")
        if not (isinstance(obj.get("assay_id"), int) and isinstance(text, str) and isinstance(spans, list)):
            raise InputError(f"{where}: needs an integer 'assay_id', a 'text' and a 'spans' list")
        for span in spans:
            if text[span["start"] : span["end"]] != span.get("text", text[span["start"] : span["end"]]):
                raise InputError(f"{where}: span {span} does not match the text at its offsets")
        check_labels([span["label"] for span in spans], where)
        key = normalise_text(text)
        if key in seen:
            raise InputError(f"{where}: the same description twice")
        seen.add(key)
        records.append(obj)
    return records


def provenance(obj: dict, part: str) -> dict:
    return {"source": part, "data": SOURCE, "licence": LICENCE, "assay_id": obj["assay_id"],
            "assay_type": obj.get("assay_type")}


def span_record(obj: dict, part: str) -> dict:
    spans = [{k: s[k] for k in ("start", "end", "label", "text")} for s in obj["spans"]]
    return {"text": obj["text"], "spans": spans, "meta": provenance(obj, part)}


def corpus_record(obj: dict) -> dict:
    return {"assay_id": obj["assay_id"], "assay_chembl_id": None, "assay_type": obj.get("assay_type"),
            "text": obj["text"]}


def cut(records: list[dict], sizes: dict[str, int] = DEFAULT_SIZES) -> dict[str, list[dict]]:
    """{"handchecked": [...], "fewshot": [...], "sample": [...]} in hash order."""
    ordered = sorted(records, key=lambda obj: split_key(obj["text"]))
    n_checked, n_fewshot = sizes["handchecked"], sizes["fewshot"]
    if n_checked + n_fewshot >= len(ordered):
        raise ValueError(f"{len(ordered)} records cannot fill {n_checked} + {n_fewshot} and leave a sample")
    return {
        "handchecked": ordered[:n_checked],
        "fewshot": ordered[n_checked : n_checked + n_fewshot],
        "sample": ordered[n_checked + n_fewshot :],
    }


def write_assets(source: str | Path, out_dir: str | Path, sizes: dict[str, int] = DEFAULT_SIZES) -> dict:
    out_dir = Path(out_dir)
    parts = cut(read_labelled(source), sizes)
    write_jsonl(out_dir / "handchecked.jsonl", (span_record(o, "handchecked") for o in parts["handchecked"]))
    write_jsonl(out_dir / "fewshot.jsonl", (span_record(o, "fewshot") for o in parts["fewshot"]))
    write_jsonl(out_dir / "sample_assays.jsonl", (corpus_record(o) for o in parts["sample"]))
    write_jsonl(out_dir / "tuning.jsonl", (span_record(o, "tuning") for o in parts["sample"]))
    return {name: len(part) for name, part in parts.items()}
