"""numba.cuda twin of :mod:`.augment`: the same per-item chain as a device function, one
thread per batch item (each item's filters are sequential recurrences).

Imported lazily. :func:`augment_batch_device` takes device arrays (numpy arrays under
``NUMBA_ENABLE_CUDASIM=1``); :func:`augment_batch_torch` wraps CUDA tensors in place and
runs on torch's current stream. Parameters come from the host (a few numbers an item);
the noise is generated on the device by the counter-based hash.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import cuda

from .augment_core import augment_item

_augment_item_dev = cuda.jit(device=True)(augment_item)


@cuda.jit
def _augment_kernel(x, out, params, sos, seeds):  # pragma: no cover - device code
    b = cuda.grid(1)
    if b < x.shape[0]:
        _augment_item_dev(x[b], out[b], params[b], sos[b], seeds[b])


def augment_batch_device(x, out, params, sos, seeds, stream=0, threads: int = 32) -> None:
    """Launch on device arrays: x (B, T), out (B, T) float64, params (B, 5), sos (B, S, 5), seeds (B,) uint64."""
    batch = x.shape[0]
    if batch:
        _augment_kernel[(batch + threads - 1) // threads, threads, stream](x, out, params, sos, seeds)


def augment_batch_torch(x: torch.Tensor, params: np.ndarray, sos: np.ndarray, seeds: np.ndarray) -> torch.Tensor:
    """CUDA tensor (B, T) -> augmented tensor, same dtype, on torch's current stream."""
    from ._backend import cuda_device, cuda_stream_and_arrays

    dev = x.device
    x = x.detach().contiguous()
    out = torch.empty(x.shape, dtype=torch.float64, device=dev)
    p = torch.as_tensor(np.ascontiguousarray(params, dtype=np.float64)).to(dev, non_blocking=True)
    s = torch.as_tensor(np.ascontiguousarray(sos, dtype=np.float64)).to(dev, non_blocking=True)
    # torch has no uint64 kernels to speak of; carry the seeds' bits as int64 and reinterpret
    sd = torch.as_tensor(np.ascontiguousarray(seeds, dtype=np.uint64).view(np.int64)).to(dev, non_blocking=True)
    with cuda_device(x):
        stream, (xa, oa, pa, sa, sda) = cuda_stream_and_arrays(x, out, p, s, sd)
        augment_batch_device(xa, oa, pa, sa, sda.view(np.uint64), stream=stream)
    return out.to(x.dtype)
