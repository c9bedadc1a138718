"""Augmentation kernels: RBJ biquad design (host), the per-item chain on CPU (numba njit,
serial over items) and its dispatch; the CUDA twin lives in :mod:`.augment_cuda`.

Ops:
- :func:`augment_batch` - the whole chain of :mod:`.augment_core` for ``(B, T)``;
- :func:`biquad_cascade` - just the filter cascade (the chain with gain 1, no noise, no
  limit), with :func:`biquad_cascade_torch` (``torchaudio.functional.lfilter`` chain) as
  its reference.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit

from ._backend import cuda_available, resolve_backend
from .augment_core import N_PARAMS, augment_item

# contract: let LLVM fuse multiply-adds (shorter recurrence latency); no reassociation
_augment_item_cpu = njit(cache=True, fastmath={"contract"})(augment_item)


# Deliberately serial: this runs inside forked DataLoader workers, where numba's OpenMP
# threading layer is not fork-safe once the parent process has used it (the losses do),
# and a worker handles one item anyway. Batches on the GPU go through augment_cuda.
@njit(cache=True)
def _augment_batch_cpu(x, out, params, sos, seeds):  # pragma: no cover - jitted
    for b in range(x.shape[0]):
        _augment_item_cpu(x[b], out[b], params[b], sos[b], seeds[b])


# ---------------------------------------------------------------------------------------
# RBJ audio-EQ-cookbook biquads, normalised to (b0, b1, b2, a1, a2) with a0 = 1

IDENTITY = np.array([1.0, 0.0, 0.0, 0.0, 0.0])


def rbj_biquad(kind: str, freq: float, sample_rate: float, gain_db: float = 0.0, q: float = 0.7071) -> np.ndarray:
    """One section of type ``peak | low_shelf | high_shelf | lowpass`` (Q form for shelves)."""
    w0 = 2.0 * math.pi * freq / sample_rate
    cw, alpha = math.cos(w0), math.sin(w0) / (2.0 * q)
    a_lin = 10.0 ** (gain_db / 40.0)
    sq = 2.0 * math.sqrt(a_lin) * alpha
    if kind == "peak":
        b = (1 + alpha * a_lin, -2 * cw, 1 - alpha * a_lin)
        a = (1 + alpha / a_lin, -2 * cw, 1 - alpha / a_lin)
    elif kind == "low_shelf":
        ap, am = a_lin + 1, a_lin - 1
        b = (a_lin * (ap - am * cw + sq), 2 * a_lin * (am - ap * cw), a_lin * (ap - am * cw - sq))
        a = (ap + am * cw + sq, -2 * (am + ap * cw), ap + am * cw - sq)
    elif kind == "high_shelf":
        ap, am = a_lin + 1, a_lin - 1
        b = (a_lin * (ap + am * cw + sq), -2 * a_lin * (am + ap * cw), a_lin * (ap + am * cw - sq))
        a = (ap - am * cw + sq, 2 * (am - ap * cw), ap - am * cw - sq)
    elif kind == "lowpass":
        b = ((1 - cw) / 2, 1 - cw, (1 - cw) / 2)
        a = (1 + alpha, -2 * cw, 1 - alpha)
    else:
        raise ValueError(f"biquad kind {kind!r}: expected peak | low_shelf | high_shelf | lowpass")
    return np.array([b[0], b[1], b[2], a[1], a[2]]) / a[0]


def butterworth_lowpass(cutoff: float, sample_rate: float, sections: int) -> np.ndarray:
    """Order-``2 * sections`` Butterworth low-pass as ``(sections, 5)`` biquads."""
    qs = [1.0 / (2.0 * math.sin((2 * i + 1) * math.pi / (4 * sections))) for i in range(sections)]
    return np.stack([rbj_biquad("lowpass", cutoff, sample_rate, q=q) for q in qs]) if sections else np.zeros((0, 5))


# ---------------------------------------------------------------------------------------
# dispatch


def _check(x: np.ndarray, params: np.ndarray, sos: np.ndarray, seeds: np.ndarray) -> None:
    b = x.shape[0]
    if params.shape != (b, N_PARAMS) or sos.ndim != 3 or sos.shape[0] != b or sos.shape[2] != 5 or seeds.shape != (b,):
        raise ValueError(
            f"augment_batch: x {x.shape} needs params ({b}, {N_PARAMS}), sos ({b}, S, 5), seeds ({b},); "
            f"got {params.shape}, {sos.shape}, {seeds.shape}"
        )


def augment_batch_numpy(x: np.ndarray, params: np.ndarray, sos: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """CPU kernel on numpy ``(B, T)``; returns float64 ``(B, T)``."""
    x = np.ascontiguousarray(x)
    params = np.ascontiguousarray(params, dtype=np.float64)
    sos = np.ascontiguousarray(sos, dtype=np.float64)
    seeds = np.ascontiguousarray(seeds, dtype=np.uint64)
    _check(x, params, sos, seeds)
    out = np.empty(x.shape, dtype=np.float64)
    _augment_batch_cpu(x, out, params, sos, seeds)
    return out


def augment_batch(x: torch.Tensor, params: np.ndarray, sos: np.ndarray, seeds: np.ndarray) -> torch.Tensor:
    """The chain on a ``(B, T)`` tensor: numba CPU kernel, or numba.cuda for a CUDA tensor
    when available. Same dtype and device out."""
    if x.device.type == "cuda" and cuda_available():
        from . import augment_cuda

        return augment_cuda.augment_batch_torch(x, params, sos, seeds)
    if x.device.type != "cpu":
        raise RuntimeError(f"augment_batch: no numba kernel for device {x.device}")
    out = augment_batch_numpy(x.detach().numpy(), params, sos, seeds)
    return torch.from_numpy(out).to(x.dtype)


def neutral_params(batch: int) -> tuple[np.ndarray, np.ndarray]:
    """Parameters and seeds of a chain that only filters: gain 1, no noise, no limit."""
    params = np.zeros((batch, N_PARAMS))
    params[:, 0] = 1.0
    return params, np.zeros(batch, dtype=np.uint64)


def biquad_cascade(x, sos, backend: str = "auto"):
    """Filter ``x`` ``(B, T)`` (numpy or torch) through ``sos`` ``(B, S, 5)`` or ``(S, 5)``.

    ``backend="torch"`` runs :func:`biquad_cascade_torch`. Returns the input's type/dtype.
    """
    is_torch = isinstance(x, torch.Tensor)
    xt = x if is_torch else torch.from_numpy(np.asarray(x))
    squeeze = xt.dim() == 1
    xt = xt[None] if squeeze else xt
    sos = np.asarray(sos, dtype=np.float64)
    sos = np.array(np.broadcast_to(sos, (xt.shape[0],) + sos.shape)) if sos.ndim == 2 else sos
    if resolve_backend(backend, xt) == "torch":
        out = biquad_cascade_torch(xt, torch.as_tensor(sos, dtype=xt.dtype, device=xt.device))
    else:
        params, seeds = neutral_params(xt.shape[0])
        out = augment_batch(xt, params, sos, seeds)
    out = out[0] if squeeze else out
    return out if is_torch else out.numpy()


def biquad_cascade_torch(x: torch.Tensor, sos: torch.Tensor) -> torch.Tensor:
    """Reference: ``torchaudio.functional.lfilter`` per section, no clamping. x (B, T), sos (B, S, 5)."""
    import torchaudio.functional as AF

    out = x
    one = torch.ones(sos.shape[0], 1, dtype=sos.dtype, device=sos.device)
    for s in range(sos.shape[1]):
        a = torch.cat([one, sos[:, s, 3:5]], dim=1)
        out = AF.lfilter(out, a, sos[:, s, 0:3], clamp=False, batching=True)
    return out
