"""Spectral distances: log-mel L1 (Vocos' validation ``mel_loss``) and multi-resolution STFT.

Each is the training loss of the same name evaluated on one pair of signals, with the torch
backend: :class:`~vocoder_train.losses.spectral.MelReconstructionLoss` and
:class:`~vocoder_train.losses.spectral.MultiResolutionSTFTLoss`.
"""

from __future__ import annotations

import functools

import torch

from vocoder_train.losses.spectral import DEFAULT_RESOLUTIONS, MelReconstructionLoss, MultiResolutionSTFTLoss
from vocoder_train.metrics._common import AudioLike, paired_tensors


@functools.lru_cache(maxsize=8)
def _mel_loss(sample_rate: int, n_fft: int, hop_length: int, n_mels: int) -> MelReconstructionLoss:
    return MelReconstructionLoss(sample_rate, n_fft, hop_length, n_mels, backend="torch")


@functools.lru_cache(maxsize=8)
def _mrstft_loss(resolutions: tuple[tuple[int, int, int], ...]) -> MultiResolutionSTFTLoss:
    return MultiResolutionSTFTLoss(resolutions, backend="torch")


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

    Vocos' definition (:class:`~vocoder_train.losses.spectral.MelReconstructionLoss`): torchaudio
    ``MelSpectrogram(power=1, center=True)`` magnitudes clamped at :data:`vocoder_train.dsp.LOG_FLOOR`
    before the log. ``ref``/``deg``: mono ``(T,)`` arrays or tensors at ``sample_rate``,
    trimmed to the shorter.
    """
    r, d = paired_tensors(ref, deg)
    return float(_mel_loss(int(sample_rate), int(n_fft), int(hop_length), int(n_mels))(d[None], r[None]))


@torch.no_grad()
def mrstft_distance(
    ref: AudioLike, deg: AudioLike, resolutions: tuple[tuple[int, int, int], ...] = DEFAULT_RESOLUTIONS
) -> float:
    """Multi-resolution STFT distance (lower is better; 0 for identical signals).

    :class:`~vocoder_train.losses.spectral.MultiResolutionSTFTLoss` with unit weights (auraloss'
    definition): for each ``(n_fft, hop, win)`` (periodic Hann window, centred reflect-padded STFT),
    magnitudes ``|S| = sqrt(max(re^2 + im^2, 1e-8))`` (bins quieter than 1e-4, e.g. digital silence,
    count as 1e-4 in the log term), spectral convergence
    ``||S_ref - S_deg||_F / ||S_ref||_F`` plus log-magnitude L1 ``mean |log |S_ref| - log |S_deg||``;
    the sum is averaged over the resolutions, as in Parallel WaveGAN's auxiliary loss.
    ``ref``/``deg``: mono ``(T,)`` arrays or tensors, trimmed to the shorter.
    """
    r, d = paired_tensors(ref, deg)
    key = tuple(tuple(int(v) for v in res) for res in resolutions)
    return float(_mrstft_loss(key)(d[None], r[None]))
