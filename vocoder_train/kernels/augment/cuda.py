"""numba.cuda kernel over the element math of :mod:`.cpu`: one thread per batch item (each
item's filters are sequential recurrences).

Imported lazily. :func:`augment_batch` takes device arrays (numpy arrays under
``NUMBA_ENABLE_CUDASIM=1``). Parameters come from the host (a few numbers an item); the
noise is generated on the device by the counter-based hash.
"""

from __future__ import annotations

from numba import cuda

from .cpu import add_noise, gain_and_filters, limit_peak

_gain_and_filters = cuda.jit(device=True)(gain_and_filters)
_add_noise = cuda.jit(device=True)(add_noise)
_limit_peak = cuda.jit(device=True)(limit_peak)


@cuda.jit
def _augment_kernel(x, out, params, sos, seeds):  # pragma: no cover - device code
    b = cuda.grid(1)
    if b < x.shape[0]:
        _gain_and_filters(x[b], out[b], params[b, 0], sos[b])
        _add_noise(out[b], params[b], seeds[b])
        _limit_peak(out[b], params[b, 4])


def augment_batch(x, out, params, sos, seeds, stream=0, threads: int = 32) -> None:
    """Launch on device arrays, arguments as :func:`.cpu.augment_batch`."""
    batch = x.shape[0]
    if batch:
        _augment_kernel[(batch + threads - 1) // threads, threads, stream](x, out, params, sos, seeds)
