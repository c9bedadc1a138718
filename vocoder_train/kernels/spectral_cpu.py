"""CPU (numba njit) kernels for the element-wise part of the spectral losses.

Layout shared with :mod:`.spectral_cuda`: ``hat`` and ``tgt`` are 2-D arrays ``(R, L)`` in
memory order. ``C == 1``: each element is a magnitude. ``C == 2``: elements come in
(re, im) pairs and the magnitude ``sqrt(max(re^2 + im^2, eps))`` is computed here, so the
torch-side ``abs``/``clamp``/``sqrt`` and their autograd nodes disappear.

One pass (``spectral_forward``) produces per-row partial sums
``part[r] = (sum (m_hat - m)^2, sum m^2, sum |log m_hat - log m|)`` (float64) and two
per-magnitude gradient coefficients, so backward is one more element-wise pass:
``grad = a * dcoef + b * lcoef`` (times (re, im) when ``C == 2``), where
``a = go_sc / (||m_hat - m|| ||m||)`` and ``b = go_mag / N`` are known only after the
reduction. Arithmetic is float64 whatever the storage dtype.
"""

from __future__ import annotations

import math

import numpy as np
from numba import float64, njit, prange


@njit(parallel=True, cache=True, error_model="numpy")
def spectral_forward(hat, tgt, C, eps, log_floor, with_sc, fast_log, dcoef, lcoef, part):  # pragma: no cover - jitted
    R = hat.shape[0]
    n = hat.shape[1] // C
    for r in prange(R):
        s_dd = 0.0
        s_tt = 0.0
        s_l = 0.0
        for j in range(n):
            if C == 2:
                hr = float64(hat[r, 2 * j])
                hi = float64(hat[r, 2 * j + 1])
                ph = hr * hr + hi * hi
                mh = math.sqrt(max(ph, eps))
                chain = float64(ph >= eps) / mh  # clamp passes no gradient below eps
                tr = float64(tgt[r, 2 * j])
                ti = float64(tgt[r, 2 * j + 1])
                mt = math.sqrt(max(tr * tr + ti * ti, eps))
            else:
                mh = float64(hat[r, j])
                mt = float64(tgt[r, j])
                chain = 1.0
            # one log per element: |log a - log b| = |log(a / b)|; the sign needs no log
            mh_c = max(mh, log_floor)
            mt_c = max(mt, log_floor)
            if fast_log:  # float32 storage: float32 logf, ~2x faster than a float64 log
                dl = float64(math.log(np.float32(mh_c / mt_c)))
            else:
                dl = math.log(mh_c / mt_c)
            # branch-free: the sign is random, a branch on it mispredicts half the time
            # (torch.clamp(min=) passes the gradient at equality, hence mh >= log_floor)
            gl = (float64(mh_c > mt_c) - float64(mh_c < mt_c)) * float64(mh >= log_floor) / mh_c
            d = mh - mt
            s_dd += d * d
            s_tt += mt * mt
            s_l += abs(dl)
            if with_sc:
                dcoef[r, j] = d * chain
            lcoef[r, j] = gl * chain
        part[r, 0] = s_dd
        part[r, 1] = s_tt
        part[r, 2] = s_l


@njit(parallel=True, cache=True)
def spectral_backward(hat, C, with_sc, dcoef, lcoef, a, b, out):  # pragma: no cover - jitted
    R = lcoef.shape[0]
    n = lcoef.shape[1]
    for r in prange(R):
        for j in range(n):
            g = b * float64(lcoef[r, j])
            if with_sc:
                g += a * float64(dcoef[r, j])
            if C == 2:
                out[r, 2 * j] = g * hat[r, 2 * j]
                out[r, 2 * j + 1] = g * hat[r, 2 * j + 1]
            else:
                out[r, j] = g
