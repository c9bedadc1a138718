"""Spectral reconstruction losses.

torch computes the mel projection / STFT; the element-wise part (magnitude, log, L1,
spectral convergence) and its gradient run in the fused numba kernels of
:mod:`vocoder_train.kernels` when ``backend`` is ``"numba"`` (or ``"auto"`` and they are
available) and in plain torch otherwise. Every class takes waveforms ``(B, T)`` and
returns a scalar. Targets are transformed under ``no_grad``: they need no graph.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torchaudio
from torch import nn

from vocoder_train.dsp import LOG_FLOOR, PADDINGS, head_stft, log_l1, mel_filterbank
from vocoder_train.dsp.stft import stft as stft_fast_backward
from vocoder_train.io.buffers import make_transient
from vocoder_train.kernels import log_mel_l1, resolve_backend, stft_complex_loss


def _complex_stft(
    x: torch.Tensor, n_fft: int, hop: int, win: int, window: torch.Tensor, backend: str
) -> torch.Tensor:
    """Centred, reflect-padded one-sided STFT; outside the "torch" backend its gradient comes from
    :class:`~vocoder_train.dsp.stft.StftFunction` (same values, cheaper backward)."""
    window = window.to(x.dtype)
    if backend == "torch":
        return torch.stft(x, n_fft, hop, win, window, center=True, pad_mode="reflect", return_complex=True)
    return stft_fast_backward(x, n_fft, hop, win, window)


class MelReconstructionLoss(nn.Module):
    """L1 distance between natural-log mel magnitude spectrograms (the Vocos mel loss):
    ``mean |log(max(M_hat, floor)) - log(max(M, floor))|`` with ``M`` torchaudio's
    ``MelSpectrogram(power=1, center=True)`` and ``floor`` :data:`vocoder_train.dsp.LOG_FLOOR`.

    Args:
        sample_rate (int): audio rate in Hz.
        n_fft (int): FFT size (window length too).
        hop_length (int): hop between frames.
        n_mels (int): number of mel bins.
        f_min (float): lowest mel frequency.
        f_max (float | None): highest mel frequency (None: Nyquist).
        backend (str): "auto" | "numba" | "torch".
    """

    def __init__(
        self,
        sample_rate: int = 24000,
        n_fft: int = 1024,
        hop_length: int = 256,
        n_mels: int = 100,
        f_min: float = 0.0,
        f_max: float | None = None,
        backend: str = "auto",
    ):
        super().__init__()
        resolve_backend(backend, torch.empty(0))  # fail fast on a misspelt backend
        self.backend = backend
        self.mel_spec = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=n_fft,
            hop_length=hop_length,
            n_mels=n_mels,
            f_min=f_min,
            f_max=f_max,
            center=True,
            power=1,
        )
        make_transient(self)  # window and filterbank come from the arguments, not from checkpoints

    def mel(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, T) -> linear mel magnitudes (B, n_mels, frames), computed in fp32."""
        with torch.autocast(device_type=audio.device.type, enabled=False):
            return self.mel_spec(audio.float())

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """y_hat, y: (B, T) -> scalar."""
        if resolve_backend(self.backend, y_hat) == "torch":
            return log_l1(self.mel(y_hat), self.mel(y))
        mel_hat = self._mel_fast_backward(y_hat)
        with torch.no_grad():
            mel = self.mel(y)
        return log_mel_l1(mel_hat, mel, floor=LOG_FLOOR, backend=self.backend)

    def _mel_fast_backward(self, audio: torch.Tensor) -> torch.Tensor:
        """:meth:`mel` with the same ops and values, but the STFT's gradient from
        :class:`~vocoder_train.dsp.stft.StftFunction` (cheaper than autograd's)."""
        spec = self.mel_spec.spectrogram
        if audio.dim() != 2 or spec.normalized or spec.pad or spec.pad_mode != "reflect" or not spec.center:
            return self.mel(audio)
        with torch.autocast(device_type=audio.device.type, enabled=False):
            s = stft_fast_backward(audio.float(), spec.n_fft, spec.hop_length, spec.win_length, spec.window)
            return torch.matmul(s.abs().transpose(-1, -2), self.mel_spec.mel_scale.fb).transpose(-1, -2)


DEFAULT_RESOLUTIONS = (
    (1024, 120, 600),
    (2048, 240, 1200),
    (512, 50, 240),
)  # (n_fft, hop, win): Parallel WaveGAN's


