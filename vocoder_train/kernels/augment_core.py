"""The per-item augmentation chain, written once as plain Python and compiled twice:
``numba.njit`` in :mod:`.augment` (CPU) and ``numba.cuda.jit(device=True)`` in
:mod:`.augment_cuda`, so both targets run the same arithmetic. It calls no other Python
function (a device function can only call device functions), hence one long body.

Per item, in float64:
  1. ``out = gain * x`` (gain carries the polarity sign);
  2. a cascade of biquads ``sos (S, 5) = (b0, b1, b2, a1, a2)`` (a0 = 1), direct form I,
     the same recurrence as ``torchaudio.functional.lfilter``; identity sections skipped;
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
    for s in range(sos.shape[0]):
        b0 = sos[s, 0]
        b1 = sos[s, 1]
        b2 = sos[s, 2]
        a1 = sos[s, 3]
        a2 = sos[s, 4]
        if b0 == 1.0 and b1 == 0.0 and b2 == 0.0 and a1 == 0.0 and a2 == 0.0:
            continue
        x1 = 0.0
        x2 = 0.0
        y1 = 0.0
        y2 = 0.0
        for n in range(T):
            xn = out[n]
            yn = b0 * xn + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
            x2 = x1
            x1 = xn
            y2 = y1
            y1 = yn
            out[n] = yn
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
