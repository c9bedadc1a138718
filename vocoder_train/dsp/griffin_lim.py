"""Phase from a magnitude: fast Griffin-Lim on a vocos ISTFT's frame grid, and the mel
projection that moves a waveform's mel to a given log-mel."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from vocoder_train.dsp.framing import head_stft, istft
from vocoder_train.dsp.mel import LOG_FLOOR


@torch.no_grad()
def griffin_lim(
    spec: torch.Tensor, window: torch.Tensor, hop: int, padding: str, iters: int, momentum: float = 0.99
) -> torch.Tensor:
    """Fast Griffin-Lim (Perraudin et al. 2013) -> audio (B, T) whose STFT magnitude approaches ``|spec|``.

    ``spec``: complex (B, n_fft // 2 + 1, L) on the grid of :func:`~vocoder_train.dsp.framing.istft`
    with ``window`` (n_fft,), ``hop`` and ``padding``; its phase is the starting point (a random
    phase for plain Griffin-Lim). Each iteration takes ``c = head_stft(istft(spec))``, extrapolates
    ``t = c + momentum * (c - c_prev)`` and keeps ``t``'s phase with ``|spec|``; the output is the
    ISTFT of the last spectrum (``iters = 0``: of ``spec``). ``momentum`` 0 is classic Griffin-Lim;
    torchaudio's ``GriffinLim(momentum=m)`` takes the same step divided by ``1 + m``, which the
    phase normalization cancels.
    """
    n_fft, frames = window.shape[-1], spec.shape[-1]
    mag, prev = spec.abs(), None
    for _ in range(int(iters)):
        c = head_stft(istft(spec, window, hop, padding), window, n_fft, hop, padding, frames)
        t = c if prev is None else c + momentum * (c - prev)
        prev = c
        spec = mag * t / t.abs().clamp(min=1e-8)
    return istft(spec, window, hop, padding)


def mel_projection(
    audio: torch.Tensor,
    log_mel: torch.Tensor,
    mel_spec: torch.nn.Module,
    passes: int,
    floor: float = LOG_FLOOR,
    max_gain: float = 10.0,
) -> torch.Tensor:
    """Makes the mel spectrogram of ``audio`` (B, T) agree with ``log_mel`` (B, n_mels, L), the
    vocoder's own input: ``passes`` times, take the STFT of ``audio`` on ``mel_spec``'s frames,
    scale each bin by its mel bands' ratio target / current (weighted by the filterbank, capped
    at ``max_gain`` either way; bands at the input's log floor are only ever lowered), and
    resynthesize. The STFT/ISTFT round trip spreads each correction over the overlapping frames,
    so every pass keeps the signal consistent.

    Args:
        audio: the generated waveform (B, T).
        log_mel: natural-log mel magnitudes with the floor ``floor`` (vocos' MelSpectrogramFeatures).
        mel_spec: the feature extractor's ``torchaudio.transforms.MelSpectrogram`` (power 1, centred frames).
        passes: correction passes (0 returns ``audio``).
    """
    if passes <= 0:
        return audio
    stft_tf, fb = mel_spec.spectrogram, mel_spec.mel_scale.fb  # fb: (n_freqs, n_mels)
    n_fft, hop, window = stft_tf.n_fft, stft_tf.hop_length, stft_tf.window.to(audio.dtype)
    log_mel = log_mel.to(audio.dtype)
    cover = fb.sum(1, keepdim=True)  # (n_freqs, 1): bins no band covers keep their gain of 1
    covered = cover > 0
    for _ in range(int(passes)):
        spec = torch.stft(
            audio, n_fft, hop, window=window, center=True, pad_mode=stft_tf.pad_mode, return_complex=True
        )
        frames = min(spec.shape[-1], log_mel.shape[-1])
        current = fb.T @ spec[..., :frames].abs()
        ratio = torch.exp(log_mel[..., :frames]) / current.clamp(min=floor)
        at_floor = log_mel[..., :frames] <= math.log(floor) + 1e-3
        ratio = torch.where(at_floor, ratio.clamp(max=1.0), ratio).clamp(1.0 / max_gain, max_gain)
        gain = torch.where(covered, (fb @ ratio) / cover.clamp(min=1e-12), torch.ones_like(cover))
        if frames < spec.shape[-1]:  # frames past the input's end keep their level
            gain = F.pad(gain, (0, spec.shape[-1] - frames), value=1.0)
        audio = torch.istft(spec * gain, n_fft, hop, window=window, center=True, length=audio.shape[-1])
    return audio
