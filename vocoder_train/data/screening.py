"""Screening measures of ``vocoder-prepare``: effective bandwidth, clipping and integrated loudness,
accumulated chunk by chunk while :mod:`vocoder_train.data.probe` decodes a file, so memory stays flat
for hours-long recordings.

- **Bandwidth**: the average power spectrum (Hann frames of :data:`BANDWIDTH_N_FFT`, half overlap, all
  channels summed) is compared with its mean bin level, the level a flat spectrum of the same energy
  would have. The bandwidth is the upper edge of the highest bin above :data:`BANDWIDTH_LEVEL_DB` re
  that mean: above it, the spectrum stays below the level. Scaling a file, or padding it with
  silence, changes the spectrum and its mean alike, so neither moves the answer; an all-zero file has
  none (None). Audio upsampled from 8 kHz, or decoded from an MP3 whose encoder cut the top band, has
  bins 80-140 dB down above its old Nyquist or lowpass frequency and reads 4 kHz or ~16 kHz, while
  a noise floor 34 dB under the mean level (that of the test tones) counts as content.
- **Clipping**: the fraction of samples (over all channels) with ``|x| >= CLIP_LEVEL`` that sit in a
  run of at least :data:`CLIP_MIN_RUN` such consecutive samples: a flat top, not a peak that touches
  full scale once.
- **Loudness**: ITU-R BS.1770-4 integrated loudness in LUFS, as
  :func:`torchaudio.functional.loudness` computes it (K-weighting, 400 ms blocks every 100 ms,
  absolute gate at -70 LUFS, relative gate 10 LU below), with every channel weighted 1 (a file with
  no block above the absolute gate reads -70: "at most -70 LUFS"). That function needs the whole
  file in memory; here the K-weighted energy of each 100 ms step is kept (8 bytes per step) and the
  blocks are gated at the end, with steps and filters carried across chunks.

The probe decodes a long file in chunks (300 s). The loudness hardly depends on them (measured:
3.5e-6 LU with 0.5 s chunks); at each boundary the STFT loses less than one frame and a run of
clipped samples may be split in two, which moves neither measure visibly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

BANDWIDTH_N_FFT = 1024  # 23 Hz bins at 24 kHz: far finer than the cut-offs screened for
# 60 dB below the mean bin level: long-term speech spectra stay within ~50 dB of it up to 12 kHz,
# while resampled or MP3-cut top bands sit 80 dB or more below it.
BANDWIDTH_LEVEL_DB = -60.0
# Samples per STFT block: bounds the spectrum held at once (257 frames x 513 bins) whatever the chunk.
_BANDWIDTH_BLOCK = 256 * BANDWIDTH_N_FFT
CLIP_LEVEL = 0.99  # -0.09 dBFS: 16-bit clipping at 32767 / 32768 and float clipping at 1.0 both reach it
CLIP_MIN_RUN = 3  # consecutive samples: a sine peak touches full scale for 1-2 samples at speech pitches
# BS.1770-4 blocks are 400 ms every 100 ms: here 4 steps of round(0.1 s) samples each, which is
# torchaudio's block at every rate whose 0.4 s is 4 whole steps (8, 16, 22.05, 24, 44.1, 48 kHz ...).
LOUDNESS_STEP_S = 0.1
LOUDNESS_ABS_GATE, LOUDNESS_REL_GATE = -70.0, -10.0  # LUFS and LU
_K_BIAS = -0.691  # BS.1770's offset that makes a 1 kHz sine at 0 dBFS read -3.01 LUFS


@dataclass
class Screening:
    """Running sums for one file at ``sample_rate``; :meth:`update` with each decoded chunk ``(C, T)``
    (finite samples), then read :meth:`bandwidth`, :meth:`clipped_fraction` and :meth:`loudness`."""

    sample_rate: int
    power: torch.Tensor | None = None  # (BANDWIDTH_N_FFT // 2 + 1,) float64 sum of frame power spectra
    clipped: int = 0
    samples: int = 0
    steps: list[torch.Tensor] = field(default_factory=list)  # K-weighted 100 ms step energies, float64
    tail: torch.Tensor | None = None  # unmeasured end of the last chunk, after `warm` warm-up samples
    warm: int = 0

    def update(self, audio: torch.Tensor) -> None:
        """Adds a chunk ``audio (C, T)`` of the file, in order."""
        self.samples += audio.numel()
        self.clipped += clipped_samples(audio)
        self._add_steps(audio)
        power = power_spectrum(audio)
        if power is not None:
            self.power = power if self.power is None else self.power + power

    def bandwidth(self) -> float | None:
        """Hz; None when the file is all zeros or shorter than one frame."""
        return None if self.power is None else effective_bandwidth(self.power, self.sample_rate)

    def clipped_fraction(self) -> float:
        return self.clipped / self.samples if self.samples else 0.0

    def loudness(self) -> float | None:
        """LUFS; -70 (the absolute gate) when no block is louder, None when the file is shorter than one
        400 ms block."""
        steps = torch.cat(self.steps) if self.steps else torch.zeros(0, dtype=torch.float64)
        return gated_loudness(steps, self.sample_rate)

    def _add_steps(self, audio: torch.Tensor) -> None:
        """Steps continue across chunks: what did not fill a step is carried into the next chunk, after
        one step of samples that only warm the K-weighting filters up (their response decays in ~10 ms)."""
        x = audio if self.tail is None else torch.cat([self.tail, audio], dim=-1)
        step = _loudness_step(self.sample_rate)
        self.steps.append(kweighted_steps(x, self.sample_rate, self.warm))
        done = self.warm + len(self.steps[-1]) * step
        start = max(0, done - step)
        self.tail, self.warm = x[:, start:].clone(), done - start


def power_spectrum(audio: torch.Tensor) -> torch.Tensor | None:
    """audio (C, T) -> the sum over channels and frames of |STFT|^2 (BANDWIDTH_N_FFT // 2 + 1,), float64.

    Uncentred frames: the dsp STFT's reflect or zero padding of the edges puts broadband energy into
    the first and last frames (an ideally band-limited file then reads -45 dB above its cut instead of
    -85 dB), which is the very thing measured here. None when T is shorter than one frame."""
    n, hop = BANDWIDTH_N_FFT, BANDWIDTH_N_FFT // 2
    if audio.shape[-1] < n:
        return None
    window = torch.hann_window(n, dtype=audio.dtype)
    total = torch.zeros(n // 2 + 1, dtype=torch.float64)
    for start in range(0, audio.shape[-1] - n + 1, _BANDWIDTH_BLOCK):
        block = audio[:, start : start + _BANDWIDTH_BLOCK + n - hop]  # whole frames, none twice
        spec = torch.stft(block, n, hop, n, window, center=False, return_complex=True)
        total += spec.abs().square().sum(dim=(0, 2), dtype=torch.float64)
    return total


def effective_bandwidth(
    power: torch.Tensor, sample_rate: int, level_db: float = BANDWIDTH_LEVEL_DB
) -> float | None:
    """The upper edge (Hz) of the highest bin of ``power (n_fft // 2 + 1,)`` above ``level_db`` re the
    mean of bins 1.. (DC left out: an offset is not bandwidth); None for an all-zero spectrum."""
    bins = power[1:]
    mean = float(bins.mean())
    if mean <= 0.0:
        return None
    above = torch.nonzero(bins > mean * 10.0 ** (level_db / 10.0))
    if not len(above):
        return None
    top = int(above[-1]) + 1  # bin index in ``power``
    n_fft = 2 * (power.shape[0] - 1)
    return min((top + 0.5) * sample_rate / n_fft, sample_rate / 2)


def clipped_samples(audio: torch.Tensor, level: float = CLIP_LEVEL, min_run: int = CLIP_MIN_RUN) -> int:
    """How many samples of ``audio (C, T)`` are in runs of >= ``min_run`` consecutive ``|x| >= level``."""
    mask = audio.abs() >= level
    if audio.shape[-1] < min_run or not bool(mask.any()):
        return 0
    full = mask.unfold(-1, min_run, 1).all(-1)  # windows wholly at full scale, (C, T - min_run + 1)
    pad = full.new_zeros(full.shape[0], min_run - 1)
    covered = torch.cat([pad, full, pad], dim=-1).unfold(-1, min_run, 1).any(-1)  # (C, T)
    return int(covered.sum())


def kweighted_steps(audio: torch.Tensor, sample_rate: int, warm: int = 0) -> torch.Tensor:
    """audio (C, T) -> the K-weighted energy (sum of squares, all channels) of each whole 100 ms step
    after the first ``warm`` samples (filter warm-up, already counted): (steps,) float64."""
    from torchaudio.functional import highpass_biquad, treble_biquad

    step = _loudness_step(sample_rate)
    # BS.1770's two K-weighting stages, with the parameters torchaudio.functional.loudness uses
    x = treble_biquad(audio, sample_rate, 4.0, 1500.0, 1 / math.sqrt(2))
    x = highpass_biquad(x, sample_rate, 38.0, 0.5)[:, warm:]
    steps = x.shape[-1] // step
    return x[:, : steps * step].square_().reshape(x.shape[0], steps, step).sum((0, 2), dtype=torch.float64)


def _loudness_step(sample_rate: int) -> int:
    return int(round(LOUDNESS_STEP_S * sample_rate))


def gated_loudness(steps: torch.Tensor, sample_rate: int) -> float | None:
    """Integrated loudness (LUFS) from the K-weighted step energies of :func:`kweighted_steps`: blocks of
    4 steps, the mean of those above the absolute gate and above the relative gate (10 LU under the
    mean of the former). None for fewer than 4 steps. When no block passes, the absolute gate itself
    (-70), where torchaudio's function gives NaN: "at most -70 LUFS", a number JSON holds."""
    if len(steps) < 4:
        return None
    energies = steps.unfold(0, 4, 1).sum(-1) / (4 * _loudness_step(sample_rate))
    level = _K_BIAS + 10.0 * torch.log10(energies.clamp_min(1e-300))
    kept = energies[level > LOUDNESS_ABS_GATE]
    if not len(kept):
        return LOUDNESS_ABS_GATE
    relative = _K_BIAS + 10.0 * math.log10(float(kept.mean())) + LOUDNESS_REL_GATE
    kept = energies[(level > LOUDNESS_ABS_GATE) & (level > relative)]
    return _K_BIAS + 10.0 * math.log10(float(kept.mean()))
