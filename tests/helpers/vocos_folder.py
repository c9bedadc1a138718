"""Tiny untrained mel Vocos models written as vocos folders (config.yaml + pytorch_model.bin)."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml


def write_tiny_vocos_folder(
    folder: Path,
    sample_rate: int,
    head: str = "vocos.heads.ISTFTHead",
    head_args: dict | None = None,
    mel_passes: int = 0,
) -> Path:
    """A seeded tiny mel Vocos (n_fft 256, hop 64, 32 mels) in ``folder``; ``head``: the head's class path
    (``head_args`` beside its dim/n_fft/hop_length); ``mel_passes``: the generator's mel projection."""
    from hydra.utils import get_class

    from vocoder_train.models.generator import VocosGenerator

    torch.manual_seed(0)
    fe = dict(sample_rate=sample_rate, n_fft=256, hop_length=64, n_mels=32)
    bb = dict(input_channels=32, dim=32, intermediate_dim=64, num_layers=1)
    hd = dict(dim=32, n_fft=256, hop_length=64, **(head_args or {}))
    parts = {
        "feature_extractor": ("vocos.feature_extractors.MelSpectrogramFeatures", fe),
        "backbone": ("vocos.models.VocosBackbone", bb),
        "head": (head, hd),
    }
    model = VocosGenerator(*(get_class(path)(**args) for path, args in parts.values()), mel_passes=mel_passes)
    cfg = {
        "sample_rate": sample_rate,
        **{k: {"class_path": p, "init_args": a} for k, (p, a) in parts.items()},
    }
    if mel_passes:
        cfg["mel_passes"] = mel_passes
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder
