"""Teacher: a local Hugging Face chat model (e.g. meta-llama/Meta-Llama-3-70B-Instruct or the 8B) on GPU.

Prompts go through the model's own chat template and are generated in batches (left padding,
greedy decoding). transformers has no GBNF support, so a task's grammar is not applied here;
large models do not need it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from spacy_llm.registry import registry

from components.teacher.base import Answer, Teacher

logger = logging.getLogger(__name__)


class HFChatTeacher(Teacher):
    backend = "hf"

    def __init__(
        self,
        *,
        model: str,
        batch_size: int,
        max_new_tokens: int,
        dtype: str,
        device_map: str | None,
        model_kwargs: dict,
        cache_dir: str | Path | None,
    ):
        super().__init__(f"hf:{model}", cache_dir)
        self.model = model
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.dtype = dtype
        self.device_map = device_map
        self.model_kwargs = model_kwargs
        self._loaded = None

    def _load(self):
        """Tokenizer and model, loaded on first use so that a run answered from the cache needs neither."""
        if self._loaded is None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(self.model, padding_side="left", **self.model_kwargs)
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            model = AutoModelForCausalLM.from_pretrained(
                self.model, torch_dtype=self.dtype, device_map=self.device_map, **self.model_kwargs
            )
            if self.device_map is None:
                import torch

                model.to("cuda" if torch.cuda.is_available() else "cpu")
            model.eval()
            logger.info("loaded %s on %s", self.model, model.device)
            self._loaded = tokenizer, model
        return self._loaded

    def _generate(self, prompts: list[dict], deliver: Callable[[int, Answer], None]) -> None:
        import torch

        tokenizer, model = self._load()
        texts = [
            tokenizer.apply_chat_template(p["messages"], add_generation_prompt=True, tokenize=False)
            for p in prompts
        ]
        # Batches of similar length waste less compute on padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            inputs = tokenizer(
                [texts[i] for i in batch], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(model.device)
            with torch.inference_mode():
                output = model.generate(
                    **inputs,
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id,
                )
            new_tokens = output[:, inputs["input_ids"].shape[1] :]
            for row, i in enumerate(batch):
                tokens_out = int((new_tokens[row] != tokenizer.pad_token_id).sum())
                text = tokenizer.decode(new_tokens[row], skip_special_tokens=True)
                deliver(i, Answer(text.strip(), int(inputs["attention_mask"][row].sum()), tokens_out))


@registry.llm_models("assay_ner.HFChat.v1")
def hf_chat(
    model: str = "meta-llama/Meta-Llama-3-70B-Instruct",
    batch_size: int = 8,
    max_new_tokens: int = 256,
    dtype: str = "auto",
    device_map: str | None = None,
    model_kwargs: dict | None = None,
    cache_dir: str | None = None,
) -> HFChatTeacher:
    """A Hugging Face model id or local directory with a chat template, on the GPU where there is one.
    `device_map` "auto" spreads a large model over several GPUs (needs accelerate). `model_kwargs`
    go to both from_pretrained calls (e.g. {"gguf_file": ...} or {"local_files_only": true})."""
    return HFChatTeacher(
        model=model or "meta-llama/Meta-Llama-3-70B-Instruct",
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        dtype=dtype,
        device_map=device_map or None,
        model_kwargs=dict(model_kwargs or {}),
        cache_dir=cache_dir or None,
    )
