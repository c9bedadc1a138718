"""Spectral-loss terms: torch reference, autograd.Function over the numba kernels
(:mod:`.cpu`, :mod:`.cuda`), dispatch.

Definitions (``m_hat``, ``m``: magnitudes of prediction and target, any shape, N elements):

- spectral convergence ``sc = ||m - m_hat||_F / ||m||_F``, norms over the whole tensor
  (batch included), as auraloss' ``SpectralConvergenceLoss``;
- log-magnitude L1 ``mag = mean |log(max(m_hat, log_floor)) - log(max(m, log_floor))|``.

Magnitudes are either given (``stft_magnitude_loss``, ``log_mel_l1``) or computed from a
complex STFT as ``sqrt(max(re^2 + im^2, eps))`` inside the kernel (``stft_complex_loss``;
``eps = 1e-8`` is auraloss' ``STFTLoss`` convention and keeps the gradient finite on
silence: it is 0 wherever the power is below ``eps``). Gradients follow torch's
conventions: ``clamp`` passes the gradient where ``x >= floor``, ``|0|`` has slope 0, and
the gradient of ``sc`` is 0 when ``m_hat == m`` everywhere.
"""

from __future__ import annotations

import torch

from vocoder_train.dsp import LOG_FLOOR

from .._backend import cuda_device, cuda_stream_and_arrays, resolve_backend, sync_numba_threads

# ---------------------------------------------------------------------------------------
# torch reference


