"""Framing on a vocos ISTFT head's grid: the trim rule, the frame count a mel front end gives,
the STFT on that grid, overlap-add with its window envelope, and the ISTFT built from them.

A vocos ISTFT with ``L`` frames overlap-adds ``(L - 1) * hop + n_fft`` samples and drops
:func:`istft_trim` samples from each end, so frame ``l`` covers samples
``[l * hop - trim, l * hop - trim + n_fft)`` of the output. :func:`head_stft` is the analysis on
that grid (zeros outside the signal), :func:`istft` the synthesis (``vocos.spectral_ops.ISTFT``
with ``win_length = n_fft``); the two invert each other on consistent spectra.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

PADDINGS = ("same", "center")


def istft_trim(n_fft: int, hop: int, padding: str) -> int:
    """Samples a vocos ISTFT drops from each end of its overlap-added frames.

    "same": ``(n_fft - hop) // 2`` (output ``L * hop`` samples when ``n_fft - hop`` is even);
    "center": ``n_fft // 2`` (output ``(L - 1) * hop``, as ``torch.istft(center=True)``).
    """
    if padding == "same":
        return (n_fft - hop) // 2
    if padding == "center":
        return n_fft // 2
    raise ValueError(f"padding={padding!r}: vocos' padding is one of {PADDINGS}")


def expected_frames(num_samples: int, hop_length: int, n_fft: int, padding: str = "center") -> int:
    """Frames a mel front end gives for ``num_samples`` samples: the signal padded by
    :func:`istft_trim` a side, then framed by ``n_fft`` every ``hop_length``.

    "center" (vocos' ``MelSpectrogramFeatures``, ``torch.stft(center=True)``): ``T // hop + 1``
    for even ``n_fft``; "same" (HiFi-GAN style, no centering): ``T // hop`` when ``n_fft - hop``
    is even. Never below 0.
    """
    pad = istft_trim(n_fft, hop_length, padding)
    return max(0, (num_samples + 2 * pad - n_fft) // hop_length + 1)


def trim_ends(x: torch.Tensor, trim: int) -> torch.Tensor:
    """(..., T) -> (..., T - 2 * trim): ``trim`` samples off each end of the last axis."""
    return x[..., trim:-trim] if trim else x


def head_stft(audio: torch.Tensor, window: torch.Tensor, n_fft: int, hop: int, padding: str, frames: int) -> torch.Tensor:
    """audio (B, T) -> complex STFT (B, n_fft // 2 + 1, frames) on a vocos ISTFT's frame grid:
    frame ``l`` starts at ``l * hop - istft_trim(n_fft, hop, padding)``; zeros outside the signal."""
    pad = istft_trim(n_fft, hop, padding)
    need = (frames - 1) * hop + n_fft
    right = max(0, need - audio.shape[-1] - pad)
    x = F.pad(audio, (pad, right))[..., :need]
    return torch.fft.rfft(x.unfold(-1, n_fft, hop) * window, dim=-1).transpose(-1, -2)


def overlap_add(frames: torch.Tensor, hop: int) -> torch.Tensor:
    """frames (B, L, N) -> (B, (L - 1) * hop + N): frame ``l`` added at sample ``l * hop``.

    When ``hop`` divides N this is N / hop shifted adds of (B, L, hop) blocks (no ``col2im``);
    otherwise ``F.fold``.
    """
    B, L, N = frames.shape
    if N % hop:
        return F.fold(frames.transpose(1, 2), (1, (L - 1) * hop + N), (1, N), stride=(1, hop))[:, 0, 0]
    r = N // hop
    chunks = frames.reshape(B, L, r, hop)
    out = frames.new_zeros(B, L + r - 1, hop)
    for j in range(r):
        out[:, j : j + L] += chunks[:, :, j]
    return out.reshape(B, -1)


def overlap_add_basis(coeffs: torch.Tensor, basis: torch.Tensor, hop: int) -> torch.Tensor:
    """coeffs (B, C, L), basis (C, N) -> (B, (L - 1) * hop + N): frame ``l`` is
    ``sum_c coeffs[:, c, l] * basis[c]``, overlap-added at ``l * hop``.

    One ``conv_transpose1d``: a linear map applied to each frame and the overlap-add in one op,
    with the time axis dynamic in traced TorchScript/ONNX graphs (:func:`overlap_add` is the
    faster eager form for frames already synthesized).
    """
    return F.conv_transpose1d(coeffs, basis.unsqueeze(1), stride=hop)[:, 0]


def window_envelope(window: torch.Tensor, hop: int, frames: int) -> torch.Tensor:
    """window (N,) -> ((frames - 1) * hop + N,): the overlap-added squared window, by which an
    ISTFT divides. Traceable: ``frames`` taken from a tensor's shape stays dynamic in graphs."""
    return overlap_add_basis(window.new_ones(1, 1, frames), window.square()[None], hop)[0]


def istft(spec: torch.Tensor, window: torch.Tensor, hop: int, padding: str, freq_dim: int = -2,
          envelope: torch.Tensor | None = None) -> torch.Tensor:
    """vocos' ISTFT (``win_length = n_fft = window.numel()``): complex (B, K, L) with the
    K = n_fft // 2 + 1 bins along ``freq_dim`` (-2; -1 for frame-major (B, L, K)) -> audio (B, T),
    T = L * hop ("same") or (L - 1) * hop ("center").

    ``envelope``: the trimmed :func:`window_envelope` for L frames, when the caller caches it.
    """
    n_fft = window.shape[-1]
    frames = torch.fft.irfft(spec, n=n_fft, dim=freq_dim, norm="backward").movedim(freq_dim, -1)
    trim = istft_trim(n_fft, hop, padding)
    if envelope is None:
        envelope = trim_ends(window_envelope(window, hop, frames.shape[-2]), trim)
    return trim_ends(overlap_add(frames * window, hop), trim) / envelope
