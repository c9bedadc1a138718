"""Element math of the spectral-loss terms (plain Python) and the CPU kernels that loop over it.

Layout shared with :mod:`.cuda`: ``hat`` and ``tgt`` are 2-D arrays ``(R, L)`` in memory
order. ``C == 1``: each element is a magnitude. ``C == 2``: elements come in (re, im) pairs
and the magnitude ``sqrt(max(re^2 + im^2, eps))`` is computed here, so the torch-side
``abs``/``clamp``/``sqrt`` and their autograd nodes disappear.

The forward produces per-row partial sums ``part[r] = (sum (m_hat - m)^2, sum m^2,
sum |log m_hat - log m|)`` (float64) and two per-magnitude gradient coefficients, so the
backward is one more element-wise pass: ``grad = a * dcoef + b * lcoef`` (times (re, im)
when ``C == 2``), where ``a = go_sc / (||m_hat - m|| ||m||)`` and ``b = go_mag / N`` are
known only after the reduction. Arithmetic is float64 whatever the storage dtype.

:func:`forward_element` and :func:`backward_element` are compiled here with ``numba.njit``
and in :mod:`.cuda` as device functions, so both targets run the same arithmetic. They live
in this file because numba's cache is keyed on the cached kernel's own source file: element
math in another file could change without invalidating these kernels.
"""

from __future__ import annotations

import math

from numba import float32, float64, njit, prange


def forward_element(
    hat, tgt, r, j, C, eps, log_floor, with_sc, fast_log, dcoef, lcoef
):  # pragma: no cover - compiled
    """Magnitude ``j`` of row ``r``: stores its gradient coefficients in ``dcoef`` (when
    ``with_sc``) and ``lcoef``; returns its terms of the three partial sums."""
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
    if fast_log:  # float32 storage: float32 logf, faster than a float64 log
        dl = float64(math.log(float32(mh_c / mt_c)))
    else:
        dl = math.log(mh_c / mt_c)
    # branch-free: the sign is random, a branch on it mispredicts half the time
    # (torch.clamp(min=) passes the gradient at equality, hence mh >= log_floor)
    gl = (float64(mh_c > mt_c) - float64(mh_c < mt_c)) * float64(mh >= log_floor) / mh_c
    d = mh - mt
    if with_sc:
        dcoef[r, j] = d * chain
    lcoef[r, j] = gl * chain
    return d * d, mt * mt, abs(dl)


def backward_element(hat, C, with_sc, dcoef, lcoef, a, b, out, r, j):  # pragma: no cover - compiled
    """Gradient of magnitude ``j`` of row ``r`` (of its (re, im) pair when ``C == 2``) into ``out``."""
    g = b * float64(lcoef[r, j])
    if with_sc:
        g += a * float64(dcoef[r, j])
    if C == 2:
        out[r, 2 * j] = g * hat[r, 2 * j]
        out[r, 2 * j + 1] = g * hat[r, 2 * j + 1]
    else:
        out[r, j] = g


# inline: called once per magnitude, a function call costs more than the same code in the loop.
# error_model="numpy": a zero log floor may divide by zero; that gives inf, as in torch.
_forward_element = njit(cache=True, error_model="numpy", inline="always")(forward_element)
_backward_element = njit(cache=True, inline="always")(backward_element)


@njit(parallel=True, cache=True, error_model="numpy")
def spectral_forward(
    hat, tgt, C, eps, log_floor, with_sc, fast_log, dcoef, lcoef, part
):  # pragma: no cover - jitted
    """One row a task: coefficients into ``dcoef``/``lcoef``, partial sums into ``part (R, 3)``."""
    for r in prange(hat.shape[0]):
        s_dd, s_tt, s_l = 0.0, 0.0, 0.0
        for j in range(hat.shape[1] // C):
            dd, tt, dl = _forward_element(hat, tgt, r, j, C, eps, log_floor, with_sc, fast_log, dcoef, lcoef)
            s_dd, s_tt, s_l = s_dd + dd, s_tt + tt, s_l + dl
        part[r, 0] = s_dd
        part[r, 1] = s_tt
        part[r, 2] = s_l


@njit(parallel=True, cache=True)
def spectral_backward(hat, C, with_sc, dcoef, lcoef, a, b, out):  # pragma: no cover - jitted
    """``out = a * dcoef + b * lcoef`` per magnitude (times (re, im) when ``C == 2``)."""
    for r in prange(lcoef.shape[0]):
        for j in range(lcoef.shape[1]):
            _backward_element(hat, C, with_sc, dcoef, lcoef, a, b, out, r, j)