class MultiResolutionSTFTLoss(nn.Module):
    """Spectral convergence + log-magnitude L1 averaged over STFT resolutions.

    The definitions are auraloss' ``MultiResolutionSTFTLoss`` with its defaults
    (``w_lin_mag = w_phs = 0``, no mel scale, no perceptual weighting): per resolution,
    ``|S| = sqrt(max(re^2 + im^2, eps))`` of a centred, reflect-padded STFT with a periodic
    window, ``sc = ||S - S_hat||_F / ||S||_F`` over the whole batch and
    ``mag = mean |log |S_hat| - log |S||``; the loss is the mean over resolutions of
    ``sc_weight * sc + mag_weight * mag``. Differences: input may be ``(B, T)`` (auraloss
    wants ``(B, C, T)``) and no phase is computed.

    Args:
        resolutions: ``(n_fft, hop_length, win_length)`` triples.
        window (str): torch window name without ``_window`` ("hann", "hamming", ...).
        sc_weight, mag_weight (float): weights of the two terms.
        eps (float): clamp on the power before the square root (auraloss: 1e-8).
        backend (str): "auto" | "numba" | "torch".
    """

    def __init__(
        self,
        resolutions: Sequence[Sequence[int]] = DEFAULT_RESOLUTIONS,
        window: str = "hann",
        sc_weight: float = 1.0,
        mag_weight: float = 1.0,
        eps: float = 1e-8,
        backend: str = "auto",
    ):
        super().__init__()
        resolve_backend(backend, torch.empty(0))
        window_fn = getattr(torch, f"{window}_window", None)
        if window_fn is None:
            raise ValueError(f"window={window!r}: torch has no {window}_window")
        self.resolutions = [tuple(int(v) for v in r) for r in resolutions]
        for i, (n_fft, hop, win) in enumerate(self.resolutions):
            if not (0 < win <= n_fft and hop > 0):
                raise ValueError(
                    f"resolutions[{i}] = {(n_fft, hop, win)}: need 0 < win_length <= n_fft, hop > 0"
                )
            self.register_buffer(f"window_{i}", window_fn(win), persistent=False)
        self.sc_weight, self.mag_weight, self.eps, self.backend = sc_weight, mag_weight, eps, backend

    def _stft(self, x: torch.Tensor, i: int) -> torch.Tensor:
        n_fft, hop, win = self.resolutions[i]
        return _complex_stft(x, n_fft, hop, win, getattr(self, f"window_{i}"), self.backend)

    def terms(self, y_hat: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """y_hat, y: (B, T) or (B, C, T) -> {"sc": ..., "mag": ...}, each averaged over resolutions."""
        with torch.autocast(device_type=y_hat.device.type, enabled=False):
            y_hat = y_hat.float().reshape(-1, y_hat.shape[-1])
            y = y.float().reshape(-1, y.shape[-1])
            sc_sum, mag_sum = 0.0, 0.0
            for i in range(len(self.resolutions)):
                s_hat = self._stft(y_hat, i)
                with torch.no_grad():
                    s = self._stft(y, i)
                sc, mag = stft_complex_loss(s_hat, s, eps=self.eps, log_floor=0.0, backend=self.backend)
                sc_sum, mag_sum = sc_sum + sc, mag_sum + mag
        k = len(self.resolutions)
        return {"sc": sc_sum / k, "mag": mag_sum / k}

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """y_hat, y: (B, T) -> scalar."""
        t = self.terms(y_hat, y)
        return self.sc_weight * t["sc"] + self.mag_weight * t["mag"]


# DAC / BigVGAN-v2 style: windows 32..2048, hop = window / 4, mel bins doubling with the window
DEFAULT_MEL_SCALES = (
    (32, 8, 5),
    (64, 16, 10),
    (128, 32, 20),
    (256, 64, 40),
    (512, 128, 80),
    (1024, 256, 160),
    (2048, 512, 320),
)


class MultiScaleMelLoss(nn.Module):
    """Log-mel L1 at several resolutions, **averaged** over scales (``reduction="sum"`` sums).

    Each scale is ``(n_fft, hop_length, n_mels)`` with a Hann window of n_fft samples and
    magnitudes (power 1); the term is :class:`MelReconstructionLoss`'s
    ``mean |log(max(M_hat, floor)) - log(max(M, floor))|`` (:data:`vocoder_train.dsp.LOG_FLOOR`).

    Args:
        sample_rate (int): audio rate in Hz.
        scales: ``(n_fft, hop_length, n_mels)`` triples.
        f_min, f_max: mel band limits (f_max None: Nyquist).
        reduction (str): "mean" | "sum" over scales.
        backend (str): "auto" | "numba" | "torch".
    """

    def __init__(
        self,
        sample_rate: int = 24000,
        scales: Sequence[Sequence[int]] = DEFAULT_MEL_SCALES,
        f_min: float = 0.0,
        f_max: float | None = None,
        reduction: str = "mean",
        backend: str = "auto",
    ):
        super().__init__()
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction={reduction!r}: expected 'mean' or 'sum'")
        self.losses = nn.ModuleList(
            MelReconstructionLoss(sample_rate, int(n), int(h), int(m), f_min, f_max, backend)
            for n, h, m in scales
        )
        self.reduction = reduction

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """y_hat, y: (B, T) -> scalar."""
        total = sum(loss(y_hat, y) for loss in self.losses)
        return total / len(self.losses) if self.reduction == "mean" else total


class HeadMagnitudeLoss(nn.Module):
    """Distance between the head's own magnitude (before its ISTFT) and the target's STFT magnitude
    on the same frame grid: L1 of the log magnitudes per bin (``bin_weight``) plus L1 of the log mel
    magnitudes (``mel_weight``, mel filterbank like torchaudio's ``MelSpectrogram``).

    Makes the head's raw magnitude a real spectrum, which
    :class:`~vocoder_train.models.heads.ConsistencyISTFTHead` refines its phase against at inference.
    The per-bin term alone under-estimates noise (an L1 fit of a log-Rayleigh magnitude lands on its
    median, below its mean energy); the mel term matches band energies, as the mel loss does.
    Unlike the other losses it takes the head's complex spectrum ``(B, n_fft // 2 + 1, L)``
    (``takes_spectrum``), not the generated waveform.

    Args:
        n_fft (int): the head's FFT size.
        hop_length (int): the head's hop.
        padding (str): the head's ISTFT padding, "same" or "center".
        floor (float): magnitude floor before the logs (default: the mel loss's, ``dsp.LOG_FLOOR``).
        sample_rate (int): audio rate in Hz (mel term).
        n_mels (int): mel bins of the mel term.
        bin_weight (float): weight of the per-bin log-magnitude L1.
        mel_weight (float): weight of the log-mel L1 (0 turns it off).
    """

    takes_spectrum = True

    def __init__(
        self,
        n_fft: int = 1024,
        hop_length: int = 256,
        padding: str = "same",
        floor: float = LOG_FLOOR,
        sample_rate: int = 24000,
        n_mels: int = 100,
        bin_weight: float = 1.0,
        mel_weight: float = 0.0,
    ):
        super().__init__()
        if padding not in PADDINGS:
            raise ValueError(
                f"HeadMagnitudeLoss: padding={padding!r}; the head's ISTFT padding is one of {PADDINGS}"
            )
        if bin_weight < 0 or mel_weight < 0 or bin_weight + mel_weight == 0:
            raise ValueError(f"bin_weight={bin_weight}, mel_weight={mel_weight}: both >= 0 and not both 0")
        self.n_fft, self.hop, self.padding, self.floor = int(n_fft), int(hop_length), padding, float(floor)
        self.bin_weight, self.mel_weight = float(bin_weight), float(mel_weight)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)
        fb = mel_filterbank(self.n_fft // 2 + 1, 0.0, sample_rate / 2, n_mels, sample_rate)
        self.register_buffer("mel_fb", fb, persistent=False)  # (n_mels, n_freqs)

    def forward(self, spectrum: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """spectrum: the head's complex (B, n_fft // 2 + 1, L); audio: the target (B, T) -> scalar."""
        if not torch.is_complex(spectrum) or spectrum.shape[-2] != self.n_fft // 2 + 1:
            raise ValueError(
                f"HeadMagnitudeLoss: expected the head's complex spectrum (B, {self.n_fft // 2 + 1}, L), got "
                f"{tuple(spectrum.shape)} {spectrum.dtype}; its n_fft must be the head's"
            )
        with torch.autocast(
            device_type=audio.device.type, enabled=False
        ):  # the filterbank product in fp32, as the other losses
            with torch.no_grad():
                target = head_stft(
                    audio.float(), self.window, self.n_fft, self.hop, self.padding, spectrum.shape[-1]
                ).abs()
            mag = spectrum.abs()
            loss = mag.new_zeros(())
            if self.bin_weight:
                loss = loss + self.bin_weight * log_l1(mag, target, self.floor)
            if self.mel_weight:
                loss = loss + self.mel_weight * log_l1(self.mel_fb @ mag, self.mel_fb @ target, self.floor)
            return loss
