"""Does a mel computed by someone else's front-end match ours, and if not, how not?

A vocoder fed mels from a different front-end (mel scale, fmax, log floor, padding...) sounds
robotic; the mismatch is invisible in the numbers' ranges. Given one utterance and the mel the TTS
side computed for it (its *ground-truth* mel, from the audio, not a predicted one), this searches a
grid of common front-end settings: for each candidate it computes the mel of the audio, aligns it
with the supplied mel (frame offset by cross-correlating frame energies) and measures the mean
absolute error. The best-fitting candidate is taken as "yours" and compared with ours, setting by
setting, in plain words ("mel scale: yours slaney, ours htk"). Settings the example cannot tell
apart (e.g. the log floor when no frame is below it) are taken to equal ours.

Searched: padding (center: torch.stft center=True, T // hop + 1 frames; same: reflect-pad
:func:`~vocoder_train.dsp.istft_trim` a side, HiFi-GAN style), mel scale (htk, slaney) x filter
norm (none, slaney) x f_min (0, 80, ours) x f_max (sr / 2, 8000, 7600, ours), magnitude vs power,
natural log vs log10, log floor (:data:`FLOORS`, ours), per-utterance mean/std normalization. The
bin count comes from the mel's shape, the hop from its frame count. Not searched: n_fft, window,
pre-emphasis; a residual error that stays large points at those.

:func:`compare_frontends` is the entry point (``vocoder-frontend-check`` prints its report). The settings and
the mel each candidate gives are :mod:`.mel_settings`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch

from vocoder_train.dsp.mel import LOG_FLOOR
from vocoder_train.dsp.mel_settings import (
    FrontendSettings,
    compute_mel,
    filterbank,
    finish_mel,
    mel_frames,
    settings_from_config,
    stft_magnitude,
)

MAX_LAG = 4  # frames of offset tried when aligning the supplied mel with ours
FLOORS = (1e-4, 1e-5, LOG_FLOOR, 1e-10)  # log floors of common front-ends (LOG_FLOOR: vocos')


# -- alignment and error -------------------------------------------------------------------------


def _zscore(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / max(x.std(), 1e-12)


def frame_offset(sample: np.ndarray, ours_energy: np.ndarray, max_lag: int = MAX_LAG) -> int:
    """Lag k (sample frame j <-> our frame j + k) maximizing the correlation of frame energies."""
    e_s = sample.mean(axis=0)
    best, best_k = -np.inf, 0
    for k in range(-max_lag, max_lag + 1):
        lo, hi = max(0, -k), min(len(e_s), len(ours_energy) - k)
        if hi - lo < 4:
            continue
        c = float(np.mean(_zscore(e_s[lo:hi]) * _zscore(ours_energy[lo + k : hi + k])))
        if c > best + 1e-9 or (abs(c - best) <= 1e-9 and abs(k) < abs(best_k)):
            best, best_k = c, k
    return best_k


def aligned_error(sample: np.ndarray, mel: np.ndarray, k: int) -> float:
    """Mean |sample - mel| over the frames both have, with sample frame j <-> mel frame j + k."""
    lo, hi = max(0, -k), min(sample.shape[1], mel.shape[1] - k)
    if hi <= lo:
        return math.inf
    return float(np.abs(sample[:, lo:hi] - mel[:, lo + k : hi + k]).mean())


# -- the search -----------------------------------------------------------------------------------


def _grid(base: FrontendSettings, ours: FrontendSettings) -> dict[str, list]:
    nyquist = base.sample_rate / 2
    fmaxes = sorted({f for f in (nyquist, 8000.0, 7600.0, ours.fmax) if f <= nyquist})
    return dict(
        padding=["center", "same", "causal"],
        mel_scale=["htk", "slaney"],
        mel_norm=[None, "slaney"],
        f_min=sorted({0.0, 80.0, float(ours.f_min)}),
        f_max=fmaxes,
        power=[1, 2],
        log=["ln", "log10"],
        log_floor=sorted({*FLOORS, ours.log_floor}),
        normalize=["none", "utterance"],
    )


def _norm_fmax(s: FrontendSettings) -> FrontendSettings:
    return replace(s, f_max=s.fmax, f_min=float(s.f_min))


def _differences(yours: FrontendSettings, ours: FrontendSettings) -> list[str]:
    return [k for k in COMPARED if getattr(_norm_fmax(yours), k) != getattr(_norm_fmax(ours), k)]


@dataclass
class Candidate:
    settings: FrontendSettings
    error: float
    offset: int
    differences: list[str] = field(default_factory=list)


def search(
    sample: np.ndarray, audio: torch.Tensor, base: FrontendSettings, ours: FrontendSettings
) -> list[Candidate]:
    """Every candidate of the grid around ``base`` with its aligned error, best first."""
    grid = _grid(base, ours)
    banks = [
        replace(base, mel_scale=sc, mel_norm=nm, f_min=lo, f_max=hi)
        for sc, nm, lo, hi in itertools.product(
            grid["mel_scale"], grid["mel_norm"], grid["f_min"], grid["f_max"]
        )
    ]
    stacked = np.concatenate([filterbank(b) for b in banks])  # one matmul for all filterbanks
    out: list[Candidate] = []
    for padding in grid["padding"]:
        mag = stft_magnitude(audio, replace(base, padding=padding)).numpy()
        k = frame_offset(sample, np.log((mag**2).sum(0) + 1e-10))
        for power in grid["power"]:
            lins = np.split(stacked @ mag**power, len(banks))
            for bank, lin in zip(banks, lins):
                for log, floor, norm_mode in itertools.product(
                    grid["log"], grid["log_floor"], grid["normalize"]
                ):
                    s = replace(
                        bank, padding=padding, power=power, log=log, log_floor=floor, normalize=norm_mode
                    )
                    out.append(Candidate(s, aligned_error(sample, finish_mel(lin, s), k), k))
    return sorted(out, key=lambda c: c.error)


def pick(
    candidates: list[Candidate], ours: FrontendSettings, rel_tol: float = 0.02, abs_tol: float = 1e-4
) -> Candidate:
    """The best candidate; among those as good (within the tolerance), the one closest to ours:
    a setting the example cannot reveal is assumed not to differ."""
    best = candidates[0].error
    close = [c for c in candidates if c.error <= best * (1 + rel_tol) + abs_tol]
    for c in close:
        c.differences = _differences(c.settings, ours)
    return min(close, key=lambda c: (len(c.differences), c.error))


# -- the report ------------------------------------------------------------------------------------

COMPARED = (
    "sample_rate",
    "hop_length",
    "n_mels",
    "padding",
    "mel_scale",
    "mel_norm",
    "f_min",
    "f_max",
    "power",
    "log",
    "log_floor",
    "normalize",
)
LABELS = dict(
    sample_rate="sample rate",
    hop_length="hop length",
    n_mels="mel bins",
    padding="padding",
    mel_scale="mel scale",
    mel_norm="mel filter norm",
    f_min="f_min",
    f_max="f_max",
    power="magnitude/power",
    log="log base",
    log_floor="log floor",
    normalize="normalization",
)


def _describe(key: str, value) -> str:
    if key == "padding":
        return {
            "center": "center (T // hop + 1 frames)",
            "same": "same (reflect-pad (n_fft - hop) / 2, HiFi-GAN style)",
            "causal": "causal (n_fft - hop zeros on the left; streaming models)",
        }[value]
    if key == "power":
        return {1: "magnitude", 2: "power (x2 in the log domain)"}[value]
    if key == "log":
        return {"ln": "natural log", "log10": "log10 (ln values / ln 10)"}[value]
    if key == "mel_norm":
        return "none" if value is None else str(value)
    if key in ("f_min", "f_max"):
        return f"{value:g} Hz"
    if key == "sample_rate":
        return f"{value} Hz"
    if key == "log_floor":
        return f"{value:g}"
    if key == "normalize":
        return {"none": "none", "utterance": "per-utterance mean/std"}[value]
    return str(value)


@dataclass
class FrontendReport:
    """What :func:`compare_frontends` found.

    ``differences``: setting -> (yours, ours) in words, empty when the supplied mel matches ours.
    ``error`` / ``error_ours``: mean absolute error (in the supplied mel's units) of the best
    candidate / of our front-end against the supplied mel, after alignment.
    """

    yours: FrontendSettings
    ours: FrontendSettings
    differences: dict[str, tuple[str, str]]
    error: float
    error_ours: float
    frame_offset: int
    frames: tuple[int, int]  # (supplied mel, ours)
    mel_std: float
    candidates: int

    @property
    def fits(self) -> bool:
        """Whether the best candidate explains the supplied mel (residual < 5 % of its spread)."""
        return self.error <= 0.05 * self.mel_std + 1e-4

    @property
    def matches(self) -> bool:
        """The supplied mel is ours: no setting differs and the residual is small."""
        return self.fits and not self.differences

    def lines(self) -> list[str]:
        if not self.fits:
            out = [
                "no candidate fits well: the front-ends may also differ in n_fft, window, pre-emphasis "
                "or a model-specific scaling; or the mel is predicted, not computed from this audio"
            ]
            out += [
                f"closest candidate, {LABELS[k]}: yours {y}, ours {o}"
                for k, (y, o) in self.differences.items()
            ]
        elif self.differences:
            out = [f"{LABELS[k]}: yours {y}, ours {o}" for k, (y, o) in self.differences.items()]
        else:
            out = ["no difference: the supplied mel matches our front-end"]
        out.append(f"frames: yours {self.frames[0]}, ours {self.frames[1]} (offset {self.frame_offset:+d})")
        out.append(
            f"residual error {self.error:.4g} (ours as configured: {self.error_ours:.4g}; "
            f"mel spread {self.mel_std:.3g}; {self.candidates} candidates searched)"
        )
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fits"], d["summary"] = self.fits, self.lines()
        return d


def compare_frontends(
    sample_mel: np.ndarray, audio: torch.Tensor, sample_rate: int, ours: Mapping | FrontendSettings
) -> FrontendReport:
    """Compares a supplied mel of ``audio`` with our front-end and names the settings that differ.

    Args:
        sample_mel: (n_mels, L) or (1, n_mels, L), the other side's mel of ``audio``.
        audio: (T,) or (1, T) at ``sample_rate``.
        sample_rate: the audio's rate (the rate the supplied mel was computed at).
        ours: our feature-extractor config (see :func:`settings_from_config`) or settings.
    """
    ours = ours if isinstance(ours, FrontendSettings) else settings_from_config(ours)
    mel = np.asarray(sample_mel, dtype=np.float64)
    mel = mel[0] if mel.ndim == 3 and mel.shape[0] == 1 else mel
    if mel.ndim != 2 or not np.isfinite(mel).all():
        raise ValueError(
            f"sample mel: expected finite (n_mels, frames), got shape {tuple(np.shape(sample_mel))}"
        )
    audio = audio.reshape(-1).double()
    base = replace(ours, sample_rate=int(sample_rate), n_mels=int(mel.shape[0]))
    expected = mel_frames(audio.numel(), base)
    if abs(mel.shape[0] - expected) <= MAX_LAG < abs(mel.shape[1] - expected):
        raise ValueError(
            f"sample mel: shape {tuple(mel.shape)} looks transposed: its first axis has the audio's "
            f"{expected} frames; save it as (n_mels, frames), e.g. numpy.save(path, mel.T)"
        )
    if abs(mel.shape[1] - expected) > MAX_LAG:  # a different hop: estimate it from the frame count
        base = replace(base, hop_length=max(1, round(audio.numel() / max(1, mel.shape[1] - 1))))
    cands = search(mel, audio, base, ours)
    best = pick(cands, ours)
    ours_at_rate = replace(ours, sample_rate=int(sample_rate))
    ours_mel = compute_mel(audio, ours_at_rate)
    k_ours = frame_offset(mel, ours_mel.mean(0)) if ours.n_mels == mel.shape[0] else 0
    err_ours = aligned_error(mel, ours_mel, k_ours) if ours.n_mels == mel.shape[0] else math.inf
    y, o = _norm_fmax(best.settings), _norm_fmax(ours)
    diffs = {k: (_describe(k, getattr(y, k)), _describe(k, getattr(o, k))) for k in best.differences}
    return FrontendReport(
        best.settings,
        ours,
        diffs,
        best.error,
        err_ours,
        best.offset,
        (int(mel.shape[1]), mel_frames(audio.numel(), ours_at_rate)),
        float(mel.std()),
        len(cands),
    )
