"""Generated test audio."""

from __future__ import annotations

import math

import torch


def tone(sample_rate: int, seconds: float, f0: float = 220.0, channels: int = 1, seed: int = 0) -> torch.Tensor:
    """A harmonic tone with a little vibrato and noise: (channels, T) in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(sample_rate * seconds)) / sample_rate
    phase = 2 * math.pi * f0 * (t + 0.002 * torch.sin(2 * math.pi * 5 * t))
    x = sum(0.3 / k * torch.sin(k * phase) for k in range(1, 6) if k * f0 < sample_rate / 2)
    x = x + 0.005 * torch.randn(t.shape, generator=g)
    return torch.stack([x * (1 - 0.2 * c) for c in range(channels)])
