"""A 24 kHz EnCodec with random weights, saved where the framework and vocos look for it."""

from __future__ import annotations

from pathlib import Path

import torch

from vocoder_train.models.codec import ENCODEC_FILE, random_encodec


def encodec_file(folder: Path, seed: int = 0) -> Path:
    """Random (seeded) 24 kHz EnCodec weights saved as ``folder/encodec_24khz-d7cc33bc.th`` (once)."""
    path = Path(folder) / ENCODEC_FILE
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(random_encodec(seed).state_dict(), path)
    return path


def small_model(conditions: int) -> list[str]:
    """A codec experiment's model at test size: a narrow generator, tiny discriminators conditioned on
    ``conditions`` ids, batch 2, no workers, no validation metrics."""
    return [
        "model.generator.backbone.dim=32",
        "model.generator.backbone.intermediate_dim=64",
        "model.generator.backbone.num_layers=2",
        "model/discriminator=tiny",
        f"model.discriminator.mpd.num_embeddings={conditions}",
        f"model.discriminator.mrd.num_embeddings={conditions}",
        "data.batch_size=2",
        "data.num_workers=0",
        "validation.metrics=[]",
    ]


def tiny_run(corpus: dict) -> list[str]:
    """Train on the tiny corpus (``tiny_corpus`` fixture) with the tiny trainer, logging to CSV."""
    return [
        "data=tiny",
        "trainer=tiny",
        "logger=csv",
        "callbacks.progress_bar=null",
        f"data.train={corpus['train']}",
        f"data.val={corpus['val']}",
        f"paths.runs_dir={corpus['runs']}",
    ]


def encodec_overrides(path: Path, experiment: str = "vocos_encodec_24khz") -> list[str]:
    """``experiment=vocos_encodec_24khz`` (or another EnCodec experiment) at test size, short crops."""
    return [
        f"experiment={experiment}",
        f"codec.path={path}",
        *small_model(4),
        "audio.segment_length=6400",
        "data.val_segment_length=9600",
    ]
