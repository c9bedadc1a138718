"""Front ends other than vocos' own mel, as ``vocos.feature_extractors.FeatureExtractor`` s.

:class:`PrecomputedFeatures` computes nothing: its generator synthesizes from features made elsewhere
(SSL layers, TTS latents, another codec's features), which come with the data (``data=feature_pairs``)
and with the input (``.npy`` files).

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
from omegaconf import DictConfig, OmegaConf
from vocos.feature_extractors import FeatureExtractor

from vocoder_train.config.checks import is_positive_int, select
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


class FeaturesComeWithTheInput(ValueError):
    """A :class:`PrecomputedFeatures` front end was asked for the features of audio."""


class PrecomputedFeatures(FeatureExtractor):
    """The front end of a generator that synthesizes from precomputed features: ``channels`` features a
    frame, one frame every ``hop_length`` samples (``sample_rate / frame_rate``). It has no parameters
    and computes nothing: the features come with the training data (``data=feature_pairs``) and with
    the inputs of ``vocoder-synthesize`` (``(channels, frames)`` ``.npy`` files); asked for the
    features of audio, it raises :class:`FeaturesComeWithTheInput`.

    Args:
        channels (int): features per frame (the backbone's ``input_channels``).
        hop_length (int): samples per frame (the head's hop).
    """

    takes_audio = False  # what inference and export read: features are inputs, not computed from audio

    def __init__(self, channels: int, hop_length: int):
        super().__init__()
        if not (is_positive_int(channels) and is_positive_int(hop_length)):
            raise ValueError(
                f"PrecomputedFeatures: channels={channels!r} and hop_length={hop_length!r} must be positive "
                "integers"
            )
        self.channels, self.hop_length = channels, hop_length

    def forward(self, audio: torch.Tensor, **kwargs) -> torch.Tensor:
        raise FeaturesComeWithTheInput(
            f"this model synthesizes from precomputed features ({self.channels} channels, a frame every "
            f"{self.hop_length} samples) and computes none from audio: the features come with the data "
            "(data=feature_pairs) or the input (.npy files of shape (channels, frames))"
        )

    def example(self, frames: int, seed: int = 0) -> torch.Tensor:
        """Stand-in features (1, channels, frames), unit normal and seeded, for the probes that check an
        export or pick an engine (a mel model's probes are the features of a synthetic signal)."""
        return torch.randn(1, self.channels, frames, generator=torch.Generator().manual_seed(seed))

    @classmethod
    def frame_layout(cls, node) -> tuple[int | None, int | None]:
        """(hop length, channels) of the features: what the generator's head and backbone must take (None
        where unset or unresolved)."""
        node = node if isinstance(node, DictConfig) else OmegaConf.create(dict(node))
        return select(node, "hop_length"), select(node, "channels")

    @classmethod
    def config_problems(cls, node, key: str, cfg) -> list[str]:
        """Set values are positive integers, and the shipped data source delivers features
        (``data.features``; a data source of your own that puts ``features`` in its batches passes)."""
        p = [
            f"{key}.{name}={value!r}: must be a positive integer"
            for name in ("channels", "hop_length")
            # None: unset or unresolved, reported where it is written (data.channels, audio.hop_length)
            if (value := select(node, name)) is not None and not is_positive_int(value)
        ]
        if select(cfg, "data.features") is False:
            p.append(
                f"{key}: PrecomputedFeatures synthesizes from features that come with the data, but "
                "data.features=false: train on feature pairs (data=feature_pairs, or experiment=features)"
            )
        return p
