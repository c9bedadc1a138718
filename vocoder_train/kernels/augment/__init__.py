"""Augmentation chain: RBJ biquad design (host), torch reference, dispatch to the numba
kernels (:mod:`.cpu`, :mod:`.cuda`).

Ops:
- :func:`augment_batch` - the whole chain (gain, biquad cascade, seeded noise, peak limit;
  defined in :mod:`.cpu`) on ``(B, T)``, with :func:`augment_batch_torch` as its reference;
- :func:`biquad_cascade` - just the filter cascade (the chain with gain 1, no noise, no
  limit), with :func:`biquad_cascade_torch` (``torchaudio.functional.lfilter`` chain) as
  its reference.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._backend import cuda_device, cuda_stream_and_arrays, resolve_backend

N_PARAMS = 5  # per item: (gain, noise_on, noise_color 0/1/2, snr_db, peak_limit or 0)
IDENTITY = np.array([1.0, 0.0, 0.0, 0.0, 0.0])  # (b0, b1, b2, a1, a2) of a pass-through section
# the noise colouring of .cpu.add_noise, restated for the torch reference
PINK_POLES = ((0.99765, 0.0990460), (0.96300, 0.2965164), (0.57000, 1.0526913))  # (pole, gain): Kellet's
PINK_DIRECT = 0.1848
BROWN_POLE = 0.995

# ---------------------------------------------------------------------------------------
# RBJ audio-EQ-cookbook biquads, normalised to (b0, b1, b2, a1, a2) with a0 = 1


def rbj_biquad(
    kind: str, freq: float, sample_rate: float, gain_db: float = 0.0, q: float = 0.7071
) -> np.ndarray:
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
    return (
        np.stack([rbj_biquad("lowpass", cutoff, sample_rate, q=q) for q in qs])
        if sections
        else np.zeros((0, 5))
    )


# ---------------------------------------------------------------------------------------
# torch references


def biquad_cascade_torch(x: torch.Tensor, sos: torch.Tensor) -> torch.Tensor:
    """Reference: ``torchaudio.functional.lfilter`` per section, no clamping. x (B, T), sos (B, S, 5)."""
    import torchaudio.functional as AF

    out = x
    one = torch.ones(sos.shape[0], 1, dtype=sos.dtype, device=sos.device)
    for s in range(sos.shape[1]):
        a = torch.cat([one, sos[:, s, 3:5]], dim=1)
        out = AF.lfilter(out, a, sos[:, s, 0:3], clamp=False, batching=True)
    return out


def _as_int64(v: int) -> int:
    """A 64-bit pattern as the int64 with the same bits (torch has no uint64 arithmetic)."""
    return v - (1 << 64) if v >= 1 << 63 else v


def _shr(z: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 bit patterns (torch's ``>>`` is arithmetic)."""
    return (z >> s) & ((1 << (64 - s)) - 1)


def _hash53(seeds: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Top 53 bits of splitmix64(seed + k * golden) as float64; int64 arithmetic wraps like uint64."""
    z = seeds[:, None] + k * _as_int64(0x9E3779B97F4A7C15)
    z = (z ^ _shr(z, 30)) * _as_int64(0xBF58476D1CE4E5B9)
    z = (z ^ _shr(z, 27)) * _as_int64(0x94D049BB133111EB)
    return _shr(z ^ _shr(z, 31), 11).double()


def _one_pole(w: torch.Tensor, pole: float, gain: float) -> torch.Tensor:
    """``c[n] = pole * c[n - 1] + gain * w[n]``."""
    import torchaudio.functional as AF

    a = torch.tensor([1.0, -pole], dtype=w.dtype, device=w.device)
    b = torch.tensor([gain, 0.0], dtype=w.dtype, device=w.device)
    return AF.lfilter(w, a, b, clamp=False)


def noise_torch(seeds: np.ndarray, length: int, colors: torch.Tensor) -> torch.Tensor:
    """The chain's noise (B, length) float64: Box-Muller over the seeded hash, coloured per item."""
    dev = colors.device
    s = torch.as_tensor(np.ascontiguousarray(seeds, dtype=np.uint64).view(np.int64)).to(dev)
    k = 2 * torch.arange(length, dtype=torch.int64, device=dev) + 1
    inv53 = 2.0**-53
    u1 = (_hash53(s, k) + 1.0) * inv53  # (0, 1]: log(u1) is finite
    u2 = _hash53(s, k + 1) * inv53
    w = torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2.0 * math.pi * u2)
    c = [_one_pole(w, pole, gain) for pole, gain in PINK_POLES]
    pink = c[0] + c[1] + c[2] + w * PINK_DIRECT
    brown = _one_pole(w, BROWN_POLE, 1.0)
    col = colors[:, None]
    return torch.where(col == 1, pink, torch.where(col == 2, brown, w))


def augment_batch_torch(
    x: torch.Tensor, params: np.ndarray, sos: np.ndarray, seeds: np.ndarray
) -> torch.Tensor:
    """Reference for the whole chain on x (B, T); float64 out."""
    p = torch.as_tensor(np.array(params, dtype=np.float64), device=x.device)
    out = biquad_cascade_torch(
        x.double() * p[:, :1], torch.as_tensor(np.array(sos, dtype=np.float64), device=x.device)
    )
    noise = noise_torch(seeds, x.shape[-1], p[:, 2])
    ps, pn = out.pow(2).sum(-1), noise.pow(2).sum(-1)
    on = (p[:, 1] != 0) & (ps > 0) & (pn > 0)  # silence: no SNR to speak of, add nothing
    scale = torch.where(on, torch.sqrt(ps / (pn * 10.0 ** (p[:, 3] / 10.0))), torch.zeros_like(ps))
    out = out + scale[:, None] * noise
    limit, peak = p[:, 4], out.abs().amax(-1)
    gain = torch.where((limit > 0) & (peak > limit), limit / peak, torch.ones_like(peak))
    return out * gain[:, None]


