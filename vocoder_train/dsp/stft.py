"""``torch.stft`` (centred, reflect padding, one-sided) with a hand-written backward.

The forward is ``torch.stft`` itself under ``no_grad``, so values are identical. The
backward is the STFT's adjoint in three cheap steps instead of autograd's graph
(reflect pad -> unfold -> window -> r2c FFT, whose backward runs a full-length c2c FFT
on a zero-filled spectrum, index_add and several copies):

1. per frame, ``dL/dframe_n = Re(sum_k G_k e^{+2 pi i k n / N})`` over the one-sided bins,
   i.e. ``N * irfft(H)`` with ``H = G`` but the bins 1..N/2-1 halved (irfft counts them twice);
2. times the window, overlap-added by :func:`vocoder_train.dsp.framing.overlap_add`;
3. the reflect padding's adjoint: folded edge samples are added back onto their mirrors.

No numba kernel: a numba overlap-add beats ``fold`` only at the MR-STFT loss's sizes, which no
shipped experiment uses, and not dsp's shifted adds at the mel loss's 1024/256: too little to
carry a CPU and a CUDA kernel for (``make bench ARGS="--only kernels"`` measures the losses).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vocoder_train.dsp.framing import overlap_add


class StftFunction(torch.autograd.Function):
    """x (B, L) -> complex (B, n_fft // 2 + 1, frames); window (win_length,) gets no gradient."""

    @staticmethod
    def forward(ctx, x, n_fft: int, hop: int, win_length: int, window):
        with torch.no_grad():
            s = torch.stft(
                x, n_fft, hop, win_length, window, center=True, pad_mode="reflect", return_complex=True
            )
        ctx.save_for_backward(window)
        ctx.meta = (n_fft, hop, win_length, x.shape[-1])
        return s

    @staticmethod
    def backward(ctx, g):
        (window,) = ctx.saved_tensors
        n_fft, hop, win_length, length = ctx.meta
        pad = n_fft // 2
        n_bins = n_fft // 2 + 1
        scale = torch.full((n_bins,), 0.5 * n_fft, dtype=window.dtype, device=g.device)
        scale[0] = n_fft
        if n_fft % 2 == 0:
            scale[-1] = n_fft
        # (B, F, T) -> frames (B, T, n_fft): dL/dframe = N * irfft(H)
        fr = torch.fft.irfft(g.transpose(1, 2) * scale, n=n_fft, dim=-1)
        left = (n_fft - win_length) // 2
        w = torch.zeros(n_fft, dtype=fr.dtype, device=fr.device)
        w[left : left + win_length] = window
        ola = overlap_add(fr * w, hop)
        gpad = F.pad(
            ola, (0, length + 2 * pad - ola.shape[-1])
        )  # the frames may stop short of the padded end
        gx = gpad[:, pad : pad + length].clone()
        gx[:, 1 : pad + 1] += gpad[:, :pad].flip(-1)
        gx[:, length - 1 - pad : length - 1] += gpad[:, pad + length :].flip(-1)
        return gx, None, None, None, None


def stft(x: torch.Tensor, n_fft: int, hop: int, win_length: int, window: torch.Tensor) -> torch.Tensor:
    """Centred reflect-padded one-sided STFT of x (B, L); gradient by :class:`StftFunction`."""
    if x.requires_grad and x.dim() == 2 and torch.is_grad_enabled():
        return StftFunction.apply(x, n_fft, hop, win_length, window)
    return torch.stft(x, n_fft, hop, win_length, window, center=True, pad_mode="reflect", return_complex=True)
