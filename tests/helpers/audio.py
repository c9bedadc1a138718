"""Generated test audio."""

from __future__ import annotations

import math

import torch


def tone(
    sample_rate: int, seconds: float, f0: float = 220.0, channels: int = 1, seed: int = 0
) -> torch.Tensor:
    """A harmonic tone with a little vibrato and noise: (channels, T) in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(sample_rate * seconds)) / sample_rate
    phase = 2 * math.pi * f0 * (t + 0.002 * torch.sin(2 * math.pi * 5 * t))
    x = sum(0.3 / k * torch.sin(k * phase) for k in range(1, 6) if k * f0 < sample_rate / 2)
    x = x + 0.005 * torch.randn(t.shape, generator=g)
    return torch.stack([x * (1 - 0.2 * c) for c in range(channels)])


def write_corpus(folder, specs, subfolder: str = "corpus") -> list:
    """Writes ``folder/subfolder/<name>`` for each spec ``(name, sample_rate, seconds, channels)``
    (tones of rising pitch); returns their paths."""
    from pathlib import Path

    from vocoder_train.io.audio import save_audio

    paths = []
    for i, (name, sr, seconds, channels) in enumerate(specs):
        p = Path(folder) / subfolder / name
        save_audio(p, tone(sr, seconds, 110.0 + 40 * i, channels, seed=i), sr)
        paths.append(p)
    return paths


def write_tiny_corpus(folder) -> dict:
    """Train (3 files at mixed rates) and val (2 files) filelists for the tiny experiment, in ``folder``."""
    from pathlib import Path

    folder = Path(folder)
    train = write_corpus(
        folder, [("a.wav", 16000, 1.2, 1), ("b.flac", 22050, 0.9, 2), ("c.wav", 44100, 1.5, 1)], "train"
    )
    val = write_corpus(folder, [("v1.wav", 16000, 0.8, 1), ("v2.flac", 16000, 0.5, 1)], "val")
    (folder / "train.txt").write_text("\n".join(map(str, train)) + "\n")
    (folder / "val.txt").write_text("\n".join(map(str, val)) + "\n")
    return {"train": str(folder / "train.txt"), "val": str(folder / "val.txt"), "runs": str(folder / "runs")}
