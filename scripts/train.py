"""Train the NER pipeline: resolve the transformer and device, run `spacy train`, record the choice."""

import logging
from pathlib import Path

import srsly
import typer

from components.inference.load import resolve_gpu
from components.training.transformer import STAND_IN_WARNING, resolve_transformer

logger = logging.getLogger("assay_ner")


def main(
    config: Path = typer.Argument(..., exists=True, dir_okay=False),
    output: Path = typer.Argument(..., help="Directory for model-best/ and model-last/"),
    train: Path = typer.Option(..., exists=True, help="Training DocBin"),
    dev: Path = typer.Option(..., exists=True, help="Development DocBin"),
    transformer: str = typer.Option("auto", help="Hub id, local directory, 'minilm' or 'auto'"),
    gpu_id: str = typer.Option("auto", help="GPU id, -1 for CPU, or 'auto'"),
    max_steps: int = typer.Option(0, help="Override training.max_steps (0: keep the config's)"),
    eval_frequency: int = typer.Option(0, help="Override training.eval_frequency (0: keep)"),
    seed: int = typer.Option(0, help="Random seed"),
):
    from spacy.cli.train import train as spacy_train

    import components  # noqa: F401  registers assay_answer

    choice = resolve_transformer(transformer)
    gpu = resolve_gpu(gpu_id)
    device = f"GPU {gpu}" if gpu >= 0 else "CPU"
    logger.info("transformer: %s (%s) on %s", choice.label, choice.name, device)
    if choice.stand_in:
        logger.warning(STAND_IN_WARNING)
    overrides = {
        "paths.train": str(train),
        "paths.dev": str(dev),
        "system.seed": seed,
        "components.training.transformer.model.name": choice.name,
        # fp16 activations only pay off (and only work) on a GPU.
        "components.training.transformer.model.mixed_precision": gpu >= 0,
    }
    if max_steps:
        overrides["training.max_steps"] = max_steps
    if eval_frequency:
        overrides["training.eval_frequency"] = eval_frequency
    spacy_train(config, output, use_gpu=gpu, overrides=overrides)
    for model_dir in ("model-best", "model-last"):
        meta_path = output / model_dir / "meta.json"
        meta = srsly.read_json(meta_path)
        meta["assay_ner"] = {"transformer": choice.label, "transformer_source": choice.name, "device": device}
        srsly.write_json(meta_path, meta)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    typer.run(main)
