"""Spectral distances: log-mel L1 (Vocos' validation ``mel_loss``) and multi-resolution STFT."""

from __future__ import annotations

import functools

import torch
import torchaudio

from vocoder_train.metrics._common import AudioLike, paired_tensors

LOG_FLOOR = 1e-7  # clamp before log, as vocos' safe_log
DEFAULT_RESOLUTIONS = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))  # (n_fft, hop, win)


@functools.lru_cache(maxsize=8)
def _mel_transform(
    sample_rate: int, n_fft: int, hop_length: int, n_mels: int
) -> torchaudio.transforms.MelSpectrogram:
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, center=True, power=1
    )


@torch.no_grad()
def mel_l1_distance(
    ref: AudioLike,
    deg: AudioLike,
    sample_rate: int,
    n_fft: int = 1024,
    hop_length: int = 256,
    n_mels: int = 100,
) -> float:
    """Mean ``|log mel(ref) - log mel(deg)|`` (lower is better; 0 for identical signals).

    Vocos' definition: torchaudio ``MelSpectrogram(power=1, center=True)`` magnitudes clamped at
    1e-7 before the log. ``ref``/``deg``: mono ``(T,)`` arrays or tensors at ``sample_rate``,
    trimmed to the shorter.
    """
    r, d = paired_tensors(ref, deg)
    mel = _mel_transform(int(sample_rate), int(n_fft), int(hop_length), int(n_mels))
    lr = torch.log(mel(r).clamp(min=LOG_FLOOR))
    ld = torch.log(mel(d).clamp(min=LOG_FLOOR))
    return float((lr - ld).abs().mean())


@functools.lru_cache(maxsize=8)
def _hann(win_length: int) -> torch.Tensor:
    return torch.hann_window(win_length)


def _magnitude(x: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
    spec = torch.stft(
        x, n_fft, hop_length=hop, win_length=win, window=_hann(win), center=True, return_complex=True
    )
    return spec.abs()


@torch.no_grad()
def mrstft_distance(
    ref: AudioLike, deg: AudioLike, resolutions: tuple[tuple[int, int, int], ...] = DEFAULT_RESOLUTIONS
) -> float:
    """Multi-resolution STFT distance (lower is better; 0 for identical signals).

    For each ``(n_fft, hop, win)`` (Hann window, ``center=True``): spectral convergence
    ``||S_ref - S_deg||_F / ||S_ref||_F`` plus log-magnitude L1 ``mean |log S_ref - log S_deg|``
    (magnitudes clamped at 1e-7); the sum is averaged over the resolutions, as in Parallel WaveGAN's
    auxiliary loss. ``ref``/``deg``: mono ``(T,)`` arrays or tensors, trimmed to the shorter.
    """
    r, d = paired_tensors(ref, deg)
    total = 0.0
    for n_fft, hop, win in resolutions:
        mr, md = _magnitude(r, n_fft, hop, win), _magnitude(d, n_fft, hop, win)
        sc = torch.linalg.norm(mr - md) / torch.linalg.norm(mr).clamp(min=LOG_FLOOR)
        mag = (torch.log(mr.clamp(min=LOG_FLOOR)) - torch.log(md.clamp(min=LOG_FLOOR))).abs().mean()
        total += float(sc + mag)
    return total / len(resolutions)