def spectral_terms_torch(
    hat: torch.Tensor, tgt: torch.Tensor, *, complex_input: bool, eps: float, log_floor: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pure-torch reference. ``complex_input``: ``hat``/``tgt`` are ``(..., 2)`` real views."""
    if complex_input:
        m_hat = torch.sqrt(torch.clamp(hat.pow(2).sum(-1), min=eps))
        m = torch.sqrt(torch.clamp(tgt.pow(2).sum(-1), min=eps))
    else:
        m_hat, m = hat, tgt
    sc = torch.linalg.vector_norm(m - m_hat) / torch.linalg.vector_norm(m)
    mag = (
        (torch.log(torch.clamp(m_hat, min=log_floor)) - torch.log(torch.clamp(m, min=log_floor))).abs().mean()
    )
    return sc, mag


# ---------------------------------------------------------------------------------------
# memory-order views shared by the CPU and CUDA paths


def _memory_order(t: torch.Tensor) -> list[int]:
    """Dimension order from the largest stride to the smallest (torch.stft returns a
    transposed view; the kernels are element-wise, so they can run in memory order)."""
    return sorted(range(t.dim()), key=lambda d: (-t.stride(d), d))


MIN_ROW = 512  # rows at least this long: long inner loops, few partial sums


def _rows(t: torch.Tensor, perm: list[int]) -> torch.Tensor:
    """``t`` in memory order as ``(rows, L)``; L is a product of trailing dims, so (re, im)
    pairs never straddle rows."""
    v = t.permute(perm).contiguous()
    length = 1
    for size in reversed(v.shape):
        length *= size
        if length >= MIN_ROW:
            break
    return v.reshape(-1, max(length, 1))


def _launch_forward(
    kind: str, hat2: torch.Tensor, tgt2: torch.Tensor, C: int, eps: float, log_floor: float, with_sc: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> (dcoef, lcoef, the three sums); ``kind`` is ``"cpu"`` or ``"cuda"``."""
    R, n = hat2.shape[0], hat2.shape[1] // C
    lcoef = torch.empty((R, n), dtype=hat2.dtype, device=hat2.device)
    dcoef = torch.empty((R, n) if with_sc else (1, 1), dtype=hat2.dtype, device=hat2.device)
    part = torch.empty((R, 3), dtype=torch.float64, device=hat2.device)
    fast_log = hat2.dtype == torch.float32
    if kind == "cpu":
        from . import cpu

        sync_numba_threads()
        cpu.spectral_forward(
            hat2.numpy(),
            tgt2.numpy(),
            C,
            eps,
            log_floor,
            with_sc,
            fast_log,
            dcoef.numpy(),
            lcoef.numpy(),
            part.numpy(),
        )
    else:
        from . import cuda

        with cuda_device(hat2):
            stream, arrs = cuda_stream_and_arrays(hat2, tgt2, dcoef, lcoef, part)
            cuda.spectral_forward(*arrs[:2], C, eps, log_floor, with_sc, fast_log, *arrs[2:], stream=stream)
    return dcoef, lcoef, part.sum(0)


def _launch_backward(
    kind: str,
    hat2: torch.Tensor,
    C: int,
    with_sc: bool,
    dcoef: torch.Tensor,
    lcoef: torch.Tensor,
    coef: torch.Tensor,
) -> torch.Tensor:
    """-> gradient rows shaped as ``hat2``; ``coef`` holds ``(a, b)`` on the device."""
    out = torch.empty_like(hat2)
    if kind == "cpu":
        from . import cpu

        sync_numba_threads()
        a, b = (float(c) for c in coef.tolist())
        cpu.spectral_backward(hat2.numpy(), C, with_sc, dcoef.numpy(), lcoef.numpy(), a, b, out.numpy())
    else:
        from . import cuda

        with cuda_device(hat2):
            stream, (h, d, lc, cf, o) = cuda_stream_and_arrays(hat2, dcoef, lcoef, coef, out)
            cuda.spectral_backward(h, C, with_sc, d, lc, cf, o, stream=stream)
    return out


class SpectralTermsFunction(torch.autograd.Function):
    """(hat, tgt) -> (sc, mag); forward and backward in the numba kernels.

    ``kind`` is ``"cpu"`` or ``"cuda"``. ``tgt`` gets no gradient (it is the reference).
    """

    @staticmethod
    def forward(ctx, hat, tgt, complex_input: bool, eps: float, log_floor: float, with_sc: bool, kind: str):
        C = 2 if complex_input else 1
        perm = _memory_order(hat)
        hat2, tgt2 = _rows(hat.detach(), perm), _rows(tgt.detach(), perm)
        if hat2.numel() == 0:
            raise ValueError(
                f"spectral loss of an empty tensor of shape {tuple(hat.shape)}: check that the audio is "
                "at least one STFT frame long"
            )
        dcoef, lcoef, sums = _launch_forward(kind, hat2, tgt2, C, float(eps), float(log_floor), with_sc)
        n_mag = lcoef.numel()
        nd, nx = sums[0].sqrt(), sums[1].sqrt()
        sc = nd / nx
        mag = sums[2] / n_mag
        # d sc / d m_hat = (m_hat - m) / (nd * nx); 0 when nd == 0 (torch's norm convention)
        a_scale = torch.where(nd > 0, 1.0 / (nd * nx), torch.zeros_like(nd))
        ctx.save_for_backward(hat2 if C == 2 else hat2[:0], dcoef, lcoef, a_scale)
        ctx.meta = (C, with_sc, kind, perm, tuple(hat.shape), n_mag)
        return sc.to(hat.dtype), mag.to(hat.dtype)

    @staticmethod
    def backward(ctx, g_sc, g_mag):
        hat2, dcoef, lcoef, a_scale = ctx.saved_tensors
        C, with_sc, kind, perm, shape, n_mag = ctx.meta
        if g_sc is None:
            g_sc = torch.zeros((), dtype=torch.float64, device=lcoef.device)
        if g_mag is None:
            g_mag = torch.zeros((), dtype=torch.float64, device=lcoef.device)
        coef = torch.stack([g_sc.double() * a_scale, g_mag.double() / n_mag])
        if C == 1:
            hat2 = lcoef  # unused by the kernel in magnitude mode; any array of the right rank
        out2 = _launch_backward(kind, hat2, C, with_sc, dcoef, lcoef, coef)
        permuted_shape = [shape[d] for d in perm]
        inv = [perm.index(d) for d in range(len(perm))]
        grad = out2.reshape(permuted_shape).permute(inv)
        return grad, None, None, None, None, None, None


# ---------------------------------------------------------------------------------------
# dispatch


def spectral_terms(
    hat: torch.Tensor,
    tgt: torch.Tensor,
    *,
    complex_input: bool = False,
    eps: float = 1e-8,
    log_floor: float = LOG_FLOOR,
    with_sc: bool = True,
    backend: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Dispatch to the numba kernels (CPU or CUDA) or the torch reference; returns (sc, mag)."""
    if hat.shape != tgt.shape:
        raise ValueError(f"prediction {tuple(hat.shape)} and target {tuple(tgt.shape)} differ in shape")
    kind = resolve_backend(backend, hat)
    if kind == "torch" or hat.dtype not in (torch.float32, torch.float64):
        return spectral_terms_torch(hat, tgt, complex_input=complex_input, eps=eps, log_floor=log_floor)
    return SpectralTermsFunction.apply(hat, tgt.to(hat.dtype), complex_input, eps, log_floor, with_sc, kind)


def stft_magnitude_loss(
    x_hat: torch.Tensor, x: torch.Tensor, log_floor: float = LOG_FLOOR, backend: str = "auto"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Magnitudes (B, F, T) -> (spectral convergence, log-magnitude L1), fused in one pass."""
    return spectral_terms(x_hat, x, eps=0.0, log_floor=log_floor, backend=backend)


def stft_complex_loss(
    s_hat: torch.Tensor, s: torch.Tensor, eps: float = 1e-8, log_floor: float = 0.0, backend: str = "auto"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Complex STFTs (B, F, T) -> (sc, log-mag L1) with ``|s| = sqrt(max(re^2+im^2, eps))``.

    Defaults are auraloss' ``STFTLoss`` (eps 1e-8 on the power, no extra log clamp).
    """
    return spectral_terms(
        torch.view_as_real(s_hat),
        torch.view_as_real(s),
        complex_input=True,
        eps=eps,
        log_floor=log_floor,
        backend=backend,
    )


def log_mel_l1(
    m_hat: torch.Tensor, m: torch.Tensor, floor: float = LOG_FLOOR, backend: str = "auto"
) -> torch.Tensor:
    """Linear mel magnitudes (B, n_mels, T) -> mean |log(max(m_hat, floor)) - log(max(m, floor))|."""
    return spectral_terms(m_hat, m, eps=0.0, log_floor=floor, with_sc=False, backend=backend)[1]
