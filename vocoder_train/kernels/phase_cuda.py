"""numba.cuda twin of :mod:`.phase_cpu`: one thread per STFT bin (b, t, f) of the ``(B, T, F, 2)`` layout, the same pair
arithmetic as a device function. A thread *gathers* its gradient from the (up to) four pairs
it belongs to, so no atomics are needed; the pair where it is the later element also writes
that pair's (w d, w) into ``part``, which the launcher sums (each pair is counted once).

Imported lazily; launchers take numba device arrays (numpy arrays under
``NUMBA_ENABLE_CUDASIM=1``).
"""

from __future__ import annotations

from numba import cuda, float64

from .phase_cpu import pair_terms

_pair = cuda.jit(device=True)(pair_terms)


@cuda.jit(device=True)
def _gather_axis(hat, tgt, b, t, f, dt, df, k, n, power, e, grad, part, slot):  # pragma: no cover - device code
    """Bin (b, t, f) along the axis stepping by (dt, df), where it sits at k of n: its gradient from
    the pair with its predecessor (it is a) and with its successor (it is b); that first pair's
    (w d, w) go to part[b, t, f, slot:slot + 2]."""
    hr = float64(hat[b, t, f, 0])
    hi = float64(hat[b, t, f, 1])
    tr = float64(tgt[b, t, f, 0])
    ti = float64(tgt[b, t, f, 1])
    g0 = 0.0
    g1 = 0.0
    s = 0.0
    w = 0.0
    if k > 0:
        tp, fp = t - dt, f - df
        wd, ww, gar, gai, gbr, gbi = _pair(hr, hi, float64(hat[b, tp, fp, 0]), float64(hat[b, tp, fp, 1]),
                                           tr, ti, float64(tgt[b, tp, fp, 0]), float64(tgt[b, tp, fp, 1]), power, e)
        g0 += gar
        g1 += gai
        s = wd
        w = ww
    if k + 1 < n:
        tn, fn = t + dt, f + df
        wd, ww, gar, gai, gbr, gbi = _pair(float64(hat[b, tn, fn, 0]), float64(hat[b, tn, fn, 1]), hr, hi,
                                           float64(tgt[b, tn, fn, 0]), float64(tgt[b, tn, fn, 1]), tr, ti, power, e)
        g0 += gbr
        g1 += gbi
    grad[b, t, f, 0] = g0
    grad[b, t, f, 1] = g1
    part[b, t, f, slot] = s
    part[b, t, f, slot + 1] = w


@cuda.jit
def _forward_kernel(hat, tgt, power, e, grad_t, grad_f, part):  # pragma: no cover - device code
    B, T, F = hat.shape[0], hat.shape[1], hat.shape[2]
    i = cuda.grid(1)
    if i >= B * T * F:
        return
    b = i // (T * F)
    t = (i // F) % T
    f = i % F
    _gather_axis(hat, tgt, b, t, f, 1, 0, t, T, power, e, grad_t, part, 0)  # time pairs: IF
    _gather_axis(hat, tgt, b, t, f, 0, 1, f, F, power, e, grad_f, part, 2)  # frequency pairs: GD


def phase_forward(hat, tgt, power, e, grad_t, grad_f, part, stream=0, threads: int = 256) -> None:
    """hat, tgt (B, T, F, 2) -> grad_t, grad_f (like hat) and part (B, T, F, 4) float64 (see module doc)."""
    n = hat.shape[0] * hat.shape[1] * hat.shape[2]
    if n:
        _forward_kernel[(n + threads - 1) // threads, threads, stream](hat, tgt, power, e, grad_t, grad_f, part)