# ---------------------------------------------------------------------------------------
# dispatch


def _check(x: torch.Tensor, params: np.ndarray, sos: np.ndarray, seeds: np.ndarray) -> None:
    if x.dim() != 2:
        raise ValueError(f"augment_batch: x {tuple(x.shape)} must be (B, T); pass one item as x[None]")
    b = x.shape[0]
    if params.shape != (b, N_PARAMS) or sos.ndim != 3 or sos.shape[0] != b or sos.shape[2] != 5:
        raise ValueError(
            f"augment_batch: x {tuple(x.shape)} needs params ({b}, {N_PARAMS}) and sos ({b}, S, 5); "
            f"got params {params.shape}, sos {sos.shape}"
        )
    if seeds.shape != (b,):
        raise ValueError(f"augment_batch: seeds {seeds.shape} must be ({b},), one per item")


def _pad_sections(sos: np.ndarray) -> np.ndarray:
    """``sos`` (B, S, 5) padded with identity sections to a multiple of 4 (the kernels run four at a time)."""
    extra = -sos.shape[1] % 4
    pad = np.broadcast_to(IDENTITY, (sos.shape[0], extra, 5))
    return np.ascontiguousarray(np.concatenate([sos, pad], axis=1), dtype=np.float64)


def _launch_cpu(x: torch.Tensor, params: np.ndarray, sos: np.ndarray, seeds: np.ndarray) -> torch.Tensor:
    from . import cpu

    out = torch.empty(x.shape, dtype=torch.float64)
    cpu.augment_batch(x.detach().contiguous().numpy(), out.numpy(), params, sos, seeds)
    return out


def _launch_cuda(x: torch.Tensor, params: np.ndarray, sos: np.ndarray, seeds: np.ndarray) -> torch.Tensor:
    """On torch's current stream; the seeds' bits travel as int64 (torch has no uint64 kernels)."""
    from . import cuda

    dev = x.device
    x = x.detach().contiguous()
    out = torch.empty(x.shape, dtype=torch.float64, device=dev)
    p = torch.as_tensor(params).to(dev, non_blocking=True)
    s = torch.as_tensor(sos).to(dev, non_blocking=True)
    sd = torch.as_tensor(seeds.view(np.int64)).to(dev, non_blocking=True)
    with cuda_device(x):
        stream, (xa, oa, pa, sa, sda) = cuda_stream_and_arrays(x, out, p, s, sd)
        cuda.augment_batch(xa, oa, pa, sa, sda.view(np.uint64), stream=stream)
    return out


def augment_batch(
    x: torch.Tensor, params: np.ndarray, sos: np.ndarray, seeds: np.ndarray, backend: str = "auto"
) -> torch.Tensor:
    """The chain on ``x (B, T)`` with ``params (B, 5)``, ``sos (B, S, 5)``, ``seeds (B,)``:
    the numba CPU or CUDA kernel, or :func:`augment_batch_torch`. Same dtype and device out."""
    params = np.ascontiguousarray(params, dtype=np.float64)
    sos = np.ascontiguousarray(sos, dtype=np.float64)
    seeds = np.ascontiguousarray(seeds, dtype=np.uint64)
    _check(x, params, sos, seeds)
    kind = resolve_backend(backend, x)
    if kind == "torch":
        return augment_batch_torch(x, params, sos, seeds).to(x.dtype)
    launch = _launch_cpu if kind == "cpu" else _launch_cuda
    return launch(x, params, _pad_sections(sos), seeds).to(x.dtype)


def neutral_params(batch: int) -> tuple[np.ndarray, np.ndarray]:
    """Parameters and seeds of a chain that only filters: gain 1, no noise, no limit."""
    params = np.zeros((batch, N_PARAMS))
    params[:, 0] = 1.0
    return params, np.zeros(batch, dtype=np.uint64)


def biquad_cascade(
    x: np.ndarray | torch.Tensor, sos: np.ndarray, backend: str = "auto"
) -> np.ndarray | torch.Tensor:
    """Filter ``x`` ``(B, T)`` or ``(T,)`` (numpy or torch) through ``sos`` ``(B, S, 5)`` or ``(S, 5)``.

    The chain of :func:`augment_batch` with :func:`neutral_params`. Returns the input's type and dtype.
    """
    is_torch = isinstance(x, torch.Tensor)
    xt = x if is_torch else torch.from_numpy(np.asarray(x))
    squeeze = xt.dim() == 1
    xt = xt[None] if squeeze else xt
    sos = np.asarray(sos, dtype=np.float64)
    sos = np.broadcast_to(sos, (xt.shape[0],) + sos.shape) if sos.ndim == 2 else sos
    params, seeds = neutral_params(xt.shape[0])
    out = augment_batch(xt, params, sos, seeds, backend)
    out = out[0] if squeeze else out
    return out if is_torch else out.numpy()
