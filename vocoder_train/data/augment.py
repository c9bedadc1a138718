"""Training-time waveform augmentation (``data/augment`` config group).

Effects, each with its own probability: random gain, polarity flip, a random parametric
EQ (a cascade of RBJ peaking / shelf biquads), a band-limiting Butterworth low-pass, and
additive white / pink / brown noise at a random SNR (measured against the filtered
signal). Order: gain and polarity, EQ, low-pass, noise, then an optional peak limit.

Random *parameters* are drawn on the host with numpy from ``SeedSequence([seed, index + i])``
for item ``i``, always the same draws in the same order whatever is switched on, so an
item's result depends only on ``(seed, its index)``: ``aug(batch, seed)[i]`` equals
``aug(batch[i], seed, index=i)``. The signal processing runs in the numba kernels of
:mod:`vocoder_train.kernels.augment` (CPU, in DataLoader workers, or CUDA for a ``(B, T)``
CUDA batch); noise samples come from
a counter-based hash of a drawn 63-bit seed, so both give the same output to fp32 precision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from vocoder_train.kernels.augment import IDENTITY, N_PARAMS, augment_batch, butterworth_lowpass, rbj_biquad

NOISE_COLORS = ("white", "pink", "brown")
EQ_TYPES = ("peak", "low_shelf", "high_shelf")
MAX_FREQ_FRACTION = 0.45  # keep filter frequencies below 0.45 * sample_rate (bilinear warping near Nyquist)


def _range(name: str, value: Sequence[float]) -> tuple[float, float]:
    lo, hi = (float(v) for v in value)
    if lo > hi:
        raise ValueError(f"Augmenter: {name}={list(value)} must be [low, high] with low <= high")
    return lo, hi


def _prob(name: str, value: float) -> float:
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"Augmenter: {name}={value} is a probability, expected 0 <= p <= 1")
    return float(value)


class Augmenter:
    """Seeded waveform augmentation; ``__call__(audio (T,) or (B, T), sample_rate, seed)``.

    Args:
        gain_p, gain_db: probability and dB range of a random gain.
        polarity_p: probability of flipping the sign.
        noise_p, noise_snr_db, noise_colors: probability, SNR range (dB) and colours
            (subset of white | pink | brown, picked uniformly) of additive noise.
        eq_p, eq_sections, eq_types, eq_freq_hz, eq_gain_db, eq_q: probability of a random
            EQ of ``eq_sections`` biquads, each of a type picked from ``eq_types``, with
            log-uniform frequency, uniform gain (dB) and log-uniform Q.
        lowpass_p, lowpass_hz, lowpass_sections: probability of a low-pass with log-uniform
            cutoff, Butterworth of order ``2 * lowpass_sections``.
        peak_limit: scale the result down when its peak exceeds this (None: never).
    """

    def __init__(
        self,
        gain_p: float = 0.5,
        gain_db: Sequence[float] = (-6.0, 3.0),
        polarity_p: float = 0.5,
        noise_p: float = 0.2,
        noise_snr_db: Sequence[float] = (15.0, 45.0),
        noise_colors: Sequence[str] = NOISE_COLORS,
        eq_p: float = 0.3,
        eq_sections: int = 3,
        eq_types: Sequence[str] = EQ_TYPES,
        eq_freq_hz: Sequence[float] = (60.0, 8000.0),
        eq_gain_db: Sequence[float] = (-6.0, 6.0),
        eq_q: Sequence[float] = (0.5, 2.0),
        lowpass_p: float = 0.1,
        lowpass_hz: Sequence[float] = (4000.0, 11000.0),
        lowpass_sections: int = 2,
        peak_limit: float | None = 0.999,
    ):
        self.gain_p, self.gain_db = _prob("gain_p", gain_p), _range("gain_db", gain_db)
        self.polarity_p = _prob("polarity_p", polarity_p)
        self.noise_p, self.noise_snr_db = _prob("noise_p", noise_p), _range("noise_snr_db", noise_snr_db)
        bad = [c for c in noise_colors if c not in NOISE_COLORS]
        if bad or not noise_colors:
            raise ValueError(f"Augmenter: noise_colors={list(noise_colors)}; choose from {NOISE_COLORS}")
        self.noise_colors = [NOISE_COLORS.index(c) for c in noise_colors]
        self.eq_p, self.eq_sections = _prob("eq_p", eq_p), int(eq_sections)
        bad = [t for t in eq_types if t not in EQ_TYPES]
        if bad or not eq_types:
            raise ValueError(f"Augmenter: eq_types={list(eq_types)}; choose from {EQ_TYPES}")
        self.eq_types = list(eq_types)
        self.eq_freq_hz, self.eq_gain_db = _range("eq_freq_hz", eq_freq_hz), _range("eq_gain_db", eq_gain_db)
        self.eq_q = _range("eq_q", eq_q)
        self.lowpass_p, self.lowpass_hz = _prob("lowpass_p", lowpass_p), _range("lowpass_hz", lowpass_hz)
        self.lowpass_sections = int(lowpass_sections)
        if (
            min(self.eq_freq_hz[0], self.lowpass_hz[0], self.eq_q[0]) <= 0
            or self.eq_sections < 0
            or self.lowpass_sections < 0
        ):
            raise ValueError("Augmenter: frequencies, Q and section counts must be positive")
        self.peak_limit = None if peak_limit is None else float(peak_limit)

    @property
    def n_sections(self) -> int:
        return self.eq_sections + self.lowpass_sections

    def draw(self, sample_rate: int, seed: int, index: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
        """Parameters of one item: ``(params (5,), sos (S, 5), noise seed)``."""
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))
        on = rng.random(5) < [self.gain_p, self.polarity_p, self.eq_p, self.lowpass_p, self.noise_p]
        gain_db = rng.uniform(*self.gain_db)
        eq_kind = rng.integers(len(self.eq_types), size=self.eq_sections)
        eq_f = np.exp(rng.uniform(*np.log(self.eq_freq_hz), size=self.eq_sections))
        eq_g = rng.uniform(*self.eq_gain_db, size=self.eq_sections)
        eq_q = np.exp(rng.uniform(*np.log(self.eq_q), size=self.eq_sections))
        cutoff = math.exp(rng.uniform(*np.log(self.lowpass_hz)))
        color = self.noise_colors[int(rng.integers(len(self.noise_colors)))]
        snr = rng.uniform(*self.noise_snr_db)
        noise_seed = int(rng.integers(2**63))

        f_max = MAX_FREQ_FRACTION * sample_rate
        sos = np.tile(IDENTITY, (self.n_sections, 1))
        if on[2]:
            for s in range(self.eq_sections):
                sos[s] = rbj_biquad(
                    self.eq_types[eq_kind[s]], min(eq_f[s], f_max), sample_rate, eq_g[s], eq_q[s]
                )
        if on[3] and cutoff < f_max:  # a cutoff above the band would do nothing
            sos[self.eq_sections :] = butterworth_lowpass(cutoff, sample_rate, self.lowpass_sections)
        params = np.zeros(N_PARAMS)
        params[0] = (10.0 ** (gain_db / 20.0) if on[0] else 1.0) * (-1.0 if on[1] else 1.0)
        params[1], params[2], params[3] = float(on[4]), float(color), snr
        params[4] = self.peak_limit or 0.0
        return params, sos, noise_seed

    def draw_batch(self, batch: int, sample_rate: int, seed: int, index: int = 0):
        """Stacked :meth:`draw` for items ``index .. index + batch - 1``."""
        draws = [self.draw(sample_rate, seed, index + i) for i in range(batch)]
        params = np.stack([d[0] for d in draws]).reshape(batch, N_PARAMS)
        sos = np.stack([d[1] for d in draws]).reshape(batch, self.n_sections, 5)
        seeds = np.array([d[2] for d in draws], dtype=np.uint64)
        return params, sos, seeds

    def __call__(self, audio: torch.Tensor, sample_rate: int, seed: int, index: int = 0) -> torch.Tensor:
        """audio (T,) or (B, T), CPU or CUDA -> augmented audio, same shape, dtype and device.

        Item ``i`` uses the parameters of ``(seed, index + i)``.
        """
        if seed < 0:
            raise ValueError(f"Augmenter: seed={seed} must be >= 0")
        if audio.dim() not in (1, 2):
            raise ValueError(f"Augmenter: audio of shape {tuple(audio.shape)}; expected (T,) or (B, T)")
        x = audio[None] if audio.dim() == 1 else audio
        if not x.is_floating_point():
            raise ValueError(f"Augmenter: audio dtype {x.dtype}; expected floating point")
        params, sos, seeds = self.draw_batch(x.shape[0], int(sample_rate), int(seed), int(index))
        out = augment_batch(x, params, sos, seeds)
        return out[0] if audio.dim() == 1 else out
