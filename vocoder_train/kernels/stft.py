"""``torch.stft`` (centred, reflect padding, one-sided) with a hand-written backward.

The forward is ``torch.stft`` itself under ``no_grad``, so values are identical. The
backward is the STFT's adjoint in three cheap steps instead of autograd's graph
(reflect pad -> unfold -> window -> r2c FFT, whose backward runs a full-length c2c FFT
on a zero-filled spectrum, index_add and several copies):

1. per frame, ``dL/dframe_n = Re(sum_k G_k e^{+2 pi i k n / N})`` over the one-sided bins,
   i.e. ``N * irfft(H)`` with ``H = G`` but the bins 1..N/2-1 halved (irfft counts them twice);
2. times the window, overlap-added (a numba kernel on CPU, ``fold`` elsewhere);
3. the reflect padding's adjoint: folded edge samples are added back onto their mirrors.
"""

from __future__ import annotations

import torch
from numba import njit, prange

from ._backend import HAVE_NUMBA, sync_numba_threads


@njit(parallel=True, cache=True)
def _overlap_add_cpu(frames, window, hop, out):  # pragma: no cover - jitted
    """out[b, t * hop + n] += frames[b, t, n] * window[n]; out zeroed by the caller."""
    for b in prange(frames.shape[0]):
        for t in range(frames.shape[1]):
            o = t * hop
            for n in range(frames.shape[2]):
                out[b, o + n] += frames[b, t, n] * window[n]


def _overlap_add(fr: torch.Tensor, w: torch.Tensor, hop: int, padded_len: int) -> torch.Tensor:
    if fr.device.type == "cpu" and HAVE_NUMBA:
        sync_numba_threads()
        out = torch.zeros(fr.shape[0], padded_len, dtype=fr.dtype)
        _overlap_add_cpu(fr.contiguous().numpy(), w.numpy(), hop, out.numpy())
        return out
    return torch.nn.functional.fold(
        (fr * w).transpose(1, 2), output_size=(1, padded_len), kernel_size=(1, fr.shape[-1]), stride=(1, hop)
    ).reshape(fr.shape[0], padded_len)


class StftFunction(torch.autograd.Function):
    """x (B, L) -> complex (B, n_fft // 2 + 1, frames); window (win_length,) gets no gradient."""

    @staticmethod
    def forward(ctx, x, n_fft: int, hop: int, win_length: int, window):
        with torch.no_grad():
            s = torch.stft(x, n_fft, hop, win_length, window, center=True, pad_mode="reflect", return_complex=True)
        ctx.save_for_backward(window)
        ctx.meta = (n_fft, hop, win_length, x.shape[-1], s.shape[-1])
        return s

    @staticmethod
    def backward(ctx, g):
        (window,) = ctx.saved_tensors
        n_fft, hop, win_length, length, frames = ctx.meta
        pad = n_fft // 2
        n_bins = n_fft // 2 + 1
        scale = torch.full((n_bins,), 0.5 * n_fft, dtype=window.dtype, device=g.device)
        scale[0] = n_fft
        if n_fft % 2 == 0:
            scale[-1] = n_fft
        # (B, F, T) -> frames (B, T, n_fft): dL/dframe = N * irfft(H)
        h = g.transpose(1, 2) * scale
        fr = torch.fft.irfft(h, n=n_fft, dim=-1)
        left = (n_fft - win_length) // 2
        w = torch.zeros(n_fft, dtype=fr.dtype, device=fr.device)
        w[left : left + win_length] = window
        padded_len = length + 2 * pad
        gpad = _overlap_add(fr, w, hop, padded_len)
        gx = gpad[:, pad : pad + length].clone()
        gx[:, 1 : pad + 1] += gpad[:, :pad].flip(-1)
        gx[:, length - 1 - pad : length - 1] += gpad[:, pad + length :].flip(-1)
        return gx, None, None, None, None


def stft(x: torch.Tensor, n_fft: int, hop: int, win_length: int, window: torch.Tensor) -> torch.Tensor:
    """Centred reflect-padded one-sided STFT of x (B, L); gradient by :class:`StftFunction`."""
    if x.requires_grad and x.dim() == 2 and torch.is_grad_enabled():
        return StftFunction.apply(x, n_fft, hop, win_length, window)
    return torch.stft(x, n_fft, hop, win_length, window, center=True, pad_mode="reflect", return_complex=True)
