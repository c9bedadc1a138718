"""Inference-time steps after the network: a Vocos ISTFT head whose phase is refined against its
own magnitude (:class:`ConsistencyISTFTHead`), and :func:`mel_projection`, which moves the
output's mel to the input mel (``VocosGenerator(mel_passes=...)``).

Why (issue #9, README "Time to quality"): a mel-trained Vocos learns its magnitude long before its
phase. After 600 s on a 2-core CPU its magnitude with the reference phase scores PESQ 3.72, its own
phase only 2.81, below Griffin-Lim on a mel pseudo-inverse (3.18). :class:`ConsistencyISTFTHead`
keeps the network's phase as the starting point and runs ``refine_iters`` fast Griffin-Lim
iterations (Perraudin et al. 2013, momentum ``momentum``) against the network's *own* magnitude,
so the output is a signal whose STFT magnitude is what the network predicted. That needs the
head's raw magnitude to be a real spectrum (without a loss on it, it is not: the ISTFT's overlap-add
lets it carry twice the target's energy and cancel it), so train it with
:class:`vocoder_train.losses.spectral.HeadMagnitudeLoss`.

Training runs the plain head (the mel loss still trains the network's phase, so it stays a usable
Vocos with ``refine_iters=0``); the refinement runs in eval mode only. The parameters and state-dict
keys are ``vocos.heads.ISTFTHead``'s: ``refine_iters: 0`` turns any checkpoint back into a plain head.
Measured gains (600 s cpu_budget, held-out demo files) are in the README, "Time to quality".
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from vocos.heads import ISTFTHead


class ConsistencyISTFTHead(ISTFTHead):
    """``vocos.heads.ISTFTHead`` + fast Griffin-Lim refinement of the phase in eval mode.

    Args:
        dim (int): hidden size of the backbone.
        n_fft (int): FFT size of the ISTFT.
        hop_length (int): hop of the ISTFT (= the features' hop).
        padding (str): "same" (vocos' framing) or "center".
        refine_iters (int): fast Griffin-Lim iterations in eval mode; 0 = plain ``ISTFTHead``.
        momentum (float): the fast Griffin-Lim momentum (0 = classic Griffin-Lim; 0.99 as in
            torchaudio's ``GriffinLim``).
    """

    def __init__(self, dim: int, n_fft: int, hop_length: int, padding: str = "same", refine_iters: int = 32,
                 momentum: float = 0.99):
        super().__init__(dim=dim, n_fft=n_fft, hop_length=hop_length, padding=padding)
        if int(refine_iters) < 0:
            raise ValueError(f"refine_iters={refine_iters}: must be >= 0 (0 turns the refinement off)")
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError(f"momentum={momentum}: must be in [0, 1) (0.99 is fast Griffin-Lim's usual value)")
        self.refine_iters = int(refine_iters)
        self.momentum = float(momentum)

    def spectrum(self, x: torch.Tensor) -> torch.Tensor:
        """hidden (B, L, H) -> the head's complex spectrum (B, n_fft // 2 + 1, L), before the ISTFT."""
        x = self.out(x).transpose(1, 2)
        log_mag, phase = x.chunk(2, dim=1)
        mag = torch.clip(torch.exp(log_mag), max=1e2)  # vocos' safeguard
        return mag * (torch.cos(phase) + 1j * torch.sin(phase))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = self.spectrum(x)
        if self.training or self.refine_iters == 0:
            return self.istft(spec)
        return self.refine(spec)

    def analysis(self, audio: torch.Tensor, frames: int) -> torch.Tensor:
        """audio (B, T) -> complex STFT (B, n_fft // 2 + 1, frames) on the head's own frame grid
        (the inverse of ``self.istft`` on consistent spectra; zeros outside the signal)."""
        return head_stft(audio, self.istft.window, self.istft.n_fft, self.istft.hop_length, self.istft.padding, frames)

    @torch.no_grad()
    def refine(self, spec: torch.Tensor, iters: int | None = None) -> torch.Tensor:
        """Fast Griffin-Lim from ``spec``'s phase against its magnitude -> audio (B, T)."""
        iters = self.refine_iters if iters is None else int(iters)
        mag, frames = spec.abs(), spec.shape[-1]
        prev = None
        for _ in range(iters):
            c = self.analysis(self.istft(spec), frames)
            t = c if prev is None else c + self.momentum * (c - prev)
            prev = c
            spec = mag * t / t.abs().clamp(min=1e-8)
        return self.istft(spec)


def head_stft(audio: torch.Tensor, window: torch.Tensor, n_fft: int, hop: int, padding: str, frames: int) -> torch.Tensor:
    """Complex STFT on a vocos ISTFT's frame grid: frame ``l`` starts at ``l * hop - pad`` with
    ``pad = (n_fft - hop) // 2`` ("same") or ``n_fft // 2`` ("center"); zeros outside the signal.
    Returns (B, n_fft // 2 + 1, frames)."""
    pad = (n_fft - hop) // 2 if padding == "same" else n_fft // 2
    need = (frames - 1) * hop + n_fft
    right = max(0, need - audio.shape[-1] - pad)
    x = F.pad(audio, (pad, right))[..., :need]
    return torch.fft.rfft(x.unfold(-1, n_fft, hop) * window, dim=-1).transpose(-1, -2)


def mel_projection(audio: torch.Tensor, log_mel: torch.Tensor, mel_spec: torch.nn.Module, passes: int,
                   floor: float = 1e-7, max_gain: float = 10.0) -> torch.Tensor:
    """Makes the mel spectrogram of ``audio`` (B, T) agree with ``log_mel`` (B, n_mels, L), the
    vocoder's own input: ``passes`` times, take the STFT of ``audio`` on ``mel_spec``'s frames,
    scale each bin by its mel bands' ratio target / current (weighted by the filterbank, capped
    at ``max_gain`` either way; bands at the input's log floor are only ever lowered), and
    resynthesize. The STFT/ISTFT round trip spreads each correction over the overlapping frames,
    so every pass keeps the signal consistent.

    Args:
        audio: the generated waveform.
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
        spec = torch.stft(audio, n_fft, hop, window=window, center=True, pad_mode=stft_tf.pad_mode,
                          return_complex=True)
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
