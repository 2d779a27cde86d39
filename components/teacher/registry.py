"""Registers the spacy-llm tasks (assay_ner.CompactNER.v1, assay_ner.NERv3.v1) and teacher models
(assay_ner.OpenAICompatible.v1, assay_ner.LlamaCpp.v1, assay_ner.HFChat.v1, assay_ner.Replay.v1).
Heavy libraries (llama_cpp, transformers) load only when a model is first used."""

from components.teacher import hf_chat, llamacpp, openai_compat, replay, task  # noqa: F401
