"""Replay: answer every prompt from the answer cache, never calling a model.

Re-parses stored answers after a change to parsing or alignment. The cache keys include the
model id, so replay poses as the model that answered (the one model in the cache, or the one
named) and fails, naming how many, where a prompt has no stored answer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from spacy_llm.registry import registry

from components.teacher.base import Answer, Teacher, TeacherError
from components.teacher.cache import AnswerCache


class ReplayTeacher(Teacher):
    backend = "replay"

    def __init__(self, model_id: str, cache_dir: str | Path):
        cache = AnswerCache(cache_dir)
        models = sorted(cache.models())
        if not model_id and len(models) == 1:
            model_id = models[0]
        if model_id not in models:
            raise TeacherError(
                f"replay: name one of the models in the cache {cache.path} (or none if it holds one): "
                f"{models or 'it is empty'}"
            )
        super().__init__(model_id, None)
        self.cache = cache

    def _generate(self, prompts: list[dict], deliver: Callable[[int, Answer], None]) -> None:
        raise TeacherError(
            f"replay: {len(prompts)} prompt(s) have no stored answer from {self.model_id} in "
            f"{self.cache.path} (different prompt, model or text); run a real backend for them first"
        )


@registry.llm_models("assay_ner.Replay.v1")
def replay(cache_dir: str, model_id: str = "") -> ReplayTeacher:
    """Stored answers only. `model_id` as recorded in meta.teacher
    (e.g. "llamacpp:SmolLM2-135M-Instruct.Q4_1.gguf"); empty for the only model in the cache."""
    return ReplayTeacher(model_id, cache_dir)
