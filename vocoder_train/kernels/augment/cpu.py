"""Element math of the augmentation chain (plain Python) and the CPU kernel that loops over it.

Per item, in float64, three stages (each compiled here with ``numba.njit`` and in
:mod:`.cuda` as a device function, so both targets run the same arithmetic):

1. :func:`gain_and_filters`: ``out = gain * x`` (gain carries the polarity sign), then a
   cascade of biquads ``sos (S, 5) = (b0, b1, b2, a1, a2)`` (a0 = 1), direct form I, the same
   recurrence as ``torchaudio.functional.lfilter`` (up to rounding order). ``S`` is a multiple
   of 4: the dispatch pads with identity sections;
2. :func:`add_noise`: noise at ``snr_db`` relative to the filtered signal: Gaussian samples
   from a counter-based hash (splitmix64 of ``seed`` and the sample index, Box-Muller), so
   the CPU and the GPU draw the same noise without a shared RNG state; coloured by a fixed
   IIR (pink: Kellet's three-pole approximation, brown: leaky integrator). Two sweeps: the
   first measures the noise power, the second regenerates and adds it;
3. :func:`limit_peak`: scale down when ``max |out| > limit``.

``p = (gain, noise_on, noise_color 0/1/2, snr_db, peak_limit or 0)``. A stage calls no other
Python function (a device function can only call device functions). The element functions
live in this file because numba's cache is keyed on the cached kernel's own source file:
element math in another file could change without invalidating this kernel.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_ONE = np.uint64(1)
_TWO = np.uint64(2)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53


def gain_and_filters(x, out, gain, sos):  # pragma: no cover - compiled for CPU and CUDA
    """``out = cascade(gain * x)``; ``sos (S, 5)`` with ``S % 4 == 0``."""
    T = x.shape[0]
    for n in range(T):
        out[n] = gain * x[n]
    # Sections run four at a time, interleaved per sample: four independent recurrences
    # keep the FP pipeline busy where one section alone waits on its own latency. Inside a
    # section the terms that depend on neither the new input nor the last output are summed
    # first, so the sample-to-sample dependency chain is one multiply-add and one multiply-subtract.
    for g in range(0, sos.shape[0], 4):
        c00, c01, c02, c03, c04 = sos[g, 0], sos[g, 1], sos[g, 2], sos[g, 3], sos[g, 4]
        c10, c11, c12, c13, c14 = sos[g + 1, 0], sos[g + 1, 1], sos[g + 1, 2], sos[g + 1, 3], sos[g + 1, 4]
        c20, c21, c22, c23, c24 = sos[g + 2, 0], sos[g + 2, 1], sos[g + 2, 2], sos[g + 2, 3], sos[g + 2, 4]
        c30, c31, c32, c33, c34 = sos[g + 3, 0], sos[g + 3, 1], sos[g + 3, 2], sos[g + 3, 3], sos[g + 3, 4]
        # state: input history (u1, u2) and output history (v1, v2) per section
        u01 = u02 = v01 = v02 = 0.0
        u11 = u12 = v11 = v12 = 0.0
        u21 = u22 = v21 = v22 = 0.0
        u31 = u32 = v31 = v32 = 0.0
        for n in range(T):
            xn = out[n]
            y0 = (c00 * xn + (c01 * u01 + c02 * u02 - c04 * v02)) - c03 * v01
            u02, u01, v02, v01 = u01, xn, v01, y0
            y1 = (c10 * y0 + (c11 * u11 + c12 * u12 - c14 * v12)) - c13 * v11
            u12, u11, v12, v11 = u11, y0, v11, y1
            y2 = (c20 * y1 + (c21 * u21 + c22 * u22 - c24 * v22)) - c23 * v21
            u22, u21, v22, v21 = u21, y1, v21, y2
            y3 = (c30 * y2 + (c31 * u31 + c32 * u32 - c34 * v32)) - c33 * v31
            u32, u31, v32, v31 = u31, y2, v31, y3
            out[n] = y3


def add_noise(out, p, seed):  # pragma: no cover - compiled for CPU and CUDA
    """Add seeded white / pink / brown noise at ``p[3]`` dB SNR when ``p[1]`` is set."""
    if p[1] == 0.0:
        return
    T = out.shape[0]
    color = int(p[2])
    ps = 0.0
    for n in range(T):
        ps += out[n] * out[n]
    pn = 0.0
    scale = 0.0
    for sweep in range(2):
        c0 = 0.0
        c1 = 0.0
        c2 = 0.0
        for n in range(T):
            # two uniforms from splitmix64(seed + k * golden), k = 2n+1, 2n+2
            k = np.uint64(n) * _TWO + _ONE
            z = seed + k * _GOLDEN
            z = (z ^ (z >> _S30)) * _M1
            z = (z ^ (z >> _S27)) * _M2
            z = z ^ (z >> _S31)
            u1 = (np.float64(z >> _S11) + 1.0) * _INV53  # (0, 1]
            z = seed + (k + _ONE) * _GOLDEN
            z = (z ^ (z >> _S30)) * _M1
            z = (z ^ (z >> _S27)) * _M2
            z = z ^ (z >> _S31)
            u2 = np.float64(z >> _S11) * _INV53
            w = math.sqrt(-2.0 * math.log(u1)) * math.cos(6.283185307179586 * u2)
            if color == 1:
                c0 = 0.99765 * c0 + w * 0.0990460
                c1 = 0.96300 * c1 + w * 0.2965164
                c2 = 0.57000 * c2 + w * 1.0526913
                v = c0 + c1 + c2 + w * 0.1848
            elif color == 2:
                c0 = 0.995 * c0 + w
                v = c0
            else:
                v = w
            if sweep == 0:
                pn += v * v
            else:
                out[n] += scale * v
        if sweep == 0:
            if ps <= 0.0 or pn <= 0.0:
                return  # silence: no SNR to speak of, add nothing
            scale = math.sqrt(ps / (pn * 10.0 ** (p[3] / 10.0)))


def limit_peak(out, limit):  # pragma: no cover - compiled for CPU and CUDA
    """Scale ``out`` down to a peak of ``limit`` when it exceeds it (``limit <= 0``: off)."""
    if limit <= 0.0:
        return
    peak = 0.0
    for n in range(out.shape[0]):
        peak = max(peak, abs(out[n]))
    if peak > limit:
        g = limit / peak
        for n in range(out.shape[0]):
            out[n] *= g


# contract: let LLVM fuse multiply-adds (shorter recurrence latency); no reassociation
_gain_and_filters = njit(cache=True, fastmath={"contract"})(gain_and_filters)
_add_noise = njit(cache=True, fastmath={"contract"})(add_noise)
_limit_peak = njit(cache=True)(limit_peak)


# Deliberately serial: this runs inside forked DataLoader workers, where numba's OpenMP
# threading layer is not fork-safe once the parent process has used it (the losses do),
# and a worker handles one item anyway. Batches on the GPU go through the CUDA kernel.
@njit(cache=True)
def augment_batch(x, out, params, sos, seeds):  # pragma: no cover - jitted
    """The chain per item: x (B, T), out (B, T) float64, params (B, 5), sos (B, S, 5), seeds (B,) uint64."""
    for b in range(x.shape[0]):
        _gain_and_filters(x[b], out[b], params[b, 0], sos[b])
        _add_noise(out[b], params[b], seeds[b])
        _limit_peak(out[b], params[b, 4])
