"""Framing on a vocos ISTFT head's grid: the trim rule, the frame count a mel front end gives,
the STFT on that grid, overlap-add with its window envelope, and the ISTFT built from them.

A vocos ISTFT with ``L`` frames overlap-adds ``(L - 1) * hop + n_fft`` samples and drops
:func:`istft_trim` samples from each end, so frame ``l`` covers samples
``[l * hop - trim, l * hop - trim + n_fft)`` of the output. :func:`head_stft` is the analysis on
that grid (zeros outside the signal), :func:`istft` the synthesis (``vocos.spectral_ops.ISTFT``
with ``win_length = n_fft``); the two invert each other on consistent spectra.

The causal grid (:func:`causal_istft`, used by :mod:`vocoder_train.models.causal`): frame ``l``'s
window ends at ``(l + 1) * hop``, so it covers samples ``[(l + 1) * hop - n_fft, (l + 1) * hop)``.
Once frames ``0..l`` are known, every sample before ``(l + 1) * hop - causal_latency`` is final;
the overlap-add of the frames still to come reaches back :func:`causal_latency` = ``n_fft - hop``
samples. The output is divided by the steady-state window envelope everywhere, so the last
``n_fft - hop`` samples fade out as if the following frames were silent, and a stream that carries
the unfinished tail from call to call (:func:`carry_overlap_add`) gives the same samples.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

PADDINGS = ("same", "center")  # vocos' ISTFT and feature-extractor paddings
MEL_PADDINGS = (*PADDINGS, "causal")  # frame grids of mel front ends (:func:`expected_frames`)


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
    is even; "causal" (:func:`causal_frames`): ``ceil((T + n_fft - hop) / hop)``. Never below 0.
    """
    if padding == "causal":
        return causal_frames(num_samples, hop_length, n_fft)
    pad = istft_trim(n_fft, hop_length, padding)
    return max(0, (num_samples + 2 * pad - n_fft) // hop_length + 1)


def frame_hop(sample_rate: float, frame_rate: float) -> int:
    """Samples per frame of features at ``frame_rate`` Hz over audio at ``sample_rate`` Hz.

    Raises ValueError, naming both rates and the nearest whole-number frame rates that divide the
    sample rate, when the hop is not a whole number of samples (or a rate is not positive)."""
    if (
        not (isinstance(sample_rate, int | float) and isinstance(frame_rate, int | float))
        or min(sample_rate, frame_rate) <= 0
    ):
        raise ValueError(f"frame rate {frame_rate!r} Hz at {sample_rate!r} Hz: both must be positive numbers")
    hop = sample_rate / frame_rate
    if abs(hop - round(hop)) > 1e-6 * hop or round(hop) < 1:
        rate = int(sample_rate)
        below = max((r for r in range(1, int(frame_rate) + 1) if rate % r == 0), default=None)
        above = next((r for r in range(int(frame_rate) + 1, rate + 1) if rate % r == 0), None)
        near = " or ".join(f"{r} Hz (hop {rate // r})" for r in (below, above) if r is not None)
        raise ValueError(
            f"a frame rate of {frame_rate:g} Hz at {sample_rate:g} Hz is {hop:.6g} samples per frame, not a "
            f"whole number: the frame rate must divide the sample rate (the nearest that do: {near})"
        )
    return int(round(hop))


def trim_ends(x: torch.Tensor, trim: int) -> torch.Tensor:
    """(..., T) -> (..., T - 2 * trim): ``trim`` samples off each end of the last axis."""
    return x[..., trim:-trim] if trim else x


def head_stft(
    audio: torch.Tensor, window: torch.Tensor, n_fft: int, hop: int, padding: str, frames: int
) -> torch.Tensor:
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


def istft(
    spec: torch.Tensor,
    window: torch.Tensor,
    hop: int,
    padding: str,
    freq_dim: int = -2,
    envelope: torch.Tensor | None = None,
) -> torch.Tensor:
    """vocos' ISTFT (``win_length = n_fft = window.numel()``): complex (B, K, L) with the
    K = n_fft // 2 + 1 bins along ``freq_dim`` (-2; -1 for frame-major (B, L, K)) -> audio (B, T),
    T = L * hop ("same") or (L - 1) * hop ("center").

    ``envelope``: the trimmed :func:`window_envelope` for L frames, when the caller caches it.
    """
    n_fft = window.shape[-1]
    trim = istft_trim(n_fft, hop, padding)
    if envelope is None:
        envelope = trim_ends(window_envelope(window, hop, spec.movedim(freq_dim, -1).shape[-2]), trim)
    return trim_ends(synthesis_overlap_add(spec, window, hop, freq_dim), trim) / envelope


def synthesis_overlap_add(
    spec: torch.Tensor, window: torch.Tensor, hop: int, freq_dim: int = -2
) -> torch.Tensor:
    """Complex (B, K, L) (bins along ``freq_dim``) -> (B, (L - 1) * hop + n_fft): each frame's inverse
    real DFT times the window, overlap-added; not yet divided by the envelope nor trimmed."""
    frames = torch.fft.irfft(spec, n=window.shape[-1], dim=freq_dim, norm="backward").movedim(freq_dim, -1)
    return overlap_add(frames * window, hop)


# -- the causal grid -----------------------------------------------------------------------------


def causal_latency(n_fft: int, hop: int) -> int:
    """Samples by which the causal grid's final output trails its last frame: ``n_fft - hop``.

    Raises ValueError unless ``0 < hop < n_fft`` and ``hop`` divides ``n_fft`` (every sample then
    lies under ``n_fft / hop`` windows, and the envelope repeats every hop).
    """
    if not 0 < hop < n_fft or n_fft % hop:
        raise ValueError(
            f"n_fft={n_fft}, hop_length={hop}: the causal grid needs 0 < hop_length < n_fft with "
            f"hop_length dividing n_fft (e.g. n_fft = 4 x hop_length, as every preset has)"
        )
    return n_fft - hop


def causal_frames(num_samples: int, hop: int, n_fft: int) -> int:
    """Frames of the causal grid for ``num_samples`` samples: ``ceil((T + n_fft - hop) / hop)``, so
    that a causal ISTFT of them finishes (overlap-adds completely) every one of the T samples."""
    return -(-(num_samples + causal_latency(n_fft, hop)) // hop) if num_samples > 0 else 0


def causal_padding(num_samples: int, hop: int, n_fft: int) -> tuple[int, int]:
    """(left, right) zeros that put ``num_samples`` samples on the causal grid: frame ``l``'s window
    covers samples ``[(l + 1) * hop - n_fft, (l + 1) * hop)``, :func:`causal_frames` frames in all."""
    left = causal_latency(n_fft, hop)
    return left, (causal_frames(num_samples, hop, n_fft) - 1) * hop + n_fft - left - num_samples


def causal_envelope(window: torch.Tensor, hop: int) -> torch.Tensor:
    """window (n_fft,) -> (hop,): the overlap-added squared window at a sample under ``n_fft / hop``
    windows, which repeats every hop."""
    m = window.shape[-1] // hop
    return window_envelope(window, hop, m)[(m - 1) * hop : m * hop]


def causal_normalize(ola: torch.Tensor, envelope: torch.Tensor) -> torch.Tensor:
    """(..., n * hop) overlap-added samples that start on a hop boundary -> divided by the periodic
    ``envelope`` (hop,). Reshapes only, so the length stays dynamic in traced graphs."""
    return (ola.unflatten(-1, (-1, envelope.shape[-1])) / envelope).flatten(-2)


def causal_istft(spec: torch.Tensor, window: torch.Tensor, hop: int, freq_dim: int = -2) -> torch.Tensor:
    """Complex (B, K, L) (bins along ``freq_dim``) -> audio (B, L * hop) on the causal grid:
    frame ``l`` covers output samples ``[(l + 1) * hop - n_fft, (l + 1) * hop)``; the
    ``n_fft - hop`` samples before 0 are dropped, all others divided by :func:`causal_envelope`."""
    latency = causal_latency(window.shape[-1], hop)
    return causal_normalize(
        synthesis_overlap_add(spec, window, hop, freq_dim)[..., latency:], causal_envelope(window, hop)
    )


def carry_overlap_add(
    ola: torch.Tensor, tail: torch.Tensor, envelope: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One streaming step of :func:`causal_istft`.

    ``ola`` (B, c * hop + D): the overlap-add of the c new frames (unnormalized, starting at the
    first new frame); ``tail`` (B, D), D = n_fft - hop: what the earlier frames left unfinished.
    Returns (audio (B, c * hop): the samples now final, divided by ``envelope``; the new tail (B, D)).
    """
    d = tail.shape[-1]
    summed = torch.cat([ola[..., :d] + tail, ola[..., d:]], dim=-1)
    return causal_normalize(summed[..., :-d], envelope), summed[..., -d:]
