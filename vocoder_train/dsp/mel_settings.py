"""A log-mel front end described by its settings, computed for any of them.

:class:`FrontendSettings` names the choices front ends differ in (padding, mel scale and filter norm,
f_min / f_max, magnitude vs power, log base and floor, normalization); :func:`compute_mel` computes
the mel of audio under any such settings, in float64. :func:`vocos_settings` gives vocos' own
``MelSpectrogramFeatures``, :func:`settings_from_config` reads them from a feature-extractor config.
The search that matches someone else's mel against these lives in :mod:`.frontend`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from vocoder_train.dsp.framing import causal_padding, expected_frames, istft_trim
from vocoder_train.dsp.mel import LOG_FLOOR, mel_filterbank


@dataclass(frozen=True)
class FrontendSettings:
    """A log-mel front-end. ``f_max`` None means ``sample_rate / 2``; ``win_length`` None means ``n_fft``."""

    sample_rate: int = 24000
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int | None = None
    n_mels: int = 100
    f_min: float = 0.0
    f_max: float | None = None
    mel_scale: str = "htk"  # htk | slaney
    mel_norm: str | None = None  # None | slaney (area-normalized filters)
    power: int = 1  # 1: mel of the magnitude, 2: mel of the power spectrum
    log: str = "ln"  # ln | log10
    log_floor: float = LOG_FLOOR  # values clamped to it before the log
    padding: str = "center"  # center | same | causal
    normalize: str = "none"  # none | utterance (mean/std over the whole mel)

    @property
    def fmax(self) -> float:
        return float(self.f_max) if self.f_max else self.sample_rate / 2


def vocos_settings(
    sample_rate: int = 24000,
    n_fft: int = 1024,
    hop_length: int = 256,
    n_mels: int = 100,
    padding: str = "center",
) -> FrontendSettings:
    """vocos' ``MelSpectrogramFeatures``: torchaudio defaults (htk, no norm, 0 to sr/2), magnitude, ln, floor
    LOG_FLOOR."""
    return FrontendSettings(
        sample_rate=int(sample_rate),
        n_fft=int(n_fft),
        hop_length=int(hop_length),
        n_mels=int(n_mels),
        padding=padding,
    )


def settings_from_config(cfg: Mapping) -> FrontendSettings:
    """Our settings from a feature-extractor config: Hydra style (``_target_`` + arguments), vocos
    style (``class_path`` + ``init_args``), or :class:`FrontendSettings` fields."""
    cfg = dict(cfg)
    target = cfg.pop("_target_", None) or cfg.pop("class_path", None)
    args = dict(cfg.pop("init_args", {}) or {}, **cfg)
    if target is not None and not str(target).endswith("MelSpectrogramFeatures"):
        raise ValueError(
            f"feature extractor {target}: only vocos' MelSpectrogramFeatures (a mel front-end) can be "
            "compared"
        )
    if target is not None:
        keys = ("sample_rate", "n_fft", "hop_length", "n_mels", "padding")
        return vocos_settings(**{k: args[k] for k in keys if k in args})
    known = set(FrontendSettings.__dataclass_fields__)
    unknown = sorted(set(args) - known)
    if unknown:
        raise ValueError(f"front-end settings: unknown keys {unknown}; known: {sorted(known)}")
    return FrontendSettings(**args)


# -- computing mels ---------------------------------------------------------------------------------


def stft_magnitude(audio: torch.Tensor, s: FrontendSettings) -> torch.Tensor:
    """|STFT| (n_fft // 2 + 1, L) in float64."""
    win = s.win_length or s.n_fft
    x = audio.double().reshape(1, -1)
    if s.padding == "same":
        pad = istft_trim(s.n_fft, s.hop_length, "same")
        x = torch.nn.functional.pad(x.unsqueeze(0), (pad, pad), mode="reflect")[0]
    elif s.padding == "causal":  # zeros, as the causal front end pads
        x = torch.nn.functional.pad(x, causal_padding(x.shape[-1], s.hop_length, s.n_fft))
    spec = torch.stft(
        x,
        s.n_fft,
        s.hop_length,
        win,
        torch.hann_window(win, dtype=torch.float64),
        center=s.padding == "center",
        pad_mode="reflect",
        return_complex=True,
    )
    return spec[0].abs()


def filterbank(s: FrontendSettings) -> np.ndarray:
    """(n_mels, freqs) float64: torchaudio's filters (what vocos' MelSpectrogramFeatures uses)."""
    return _cached_filterbank(
        s.n_fft // 2 + 1, float(s.f_min), s.fmax, s.n_mels, s.sample_rate, s.mel_norm, s.mel_scale
    )


@functools.lru_cache(maxsize=256)
def _cached_filterbank(n_freqs, f_min, f_max, n_mels, sample_rate, norm, mel_scale) -> np.ndarray:
    """:func:`vocoder_train.dsp.mel_filterbank` as float64 numpy, cached (the search and
    :func:`compute_mel` ask for the same filterbanks again)."""
    fb = mel_filterbank(n_freqs, f_min, f_max, n_mels, sample_rate, norm=norm, mel_scale=mel_scale)
    return np.ascontiguousarray(fb.double().numpy())


def finish_mel(lin: np.ndarray, s: FrontendSettings) -> np.ndarray:
    """Linear mel (already of the magnitude or power) -> the front-end's values."""
    v = np.maximum(lin, s.log_floor)
    v = np.log(v) if s.log == "ln" else np.log10(v)
    if s.normalize == "utterance":
        v = (v - v.mean()) / max(v.std(), 1e-8)
    return v


def compute_mel(audio: torch.Tensor, s: FrontendSettings) -> np.ndarray:
    """audio (T,) at ``s.sample_rate`` -> mel (n_mels, L) under the settings ``s``."""
    mag = stft_magnitude(audio, s).numpy()
    return finish_mel(filterbank(s) @ mag**s.power, s)


def mel_frames(num_samples: int, s: FrontendSettings) -> int:
    """How many frames :func:`compute_mel` gives for ``num_samples`` samples under ``s``."""
    return expected_frames(num_samples, s.hop_length, s.n_fft, s.padding)
