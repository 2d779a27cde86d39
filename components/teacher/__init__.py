"""LLM annotation with spacy-llm: our tasks and teacher models, registered on import.

Tasks: assay_ner.CompactNER.v1, assay_ner.NERv3.v1. Models: assay_ner.OpenAICompatible.v1,
assay_ner.LlamaCpp.v1, assay_ner.HFChat.v1, assay_ner.Replay.v1. Heavy libraries (llama_cpp,
transformers) are imported only when a model is first used.
"""

from . import hf_chat, llamacpp, openai_compat, replay, task  # noqa: F401
