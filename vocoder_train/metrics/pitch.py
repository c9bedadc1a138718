"""YIN pitch tracking (numba kernel + numpy reference), the fast pitch metrics, and the metrics of any
pair of pitch tracks (:func:`track_metrics`, shared with the CREPE metrics of :mod:`.crepe`).

YIN (de Cheveigné & Kawahara, 2002), per frame of ``win + tau_max`` samples:

1. difference function ``d(tau) = sum_{j<win} (x[j] - x[j + tau])^2`` for ``tau <= tau_max``;
2. cumulative-mean-normalised difference ``d'(0) = 1``, ``d'(tau) = d(tau) tau / sum_{k<=tau} d(k)``;
3. the first ``tau`` in ``[tau_min, tau_max]`` with ``d'(tau) < threshold``, followed down to the
   bottom of its dip (voiced); if none, the global minimum of ``d'`` there (unvoiced);
4. parabolic interpolation of ``d'`` around that ``tau`` gives the fractional period and the
   interpolated dip value, the *aperiodicity* (0 for a perfectly periodic frame, ~1 for noise).

Frames whose RMS is below ``silence_db`` dBFS are unvoiced whatever their dip.
``periodicity = clip(1 - aperiodicity, 0, 1)``, and 0 on silent frames.

The kernel is O(frames x win x tau_max); at 16 kHz with the defaults that is ~100k
multiply-adds a frame, so ten seconds of audio take a few ms. The pitch metrics therefore
resample to 16 kHz first (as the CREPE metrics do), which also makes them independent of the
model's sample rate. They are registered as ``periodicity_yin``, ``vuv_f1_yin`` and
``pitch_cents_yin``: the fast stand-ins for the paper's CREPE metrics.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from vocoder_train.metrics._common import AudioLike, paired_numpy, resample_np, to_numpy

PITCH_SAMPLE_RATE = 16000  # rate the pitch metrics run at
PITCH_HOP_S = 0.01  # 10 ms frames, as in the CARGAN / Vocos periodicity and V/UV evaluations


class PitchTrack(NamedTuple):
    """Per-frame YIN output; frame ``i`` is centred on sample ``i * hop_length``.

    f0: (N,) float64 Hz, 0 on unvoiced frames.
    periodicity: (N,) float64 in [0, 1]: 1 - YIN aperiodicity (0 on silent frames).
    voiced: (N,) bool.
    """

    f0: np.ndarray
    periodicity: np.ndarray
    voiced: np.ndarray


@njit(parallel=True, cache=True)
def _yin_kernel(
    padded, hop, n_frames, win, tau_min, tau_max, threshold, out_tau, out_ap, out_found, out_rms
):  # pragma: no cover - jitted
    flen = win + tau_max
    for i in prange(n_frames):
        s = i * hop
        e2 = 0.0
        for j in range(flen):
            e2 += padded[s + j] * padded[s + j]
        out_rms[i] = math.sqrt(e2 / flen)
        cm = np.empty(tau_max + 1)
        cm[0] = 1.0
        running = 0.0
        for tau in range(1, tau_max + 1):
            acc = 0.0
            for j in range(win):
                diff = padded[s + j] - padded[s + j + tau]
                acc += diff * diff
            running += acc
            cm[tau] = acc * tau / running if running > 0.0 else 1.0
        best = -1
        tau = tau_min
        while tau <= tau_max:
            if cm[tau] < threshold:
                while tau + 1 <= tau_max and cm[tau + 1] < cm[tau]:
                    tau += 1
                best = tau
                break
            tau += 1
        found = best >= 0
        if not found:
            best = tau_min
            for t in range(tau_min + 1, tau_max + 1):
                if cm[t] < cm[best]:
                    best = t
        shift = 0.0
        dip = cm[best]
        if best > 1 and best < tau_max:
            a = cm[best - 1]
            b = cm[best]
            c = cm[best + 1]
            den = a - 2.0 * b + c
            if den > 0.0:
                shift = min(max(0.5 * (a - c) / den, -1.0), 1.0)
                dip = b - 0.25 * (a - c) * shift
        out_tau[i] = best + shift
        out_ap[i] = dip
        out_found[i] = found


def _yin_numpy(padded, hop, n_frames, win, tau_min, tau_max, threshold, out_tau, out_ap, out_found, out_rms):
    """Reference implementation of :func:`_yin_kernel` in vectorised numpy; same arguments."""
    flen = win + tau_max
    frames = np.lib.stride_tricks.sliding_window_view(padded, flen)[::hop][:n_frames]
    out_rms[:] = np.sqrt((frames**2).mean(axis=1))
    d = np.zeros((n_frames, tau_max + 1))
    for tau in range(1, tau_max + 1):
        d[:, tau] = ((frames[:, :win] - frames[:, tau : tau + win]) ** 2).sum(axis=1)
    running = np.cumsum(d, axis=1)
    taus = np.arange(tau_max + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cm = np.where(running > 0.0, d * taus / np.where(running > 0.0, running, 1.0), 1.0)
    cm[:, 0] = 1.0
    for i in range(n_frames):
        row = cm[i]
        below = np.nonzero(row[tau_min:] < threshold)[0]
        if below.size:
            best = tau_min + int(below[0])
            while best + 1 <= tau_max and row[best + 1] < row[best]:
                best += 1
            out_found[i] = True
        else:
            best = tau_min + int(np.argmin(row[tau_min:]))
            out_found[i] = False
        shift, dip = 0.0, row[best]
        if 1 < best < tau_max:
            a, b, c = row[best - 1], row[best], row[best + 1]
            den = a - 2.0 * b + c
            if den > 0.0:
                shift = float(np.clip(0.5 * (a - c) / den, -1.0, 1.0))
                dip = b - 0.25 * (a - c) * shift
        out_tau[i] = best + shift
        out_ap[i] = dip


def yin(
    audio: AudioLike,
    sample_rate: int,
    hop_length: int | None = None,
    fmin: float = 50.0,
    fmax: float = 800.0,
    threshold: float = 0.15,
    win_length: int | None = None,
    silence_db: float = -60.0,
    backend: str = "numba",
) -> PitchTrack:
    """YIN pitch track of mono ``audio`` (T,) (numpy array or tensor).

    Args:
        sample_rate: rate of ``audio`` in Hz.
        hop_length: frame step in samples; default 10 ms. Frame ``i`` is centred on ``i * hop``
            (zero padding at the edges), so there are ``1 + T // hop`` frames.
        fmin, fmax: search range in Hz (lags ``sample_rate / fmax .. sample_rate / fmin``).
        threshold: YIN's absolute threshold on the normalised difference for a voiced frame.
        win_length: integration window in samples; default one period of ``fmin``.
        silence_db: frames with RMS below this (dB re. full scale 1.0) are unvoiced.
        backend: ``"numba"`` (parallel njit kernel) or ``"numpy"`` (the reference).

    Returns:
        :class:`PitchTrack` ``(f0, periodicity, voiced)``, each ``(1 + T // hop,)``.
    """
    x = to_numpy(audio)
    if not 0 < fmin < fmax < sample_rate / 2:
        raise ValueError(
            f"yin: need 0 < fmin < fmax < sample_rate/2, got fmin={fmin}, fmax={fmax}, sr={sample_rate}"
        )
    hop = int(hop_length or round(sample_rate * PITCH_HOP_S))
    tau_min = max(2, int(math.floor(sample_rate / fmax)))
    tau_max = int(math.ceil(sample_rate / fmin))
    win = int(win_length or tau_max)
    flen = win + tau_max
    n_frames = 1 + x.shape[0] // hop
    padded = np.ascontiguousarray(np.pad(x, (flen // 2, flen - flen // 2)))
    out_tau, out_ap, out_rms = np.zeros(n_frames), np.ones(n_frames), np.zeros(n_frames)
    out_found = np.zeros(n_frames, dtype=np.bool_)
    if backend == "numba":
        fn = _yin_kernel
    elif backend == "numpy":
        fn = _yin_numpy
    else:
        raise ValueError(f"yin: backend={backend!r}, expected 'numba' or 'numpy'")
    fn(padded, hop, n_frames, win, tau_min, tau_max, float(threshold), out_tau, out_ap, out_found, out_rms)
    silent = out_rms < 10.0 ** (silence_db / 20.0)
    voiced = out_found & ~silent
    f0 = np.where(voiced, sample_rate / np.maximum(out_tau, 1e-9), 0.0)
    periodicity = np.where(silent, 0.0, np.clip(1.0 - out_ap, 0.0, 1.0))
    return PitchTrack(f0=f0, periodicity=periodicity, voiced=voiced)


# -- metrics -------------------------------------------------------------------------------------


def pitch_tracks(
    ref: AudioLike, deg: AudioLike, sample_rate: int, **yin_kwargs
) -> tuple[PitchTrack, PitchTrack]:
    """YIN tracks of ``ref`` and ``deg`` (trimmed to the shorter) after resampling both to 16 kHz."""
    r, d = paired_numpy(ref, deg)
    r = resample_np(r, sample_rate, PITCH_SAMPLE_RATE)
    d = resample_np(d, sample_rate, PITCH_SAMPLE_RATE)
    return yin(r, PITCH_SAMPLE_RATE, **yin_kwargs), yin(d, PITCH_SAMPLE_RATE, **yin_kwargs)


def periodicity_rmse(tr: PitchTrack, td: PitchTrack) -> float:
    """``sqrt(mean_frames((p_ref - p_deg)^2))`` over all frames of two equally long tracks; NaN if empty."""
    if tr.periodicity.size == 0:
        return float("nan")
    return float(np.sqrt(np.mean((tr.periodicity - td.periodicity) ** 2)))


def vuv_counts(true_voiced: np.ndarray, pred_voiced: np.ndarray) -> tuple[int, int, int]:
    """(TP, FP, FN) of the voiced flags ``pred_voiced`` against ``true_voiced`` (voiced = positive)."""
    return (
        int(np.sum(true_voiced & pred_voiced)),
        int(np.sum(~true_voiced & pred_voiced)),
        int(np.sum(true_voiced & ~pred_voiced)),
    )


def f1_from_counts(tp: float, fp: float, fn: float) -> float:
    """``2 TP / (2 TP + FP + FN)``; 1.0 when all three are 0 (nothing voiced on either side agrees)."""
    if tp + fp + fn == 0:
        return 1.0
    return 2.0 * tp / (2.0 * tp + fp + fn)


def vuv_f1_score(tr: PitchTrack, td: PitchTrack) -> float:
    """V/UV F1 (:func:`f1_from_counts`) of ``td``'s voiced flags against ``tr``'s (voiced = positive);
    1.0 when neither track has a voiced frame (they agree everywhere), NaN if empty."""
    if tr.voiced.size == 0:
        return float("nan")
    return f1_from_counts(*vuv_counts(tr.voiced, td.voiced))


def pitch_rmse_cents(tr: PitchTrack, td: PitchTrack) -> float:
    """RMSE of ``1200 log2(f0_deg / f0_ref)`` over frames voiced in both; NaN if there are none."""
    both = tr.voiced & td.voiced
    if not np.any(both):
        return float("nan")
    cents = 1200.0 * np.log2(td.f0[both] / tr.f0[both])
    return float(np.sqrt(np.mean(cents**2)))


def track_metrics(tr: PitchTrack, td: PitchTrack) -> dict[str, float]:
    """``periodicity``, ``vuv_f1`` and ``pitch_cents`` of a degraded track ``td`` against a reference
    ``tr``."""
    return {
        "periodicity": periodicity_rmse(tr, td),
        "vuv_f1": vuv_f1_score(tr, td),
        "pitch_cents": pitch_rmse_cents(tr, td),
    }


def yin_metrics(ref: AudioLike, deg: AudioLike, sample_rate: int, **yin_kwargs) -> dict[str, float]:
    """``periodicity``, ``vuv_f1`` and ``pitch_cents`` from one pair of YIN tracks (see each function)."""
    return track_metrics(*pitch_tracks(ref, deg, sample_rate, **yin_kwargs))


def periodicity_yin(ref: AudioLike, deg: AudioLike, sample_rate: int, **yin_kwargs) -> float:
    """RMSE between the per-frame YIN periodicity curves of ``ref`` and ``deg`` (lower is better).

    The Vocos paper's periodicity (:mod:`vocoder_train.metrics.crepe`) is the same RMSE over
    torchcrepe's confidence; this one uses ``1 - YIN aperiodicity`` (see :func:`yin`), which
    tracks the same thing in milliseconds instead of seconds per file but is not numerically
    comparable with published figures. Inputs: mono (T,) arrays/tensors at ``sample_rate``,
    trimmed to the shorter; both resampled to 16 kHz; 10 ms frames.
    """
    return periodicity_rmse(*pitch_tracks(ref, deg, sample_rate, **yin_kwargs))


def vuv_f1_yin(ref: AudioLike, deg: AudioLike, sample_rate: int, **yin_kwargs) -> float:
    """F1 of ``deg``'s YIN voiced/unvoiced decisions against ``ref``'s, voiced = positive (higher is better).

    ``2 TP / (2 TP + FP + FN)`` over 10 ms frames; 1.0 when neither has a voiced frame.
    Inputs: mono (T,) arrays/tensors, trimmed to the shorter; both resampled to 16 kHz.
    """
    return vuv_f1_score(*pitch_tracks(ref, deg, sample_rate, **yin_kwargs))


def pitch_cents_yin(ref: AudioLike, deg: AudioLike, sample_rate: int, **yin_kwargs) -> float:
    """RMSE of YIN f0 in cents over frames voiced in both ``ref`` and ``deg`` (lower is better); NaN if none.

    Inputs: mono (T,) arrays/tensors, trimmed to the shorter; both resampled to 16 kHz.
    """
    return pitch_rmse_cents(*pitch_tracks(ref, deg, sample_rate, **yin_kwargs))
