"""Spectral reconstruction losses.

torch computes the mel projection / STFT; the element-wise part (log, L1, spectral
convergence) runs in the numba kernels of :mod:`vocoder_train.kernels` when
``backend`` is ``"numba"`` (or ``"auto"`` and they are available) and in plain torch
otherwise. Every class takes waveforms ``(B, T)`` and returns a scalar.
"""

from __future__ import annotations

import torch
import torchaudio
from torch import nn

LOG_FLOOR = 1e-7  # vocos' safe_log clamp


class MelReconstructionLoss(nn.Module):
    """L1 distance between natural-log mel magnitude spectrograms (the Vocos mel loss).

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

    def mel(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, T) -> linear mel magnitudes (B, n_mels, frames), computed in fp32."""
        with torch.autocast(device_type=audio.device.type, enabled=False):
            return self.mel_spec(audio.float())

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """y_hat, y: (B, T) -> scalar."""
        mel_hat, mel = self.mel(y_hat), self.mel(y)
        return torch.nn.functional.l1_loss(
            torch.log(mel_hat.clamp(min=LOG_FLOOR)), torch.log(mel.clamp(min=LOG_FLOOR))
        )
