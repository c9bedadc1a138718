"""Logs with one floor, and the mel filterbank.

:data:`LOG_FLOOR` is vocos' ``safe_log`` clamp: the mel features the generator reads, the mel
losses, the metrics and the spectrogram images all take logs of magnitudes clamped at it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchaudio

LOG_FLOOR = 1e-7
MEL_SCALES = ("htk", "slaney")
MEL_NORMS = (None, "slaney")


def safe_log(x: torch.Tensor, floor: float = LOG_FLOOR) -> torch.Tensor:
    """``log(max(x, floor))``, element-wise (``vocos.modules.safe_log``)."""
    return torch.log(torch.clamp(x, min=floor))


def log_l1(x_hat: torch.Tensor, x: torch.Tensor, floor: float = LOG_FLOOR) -> torch.Tensor:
    """Magnitudes of any shape (e.g. mel (B, n_mels, L)) -> scalar
    ``mean |log(max(x_hat, floor)) - log(max(x, floor))|``: Vocos' mel loss on mel magnitudes."""
    return F.l1_loss(safe_log(x_hat, floor), safe_log(x, floor))


def mel_filterbank(
    n_freqs: int,
    f_min: float,
    f_max: float,
    n_mels: int,
    sample_rate: int,
    norm: str | None = None,
    mel_scale: str = "htk",
) -> torch.Tensor:
    """Triangular mel filters (n_mels, n_freqs), float32: ``torchaudio.functional.melscale_fbanks``
    (what ``torchaudio.transforms.MelSpectrogram`` and vocos' mel features use), transposed.

    Args:
        n_freqs: one-sided STFT bins (n_fft // 2 + 1), spaced evenly from 0 to ``sample_rate // 2``.
        f_min, f_max: band edges in Hz.
        norm: None (peak 1) or "slaney" (area-normalized filters).
        mel_scale: "htk" or "slaney" (linear below 1 kHz).
    """
    if mel_scale not in MEL_SCALES or norm not in MEL_NORMS:
        raise ValueError(
            f"mel_scale={mel_scale!r}, norm={norm!r}: mel_scale is one of {MEL_SCALES}, norm one of "
            f"{MEL_NORMS}"
        )
    fb = torchaudio.functional.melscale_fbanks(
        int(n_freqs),
        float(f_min),
        float(f_max),
        int(n_mels),
        int(sample_rate),
        norm=norm,
        mel_scale=mel_scale,
    )
    return fb.T.contiguous()
