"""Mel front ends other than vocos' own, as ``vocos.feature_extractors.FeatureExtractor`` s.

:class:`HifiganMelFeatures` computes the log-mel spectrogram exactly as HiFi-GAN's
``meldataset.mel_spectrogram`` does (written from its documented formula), so a Vocos
generator trained on it accepts the mels of TTS models built for HiFi-GAN (Tacotron 2,
FastSpeech 2, Glow-TTS, ... at 22.05 kHz / 80 bins / fmax 8 kHz).

Frame count: the waveform is reflect-padded by ``istft_trim(n_fft, hop, "same")`` on each side and
the STFT runs with ``center=False``, so ``frames = floor((T + n_fft - hop - n_fft) / hop) + 1 = T // hop``
(for even ``n_fft - hop``). vocos' ``ISTFTHead(padding="same")`` turns L frames back into exactly
``L * hop`` samples, so with T a multiple of hop the generator's output length is T with no
trimming (vocos' ``padding="center"`` front end gives ``T // hop + 1`` frames instead).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchaudio
from vocos.feature_extractors import FeatureExtractor

from vocoder_train.dsp import istft_trim


class HifiganMelFeatures(FeatureExtractor):
    """HiFi-GAN's log-mel: audio (B, T) -> log-mel (B, n_mels, T // hop_length).

    ``log(clamp(M @ sqrt(re^2 + im^2 + mag_eps), min=clip_min))`` of a Hann-windowed,
    ``center=False`` STFT of the reflect-padded waveform; ``M`` is librosa's default mel
    filterbank (Slaney mel scale, Slaney area normalization).

    Args:
        sample_rate (int): audio rate in Hz.
        n_fft (int): FFT size.
        hop_length (int): hop between frames.
        win_length (int | None): Hann window length (None: n_fft).
        n_mels (int): mel bins.
        fmin (float): lowest mel frequency in Hz.
        fmax (float | None): highest mel frequency in Hz (None: Nyquist).
        mag_eps (float): added to the power before the square root (keeps its gradient finite).
        clip_min (float): floor before the log.
    """

    def __init__(
        self,
        sample_rate: int = 22050,
        n_fft: int = 1024,
        hop_length: int = 256,
        win_length: int | None = None,
        n_mels: int = 80,
        fmin: float = 0.0,
        fmax: float | None = 8000.0,
        mag_eps: float = 1e-9,
        clip_min: float = 1e-5,
    ):
        super().__init__()
        win_length = win_length or n_fft
        if (n_fft - hop_length) % 2:
            raise ValueError(
                f"HifiganMelFeatures: n_fft - hop_length = {n_fft - hop_length} is odd; HiFi-GAN pads half "
                "of it "
                "on each side, so frames would not be T // hop_length"
            )
        fmax = sample_rate / 2 if fmax is None else float(fmax)
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length, win_length
        self.mag_eps, self.clip_min = mag_eps, clip_min
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)
        fb = torchaudio.functional.melscale_fbanks(
            n_fft // 2 + 1, float(fmin), fmax, n_mels, sample_rate, norm="slaney", mel_scale="slaney"
        )  # (freqs, mels)
        self.register_buffer("mel_basis", fb.T.contiguous(), persistent=False)  # (mels, freqs)

    def forward(self, audio: torch.Tensor, **kwargs) -> torch.Tensor:
        """audio (B, T) -> log-mel (B, n_mels, T // hop_length)."""
        pad = istft_trim(self.n_fft, self.hop_length, "same")
        x = F.pad(audio.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
        spec = torch.stft(
            x,
            self.n_fft,
            self.hop_length,
            self.win_length,
            window=self.window,
            center=False,
            return_complex=True,
        )
        mag = torch.sqrt(spec.real.square() + spec.imag.square() + self.mag_eps)
        mel = torch.matmul(self.mel_basis, mag)
        return torch.log(torch.clamp(mel, min=self.clip_min))
