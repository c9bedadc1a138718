"""numba.cuda kernels mirroring :mod:`.spectral_cpu` (same layout, same arithmetic).

Imported only when a CUDA tensor (or the simulator test) needs it. The launchers take
anything numba.cuda accepts as a device array: ``cuda.as_cuda_array(torch_tensor)`` on a
GPU, plain numpy arrays under ``NUMBA_ENABLE_CUDASIM=1``.

Forward: one block per row; threads stride over the row (coalesced) and reduce the three
partial sums in shared memory. Backward: a flat grid-stride loop; the two scale factors
are read from a device array so that no host synchronisation is needed.
"""

from __future__ import annotations

import math

from numba import cuda, float32, float64

MAX_THREADS = 256  # shared-memory size; threads per block must be a power of two <= this


@cuda.jit
def _forward_kernel(hat, tgt, C, eps, log_floor, with_sc, fast_log, dcoef, lcoef, part):  # pragma: no cover
    r = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    n = hat.shape[1] // C
    sh = cuda.shared.array((3, MAX_THREADS), float64)
    s_dd = 0.0
    s_tt = 0.0
    s_l = 0.0
    if r < hat.shape[0]:
        for j in range(tid, n, nt):
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
                dl = float64(math.log(float32(mh_c / mt_c)))
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
    sh[0, tid] = s_dd
    sh[1, tid] = s_tt
    sh[2, tid] = s_l
    cuda.syncthreads()
    step = nt // 2
    while step > 0:
        if tid < step:
            sh[0, tid] += sh[0, tid + step]
            sh[1, tid] += sh[1, tid + step]
            sh[2, tid] += sh[2, tid + step]
        cuda.syncthreads()
        step //= 2
    if tid == 0 and r < hat.shape[0]:
        part[r, 0] = sh[0, 0]
        part[r, 1] = sh[1, 0]
        part[r, 2] = sh[2, 0]


@cuda.jit
def _backward_kernel(hat, C, with_sc, dcoef, lcoef, coef, out):  # pragma: no cover
    n = lcoef.shape[1]
    total = lcoef.shape[0] * n
    a = coef[0]
    b = coef[1]
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for k in range(start, total, stride):
        r = k // n
        j = k - r * n
        g = b * float64(lcoef[r, j])
        if with_sc:
            g += a * float64(dcoef[r, j])
        if C == 2:
            out[r, 2 * j] = g * hat[r, 2 * j]
            out[r, 2 * j + 1] = g * hat[r, 2 * j + 1]
        else:
            out[r, j] = g


def _threads_for(n: int, threads: int) -> int:
    t = 32
    while t < min(n, threads):
        t *= 2
    return min(t, MAX_THREADS)


def spectral_forward(hat, tgt, C, eps, log_floor, with_sc, fast_log, dcoef, lcoef, part, stream=0, threads=128):
    """Launch the fused forward on device arrays (see :func:`.spectral_cpu.spectral_forward`)."""
    rows = hat.shape[0]
    if rows == 0:
        return
    nt = _threads_for(hat.shape[1] // C, threads)
    _forward_kernel[rows, nt, stream](hat, tgt, C, eps, log_floor, with_sc, fast_log, dcoef, lcoef, part)


def spectral_backward(hat, C, with_sc, dcoef, lcoef, coef, out, stream=0, threads=256, max_blocks=4096):
    """Launch the backward; ``coef`` is a device array ``(a, b)``."""
    total = lcoef.shape[0] * lcoef.shape[1]
    if total == 0:
        return
    blocks = min(max_blocks, (total + threads - 1) // threads)
    _backward_kernel[blocks, threads, stream](hat, C, with_sc, dcoef, lcoef, coef, out)
