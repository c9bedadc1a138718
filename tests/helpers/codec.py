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


def encodec_overrides(path: Path, experiment: str = "vocos_encodec_24khz") -> list[str]:
    """``experiment=vocos_encodec_24khz`` (or another EnCodec experiment) at test size: a narrow generator
    and tiny conditioned discriminators, short crops."""
    return [
        f"experiment={experiment}",
        f"codec.path={path}",
        "model.generator.backbone.dim=32",
        "model.generator.backbone.intermediate_dim=64",
        "model.generator.backbone.num_layers=2",
        "model/discriminator=tiny",
        "model.discriminator.mpd.num_embeddings=4",
        "model.discriminator.mrd.num_embeddings=4",
        "audio.segment_length=6400",
        "data.val_segment_length=9600",
        "data.batch_size=2",
        "data.num_workers=0",
        "validation.metrics=[]",
    ]
