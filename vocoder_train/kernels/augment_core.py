"""The per-item augmentation chain, written once as plain Python and compiled twice:
``numba.njit`` in :mod:`.augment` (CPU) and ``numba.cuda.jit(device=True)`` in
:mod:`.augment_cuda`, so both targets run the same arithmetic. It calls no other Python
function (a device function can only call device functions), hence one long body.

Per item, in float64:
  1. ``out = gain * x`` (gain carries the polarity sign);
  2. a cascade of biquads ``sos (S, 5) = (b0, b1, b2, a1, a2)`` (a0 = 1), direct form I,
     the same recurrence as ``torchaudio.functional.lfilter`` (up to rounding order);
  3. optional noise at ``snr_db`` relative to the filtered signal: Gaussian samples from a
     counter-based hash (splitmix64 of ``seed`` and the sample index, Box-Muller), so the
     CPU and the GPU draw the same noise without a shared RNG state; coloured by a fixed
     IIR (pink: Kellet's three-pole approximation, brown: leaky integrator). Two sweeps:
     the first measures the noise power, the second regenerates and adds it;
  4. optional peak limit: scale down when ``max |out| > limit``.

``p = (gain, noise_on, noise_color 0/1/2, snr_db, peak_limit or 0)``.
"""

from __future__ import annotations

import math

import numpy as np

N_PARAMS = 5
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


def augment_item(x, out, p, sos, seed):  # pragma: no cover - compiled for CPU and CUDA
    T = x.shape[0]
    gain = p[0]
    for n in range(T):
        out[n] = gain * x[n]
    # Sections run four at a time, interleaved per sample: four independent recurrences
    # keep the FP pipeline busy where one section alone waits on its own latency. Missing
    # sections of the last group are identities (b0 = 1). Inside a section the terms that
    # depend on neither the new input nor the last output are summed first, so the
    # sample-to-sample dependency chain is one multiply-add and one multiply-subtract.
    S = sos.shape[0]
    for g in range(0, S, 4):
        c00 = sos[g, 0]
        c01 = sos[g, 1]
        c02 = sos[g, 2]
        c03 = sos[g, 3]
        c04 = sos[g, 4]
        c10 = 1.0
        c11 = 0.0
        c12 = 0.0
        c13 = 0.0
        c14 = 0.0
        c20 = 1.0
        c21 = 0.0
        c22 = 0.0
        c23 = 0.0
        c24 = 0.0
        c30 = 1.0
        c31 = 0.0
        c32 = 0.0
        c33 = 0.0
        c34 = 0.0
        if g + 1 < S:
            c10 = sos[g + 1, 0]
            c11 = sos[g + 1, 1]
            c12 = sos[g + 1, 2]
            c13 = sos[g + 1, 3]
            c14 = sos[g + 1, 4]
        if g + 2 < S:
            c20 = sos[g + 2, 0]
            c21 = sos[g + 2, 1]
            c22 = sos[g + 2, 2]
            c23 = sos[g + 2, 3]
            c24 = sos[g + 2, 4]
        if g + 3 < S:
            c30 = sos[g + 3, 0]
            c31 = sos[g + 3, 1]
            c32 = sos[g + 3, 2]
            c33 = sos[g + 3, 3]
            c34 = sos[g + 3, 4]
        # state: input history (u1, u2) and output history (v1, v2) per section
        u01 = u02 = v01 = v02 = 0.0
        u11 = u12 = v11 = v12 = 0.0
        u21 = u22 = v21 = v22 = 0.0
        u31 = u32 = v31 = v32 = 0.0
        for n in range(T):
            xn = out[n]
            y0 = (c00 * xn + (c01 * u01 + c02 * u02 - c04 * v02)) - c03 * v01
            u02 = u01
            u01 = xn
            v02 = v01
            v01 = y0
            y1 = (c10 * y0 + (c11 * u11 + c12 * u12 - c14 * v12)) - c13 * v11
            u12 = u11
            u11 = y0
            v12 = v11
            v11 = y1
            y2 = (c20 * y1 + (c21 * u21 + c22 * u22 - c24 * v22)) - c23 * v21
            u22 = u21
            u21 = y1
            v22 = v21
            v21 = y2
            y3 = (c30 * y2 + (c31 * u31 + c32 * u32 - c34 * v32)) - c33 * v31
            u32 = u31
            u31 = y2
            v32 = v31
            v31 = y3
            out[n] = y3
    if p[1] != 0.0:
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
                    break  # silence: no SNR to speak of, add nothing
                scale = math.sqrt(ps / (pn * 10.0 ** (p[3] / 10.0)))
    if p[4] > 0.0:
        peak = 0.0
        for n in range(T):
            peak = max(peak, abs(out[n]))
        if peak > p[4]:
            g = p[4] / peak
            for n in range(T):
                out[n] *= g
