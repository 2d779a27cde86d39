"""Label assay descriptions with a teacher LLM through spacy-llm; write JSONL + DocBin and a report.

    python -m scripts.annotate corpus/assays.jsonl corpus/annotated.jsonl corpus/annotated.spacy \
        --config configs/annotate.cfg --backend llamacpp --model smollm2 --cache-dir cache/llm \
        --report metrics/annotate.json --handchecked assets/handchecked.jsonl

Every answer is cached as it arrives (cache-dir): a re-run, or a run after Ctrl-C or a crash,
asks only what is not answered yet; --backend replay re-parses the cached answers alone.
"""

import os

# llama.cpp's OpenMP threads spin while they wait: with anything else on the cores, SmolLM2 ran
# 6-8x slower here. OpenMP reads this once, when torch loads it during the imports below.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import json
import logging
from pathlib import Path

import typer

import components.teacher  # noqa: F401  (registers the assay_ner.* tasks and models)
from components.data.docs import doc_to_record, write_docbin
from components.data.records import InputError, atomic_path, write_jsonl
from components.teacher.annotate import (
    annotate,
    corpus_docs,
    load_annotator,
    score_handchecked,
    summarise,
    teacher_of,
)
from components.teacher.base import TeacherError

logger = logging.getLogger("annotate")


def main(
    input_jsonl: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="Corpus: assay_chembl_id, text"
    ),
    output_jsonl: Path = typer.Argument(..., dir_okay=False, help="Span records {text, spans, meta}"),
    output_spacy: Path = typer.Argument(..., dir_okay=False, help="The same docs as a DocBin"),
    config: Path = typer.Option(Path("configs/annotate.cfg"), exists=True, dir_okay=False),
    backend: str = typer.Option(None, help="llamacpp | openai | hf | replay (config: vars.backend)"),
    task: str = typer.Option(None, help="constrained | compact | ner_v3 (config: vars.task)"),
    model: str = typer.Option(None, help="Model for the backend (config: vars.model)"),
    base_url: str = typer.Option(None, help="openai: endpoint base URL, e.g. http://host:8000/v1"),
    api_key_env: str = typer.Option(None, help="openai: name of the environment variable holding the key"),
    max_in_flight: int = typer.Option(None, help="openai: concurrent requests"),
    cache_dir: Path = typer.Option(None, help="Answer cache directory (config: vars.cache_dir)"),
    fewshot: Path = typer.Option(None, help="Few-shot examples JSONL (config: vars.fewshot)"),
    guideline_cues: bool = typer.Option(
        None,
        "--guideline-cues/--no-guideline-cues",
        help="Apply the guideline's rules to answers (config: vars.guideline_cues)",
    ),
    report: Path = typer.Option(None, dir_okay=False, help="Write the report JSON here"),
    limit: int = typer.Option(None, help="Only the first N descriptions"),
    handchecked: Path = typer.Option(None, exists=True, dir_okay=False, help="Score the teacher on this set"),
    handchecked_output: Path = typer.Option(
        None, dir_okay=False, help="Teacher's labels of the hand-checked set"
    ),
    handchecked_limit: int = typer.Option(0, help="Teacher scored on the first N hand-checked docs (0: all)"),
):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    given = {
        "backend": backend,
        "task": task,
        "model": model,
        "base_url": base_url,
        "api_key_env": api_key_env,
        "max_in_flight": max_in_flight,
        "cache_dir": str(cache_dir) if cache_dir else None,
        "fewshot": str(fewshot) if fewshot else None,
        "guideline_cues": guideline_cues,
    }
    overrides = {f"vars.{k}": v for k, v in given.items() if v is not None}
    try:
        nlp = load_annotator(config, overrides)
        teacher = teacher_of(nlp)
        llm_task = nlp.get_pipe("llm").task
        logger.info(
            "teacher %s (backend %s), task %s, prompt %s",
            teacher.model_id,
            teacher.backend,
            llm_task.name,
            llm_task.prompt_hash,
        )
        docs, seconds = annotate(nlp, corpus_docs(nlp, input_jsonl, limit))
        result = {
            "teacher": teacher.model_id,
            "backend": teacher.backend,
            "task": llm_task.name,
            "prompt_hash": llm_task.prompt_hash,
            **summarise(docs),
            "seconds": round(seconds, 3),
            "documents_per_second": round(len(docs) / seconds, 3) if seconds else None,
            "answers_from_cache": teacher.usage["cached"],
            "answers_from_model": teacher.usage["asked"],
            "tokens_in": teacher.usage["tokens_in"],
            "tokens_out": teacher.usage["tokens_out"],
        }
        write_jsonl(output_jsonl, (doc_to_record(doc) for doc in docs))
        write_docbin(output_spacy, docs)
        if handchecked:
            scores, predicted = score_handchecked(nlp, handchecked, handchecked_limit)
            result["handchecked"] = {"path": str(handchecked), **scores}
            if handchecked_output:
                write_jsonl(handchecked_output, (doc_to_record(doc) for doc in predicted))
    except (InputError, TeacherError, ValueError, FileNotFoundError) as e:
        typer.echo(f"annotate: {e}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("annotate: interrupted; every answer so far is cached: run again to resume", err=True)
        raise typer.Exit(130) from None
    if report:
        with atomic_path(report) as tmp:
            tmp.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf8")
    typer.echo(render(result))


def render(result: dict) -> str:
    spans = ", ".join(f"{label} {n}" for label, n in result["spans"].items())
    lines = [
        f"teacher {result['teacher']} ({result['backend']}), task {result['task']}",
        f"{result['documents']} documents: spans {spans}; {result['documents_without_spans']} without any",
        f"unparseable answers {result['unparseable']}, unaligned strings {result['unaligned_strings']} "
        f"(in {result['hallucinated_documents']} documents)",
        f"{result['documents_per_second']} documents/s; tokens in {result['tokens_in']}, "
        f"out {result['tokens_out']}; {result['answers_from_cache']} answers from cache",
    ]
    if "handchecked" in result:
        per_label = result["handchecked"]["ents_per_type"]
        lines.append(
            "teacher vs hand-checked: "
            + "; ".join(
                f"{label} P {s['p']:.3f} R {s['r']:.3f} F1 {s['f']:.3f}" for label, s in per_label.items()
            )
            + f"; overall F1 {result['handchecked']['ents_f']:.3f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    typer.run(main)
