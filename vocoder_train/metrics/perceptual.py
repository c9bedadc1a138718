"""Reference-based perceptual/intelligibility scores: PESQ (wide band), STOI, SI-SDR."""

from __future__ import annotations

import math
import warnings

import numpy as np

from vocoder_train.metrics._common import AudioLike, paired_numpy, resample_np

PESQ_SAMPLE_RATE = 16000  # P.862.2 wide band is defined at 16 kHz
STOI_SAMPLE_RATE = 10000  # STOI's internal rate (pystoi would resample to it itself)
SI_SDR_MAX_DB = 100.0  # ceiling for (near-)identical signals, so that means over files stay finite


def pesq_wb(ref: AudioLike, deg: AudioLike, sample_rate: int) -> float:
    """Wide-band PESQ (ITU-T P.862.2, MOS-LQO in about [1.04, 4.64]; higher is better).

    Both signals (mono ``(T,)`` arrays or tensors, trimmed to the shorter) are resampled to 16 kHz
    with :func:`vocoder_train.io.audio.resample` and scored by the ``pesq`` package.
    Returns NaN, with a warning, where PESQ cannot score the pair (no utterance found, too short).
    """
    r, d = paired_numpy(ref, deg)
    r = resample_np(r, sample_rate, PESQ_SAMPLE_RATE)
    d = resample_np(d, sample_rate, PESQ_SAMPLE_RATE)
    return pesq_16k(r, d, "pesq_wb")


def pesq_16k(ref: np.ndarray, deg: np.ndarray, name: str) -> float:
    """The ``pesq`` package's wide-band score of two 16 kHz arrays (float, or int16 samples); NaN with a
    warning (naming the metric ``name``) where PESQ cannot score the pair (silence, no utterance)."""
    import pesq as pesq_pkg

    if not (np.any(ref) and np.any(deg)):
        warnings.warn(f"{name}: reference or degraded signal is all zeros; returning NaN", stacklevel=3)
        return float("nan")
    try:
        return float(pesq_pkg.pesq(PESQ_SAMPLE_RATE, ref, deg, "wb"))
    except (pesq_pkg.PesqError, ValueError) as e:
        warnings.warn(
            f"{name}: PESQ could not score this pair ({type(e).__name__}: {e}); returning NaN", stacklevel=3
        )
        return float("nan")


def stoi(ref: AudioLike, deg: AudioLike, sample_rate: int, extended: bool = False) -> float:
    """Short-time objective intelligibility (``pystoi``; about [0, 1], higher is better).

    Both signals (mono ``(T,)`` arrays or tensors, trimmed to the shorter) are resampled to STOI's
    10 kHz with :func:`vocoder_train.io.audio.resample` (instead of pystoi's own resampler,
    so the whole project resamples one way), then ``pystoi.stoi(ref, deg, 10000)`` is returned.
    """
    from pystoi import stoi as pystoi_stoi

    r, d = paired_numpy(ref, deg)
    r = resample_np(r, sample_rate, STOI_SAMPLE_RATE)
    d = resample_np(d, sample_rate, STOI_SAMPLE_RATE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pystoi warns on too few frames and returns 1e-5
        return float(pystoi_stoi(r, d, STOI_SAMPLE_RATE, extended=extended))


def si_sdr(ref: AudioLike, deg: AudioLike) -> float:
    """Scale-invariant SDR in dB (Le Roux et al. 2019; higher is better).

    Both signals (mono ``(T,)`` arrays or tensors, trimmed to the shorter) are made zero-mean;
    ``target = <deg, ref> / ||ref||^2 ref``, ``noise = deg - target``,
    ``SI-SDR = 10 log10(||target||^2 / ||noise||^2)``. Identical signals give
    :data:`SI_SDR_MAX_DB` (100 dB) instead of +inf; a silent reference gives NaN with a warning.
    """
    r, d = paired_numpy(ref, deg)
    r = r - r.mean()
    d = d - d.mean()
    rr = float(np.dot(r, r))
    if rr == 0.0:
        warnings.warn("si_sdr: reference is silent (zero energy); returning NaN", stacklevel=2)
        return float("nan")
    target = (float(np.dot(d, r)) / rr) * r
    noise = d - target
    t2, n2 = float(np.dot(target, target)), float(np.dot(noise, noise))
    if t2 == 0.0:
        return -SI_SDR_MAX_DB
    return float(min(10.0 * math.log10(t2 / max(n2, 1e-300)), SI_SDR_MAX_DB))
