"""numba.cuda kernels over the element math of :mod:`.cpu` (same layout, same arithmetic).

Imported only when a CUDA tensor (or the simulator check) needs it. The launchers take
anything numba.cuda accepts as a device array: ``cuda.as_cuda_array(torch_tensor)`` on a
GPU, plain numpy arrays under ``NUMBA_ENABLE_CUDASIM=1``.

Forward: one block per row; threads stride over the row (coalesced) and reduce the three
partial sums in shared memory. Backward: a flat grid-stride loop; the two scale factors
are read from a device array so that no host synchronisation is needed.
"""

from __future__ import annotations

from numba import cuda, float64

from .cpu import backward_element, forward_element

MAX_THREADS = 256  # shared-memory size; threads per block must be a power of two <= this

_forward_element = cuda.jit(device=True)(forward_element)
_backward_element = cuda.jit(device=True)(backward_element)


@cuda.jit
def _forward_kernel(hat, tgt, C, eps, log_floor, with_sc, fast_log, dcoef, lcoef, part):  # pragma: no cover
    r = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    sh = cuda.shared.array((3, MAX_THREADS), float64)
    s_dd, s_tt, s_l = 0.0, 0.0, 0.0
    if r < hat.shape[0]:
        for j in range(tid, hat.shape[1] // C, nt):
            dd, tt, dl = _forward_element(hat, tgt, r, j, C, eps, log_floor, with_sc, fast_log, dcoef, lcoef)
            s_dd, s_tt, s_l = s_dd + dd, s_tt + tt, s_l + dl
    sh[0, tid] = s_dd
    sh[1, tid] = s_tt
    sh[2, tid] = s_l
    cuda.syncthreads()
    step = nt // 2
    while step > 0:
        if tid < step:
            for k in range(3):
                sh[k, tid] += sh[k, tid + step]
        cuda.syncthreads()
        step //= 2
    if tid == 0 and r < hat.shape[0]:
        for k in range(3):
            part[r, k] = sh[k, 0]


@cuda.jit
def _backward_kernel(hat, C, with_sc, dcoef, lcoef, coef, out):  # pragma: no cover
    n = lcoef.shape[1]
    a = coef[0]
    b = coef[1]
    for k in range(cuda.grid(1), lcoef.shape[0] * n, cuda.gridsize(1)):
        r = k // n
        _backward_element(hat, C, with_sc, dcoef, lcoef, a, b, out, r, k - r * n)


def _threads_for(n: int, threads: int) -> int:
    t = 32
    while t < min(n, threads):
        t *= 2
    return min(t, MAX_THREADS)


def spectral_forward(
    hat, tgt, C, eps, log_floor, with_sc, fast_log, dcoef, lcoef, part, stream=0, threads=128
) -> None:
    """Launch the forward on device arrays (arguments as :func:`.cpu.spectral_forward`)."""
    rows = hat.shape[0]
    if rows == 0:
        return
    nt = _threads_for(hat.shape[1] // C, threads)
    _forward_kernel[rows, nt, stream](hat, tgt, C, eps, log_floor, with_sc, fast_log, dcoef, lcoef, part)


def spectral_backward(
    hat, C, with_sc, dcoef, lcoef, coef, out, stream=0, threads=256, max_blocks=4096
) -> None:
    """Launch the backward; ``coef`` is a device array ``(a, b)``."""
    total = lcoef.shape[0] * lcoef.shape[1]
    if total == 0:
        return
    blocks = min(max_blocks, (total + threads - 1) // threads)
    _backward_kernel[blocks, threads, stream](hat, C, with_sc, dcoef, lcoef, coef, out)
