"""Annotation runs: build the spacy-llm pipeline from configs/annotate.cfg, label a corpus, report.

scripts/annotate.py is the command line over `run`; tests and the benchmarks call these directly.
A description the teacher gave up on (every retry of its request failed) is left out of the
records and listed in the report with its ids and last error; `check_unanswered` then fails the
run unless the user allowed that many. Every answer is cached, so a rerun asks only those.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from spacy import util
from spacy.language import Language
from spacy.tokens import Doc
from tqdm import tqdm

from components.data.corpus import assay_ids, load_corpus
from components.data.docs import doc_to_record, read_handchecked
from components.data.records import InputError, write_jsonl
from components.evaluation.metrics import score_entities
from components.pipeline.labels import LABELS
from components.teacher import registry  # noqa: F401  (registers what configs/annotate.cfg names)
from components.teacher.base import Teacher, TeacherError
from components.teacher.task import HALLUCINATED, UNANSWERED, UNPARSEABLE

logger = logging.getLogger(__name__)


def load_annotator(config_path: str | Path, overrides: dict | None = None) -> Language:
    """The pipeline with the task and teacher that `vars.task` and `vars.backend` name."""
    config = util.load_config(config_path, overrides=overrides or {}, interpolate=False)
    chosen = {}
    for slot, section, var in (("task", "tasks", "task"), ("model", "teachers", "backend")):
        name = config["vars"][var]
        if name not in config[section]:
            raise InputError(
                f"{config_path}: no [{section}.{name}]; choose {var} from {sorted(config[section])}"
            )
        chosen[slot] = config[section][name]
    for slot, block in chosen.items():
        config["components"]["llm"][slot] = block
    del config["tasks"], config["teachers"]
    return util.load_model_from_config(config.interpolate(), auto_fill=True, validate=True)


PROJECT = Path(__file__).resolve().parents[2] / "project.yml"


def project_overrides(project: str | Path = PROJECT, **given) -> dict:
    """The annotate step's `--vars.*` settings as project.yml gives them (its defaults), with the
    `given` vars instead where named: what benchmarks and tests build the teacher from."""
    import shlex

    import srsly

    config = srsly.read_yaml(project)
    command = next(c for c in config["commands"] if c["name"] == "annotate")["script"][0]
    words = shlex.split(command)
    given_in_command = (i for i, word in enumerate(words) if word.startswith("--vars."))
    values = {words[i][len("--vars.") :]: words[i + 1] for i in given_in_command}
    for name, value in values.items():
        if value.startswith("${vars.") and value.endswith("}"):
            values[name] = config["vars"][value[len("${vars.") : -1]]
    return {f"vars.{name}": value for name, value in {**values, **given}.items()}


def project_arguments(project: str | Path = PROJECT, **given) -> list[str]:
    """project_overrides as the command line gives them: `--vars.NAME VALUE`, JSON but for strings."""
    import json

    overrides = project_overrides(project, **given)
    values = {k: v if isinstance(v, str) else json.dumps(v) for k, v in overrides.items()}
    return [word for k, v in values.items() for word in (f"--{k}", v)]


def teacher_of(nlp: Language) -> Teacher:
    # spacy-llm's LLMWrapper exposes the task but not the model it was built with.
    return nlp.get_pipe("llm")._model


def corpus_docs(nlp: Language, path: str | Path, limit: int | None = None) -> list[Doc]:
    """Docs of a corpus JSONL, read and cleaned as the assets step reads it, with the record's ids
    in `doc.user_data["meta"]`."""
    records, corpus_filter = load_corpus(path)
    if corpus_filter.skipped:
        logger.warning("%s", corpus_filter.report())
    docs = []
    for record in records[:limit]:
        doc = nlp.make_doc(record["text"])
        doc.user_data["meta"] = assay_ids(record)
        docs.append(doc)
    return docs


def annotate(nlp: Language, docs: list[Doc], desc: str = "annotate") -> tuple[list[Doc], float]:
    """Label `docs` with a progress bar (documents/s); returns the docs and the seconds it took."""
    teacher = teacher_of(nlp)
    # Enough documents per batch to keep every request slot of a concurrent teacher busy.
    batch_size = max(64, 16 * getattr(teacher, "max_in_flight", 1))
    start = time.perf_counter()
    with tqdm(total=len(docs), desc=desc, unit="doc") as bar:
        teacher.on_answer = lambda: bar.update(1)
        try:
            out = list(nlp.pipe(docs, batch_size=batch_size))
        finally:
            teacher.on_answer = None
    seconds = time.perf_counter() - start
    for doc in out:
        doc.user_data["meta"].update(teacher=teacher.model_id, backend=teacher.backend)
    return out, seconds


def summarise(docs: Iterable[Doc]) -> dict:
    spans, flags = Counter(), Counter()
    n = none = unaligned = 0
    for doc in docs:
        n += 1
        none += not doc.ents
        spans.update(e.label_ for e in doc.ents)
        meta = doc.user_data["meta"]
        flags.update(meta["flags"])
        unaligned += len(meta["unaligned"])
    return {
        "documents": n,
        "spans": {label: spans[label] for label in LABELS},
        "documents_without_spans": none,
        "unparseable": flags[UNPARSEABLE],
        "hallucinated_documents": flags[HALLUCINATED],
        "unaligned_strings": unaligned,
    }


def split_unanswered(teacher: Teacher, docs: list[Doc], source: str | Path) -> tuple[list[Doc], list[dict]]:
    """The docs the teacher answered, and for each one it gave up on: where it comes from, its ids
    and the last error."""
    answered, unanswered = [], []
    for doc in docs:
        meta = doc.user_data["meta"]
        if UNANSWERED not in meta["flags"]:
            answered.append(doc)
            continue
        ids = {k: v for k, v in meta.items() if k in ("assay_id", "assay_chembl_id")}
        error = teacher.unanswered.get(doc.text, "no answer")
        unanswered.append({"source": str(source), **ids, "error": error})
    return answered, unanswered


def score_handchecked(
    nlp: Language, path: str | Path, limit: int | None = None
) -> tuple[dict, list[Doc], list[dict]]:
    """Teacher vs truth on the hand-checked set (its first `limit` docs, all if none): scores per
    label on the docs the teacher answered, those docs, and the ones it gave up on (split_unanswered)."""
    gold = read_handchecked(nlp, path)[: limit or None]
    docs = [nlp.make_doc(g.text) for g in gold]
    for doc, g in zip(docs, gold, strict=True):
        doc.user_data["meta"] = {k: v for k, v in g.user_data["meta"].items() if k.startswith("assay_")}
    predicted, _ = annotate(nlp, docs, desc="hand-checked")
    answered, unanswered = split_unanswered(teacher_of(nlp), predicted, path)
    by_text = {doc.text: doc for doc in answered}
    pairs = [(g, by_text[g.text]) for g in gold if g.text in by_text]
    return score_entities(pairs), answered, unanswered


def run(
    nlp: Language,
    corpus: str | Path,
    output: str | Path,
    limit: int | None = None,
    handchecked: str | Path | None = None,
    handchecked_output: str | Path | None = None,
    handchecked_limit: int | None = None,
) -> dict:
    """Label the corpus (and score the teacher on the hand-checked set), write span records of the
    answered descriptions, and return the report: which teacher and task, what it labelled, how
    fast, how good, and which descriptions got no answer ("unanswered")."""
    teacher = teacher_of(nlp)
    task = nlp.get_pipe("llm").task
    logger.info(
        "teacher %s (backend %s), task %s, prompt %s", teacher.model_id, teacher.backend, task.name,
        task.prompt_hash,
    )
    docs, seconds = annotate(nlp, corpus_docs(nlp, corpus, limit))
    docs, unanswered = split_unanswered(teacher, docs, corpus)
    report = {
        "teacher": teacher.model_id,
        "backend": teacher.backend,
        "task": task.name,
        "prompt_hash": task.prompt_hash,
        **summarise(docs),
        "seconds": round(seconds, 3),
        "documents_per_second": round(len(docs) / seconds, 3) if seconds else None,
    }
    write_jsonl(output, (doc_to_record(doc) for doc in docs))
    if handchecked:
        scores, predicted, unanswered_checked = score_handchecked(nlp, handchecked, handchecked_limit)
        unanswered += unanswered_checked
        report["handchecked"] = {"path": str(handchecked), **scores}
        if handchecked_output:
            write_jsonl(handchecked_output, (doc_to_record(doc) for doc in predicted))
    usage = teacher.usage
    report.update(
        answers_from_cache=usage["cached"],
        answers_from_model=usage["asked"],
        tokens_in=usage["tokens_in"],
        tokens_out=usage["tokens_out"],
        unanswered=unanswered,
    )
    return report


def check_unanswered(report: dict, allowed: int, report_path: str | Path | None = None) -> None:
    """Fail, in one line, when more descriptions went unanswered than the `allowed` number."""
    unanswered = report["unanswered"]
    if len(unanswered) <= allowed:
        return
    where = f"listed under 'unanswered' in {report_path}" if report_path else "listed in the report"
    raise TeacherError(
        f"{len(unanswered)} description(s) got no answer from {report['teacher']} ({where}, with the "
        f"last error of each; the first: {unanswered[0]['error']}); every other answer is written and "
        f"cached: run again to ask only those, or allow some to go unanswered (llm_allow_unanswered; "
        f"now {allowed})"
    )


def render_report(report: dict) -> str:
    """The report as a few lines for the console."""
    spans = ", ".join(f"{label} {n}" for label, n in report["spans"].items())
    lines = [
        f"teacher {report['teacher']} ({report['backend']}), task {report['task']}",
        f"{report['documents']} documents: spans {spans}; {report['documents_without_spans']} without any",
        f"unparseable answers {report['unparseable']}, unaligned strings {report['unaligned_strings']} "
        f"(in {report['hallucinated_documents']} documents)",
        f"{report['documents_per_second']} documents/s; tokens in {report['tokens_in']}, "
        f"out {report['tokens_out']}; {report['answers_from_cache']} answers from cache",
    ]
    if report["unanswered"]:
        n = len(report["unanswered"])
        lines.append(f"{n} description(s) got no answer: left out, asked again by a rerun")
    if "handchecked" in report:
        checked = report["handchecked"]
        per_label = "; ".join(
            f"{label} span F1 {checked['ents_per_type'][label]['f']:.3f}, string F1 {s['f']:.3f}"
            for label, s in checked["strings_per_type"].items()
        )
        lines.append(f"teacher vs hand-checked ({checked['docs']} docs): {per_label}")
    return "\n".join(lines)
