"""The spectrum a vocos ISTFT head builds from its output ``Linear``.

The Linear gives 2K channels (K = n_fft // 2 + 1): the first K are log-magnitudes, the last K
phases. The magnitude is ``exp`` of the first half clipped at :data:`MAG_MAX` (``vocos.heads.
ISTFTHead``'s safeguard against overflow early in training); the spectrum is
``mag * (cos(phase) + i sin(phase))``. The real/imaginary form serves the export graphs, where
complex tensors do not trace.
"""

from __future__ import annotations

import torch

MAG_MAX = 1e2  # vocos' ISTFTHead clip on the predicted magnitude


def head_magnitude_phase(x: torch.Tensor, dim: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Head output with 2K channels along ``dim`` ((B, 2K, L) by default) -> (magnitude, phase),
    each with K channels there."""
    log_mag, phase = x.chunk(2, dim=dim)
    return torch.clip(torch.exp(log_mag), max=MAG_MAX), phase


def head_real_imag(x: torch.Tensor, dim: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Head output (B, 2K, L) (channels along ``dim``) -> (real, imaginary) parts, each (B, K, L)."""
    mag, phase = head_magnitude_phase(x, dim)
    return mag * torch.cos(phase), mag * torch.sin(phase)


def head_spectrum(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Head output (B, 2K, L) (channels along ``dim``) -> complex spectrum (B, K, L)."""
    return torch.complex(*head_real_imag(x, dim))
