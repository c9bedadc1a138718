"""Export-friendly mel -> waveform modules for TorchScript and ONNX.

ONNX has no inverse-STFT op and ``torch.fft.irfft`` on complex tensors does not export, so
:class:`RealISTFT` writes vocos' ``ISTFT`` with real-valued ops only:

* the inverse real DFT times the synthesis window is one precomputed basis
  ``(2K, n_fft)`` (K = n_fft // 2 + 1 bins, real and imaginary rows), and
* the overlap-add of the windowed frames is a ``conv_transpose1d`` with stride ``hop``.

Both are linear, so they fuse: :func:`vocoder_train.dsp.overlap_add_basis` of ``cat([re, im])``
with that basis is the inverse DFT *and* the overlap-add in one GEMM + col2im, with no
``(n_fft x n_fft)`` identity kernel. The window envelope (:func:`vocoder_train.dsp.window_envelope`)
is a second, 1-channel ``conv_transpose1d``, so the time axis stays dynamic in traced graphs.
Trimming follows :func:`vocoder_train.dsp.istft_trim` (vocos' ``ISTFT``): output ``L * hop``
samples for "same", ``(L - 1) * hop`` for "center" (as ``torch.istft``).

Like ``irfft``, the imaginary parts of the DC and Nyquist bins are ignored (their sine rows
are zero). :class:`CausalRealISTFT` is the same on the causal grid of
:class:`vocoder_train.models.causal.CausalISTFTHead`.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from vocos.heads import ISTFTHead

from vocoder_train.dsp import (
    causal_envelope,
    causal_latency,
    causal_normalize,
    head_real_imag,
    istft_trim,
    overlap_add_basis,
    trim_ends,
    window_envelope,
)
from vocoder_train.models.causal import CausalISTFT, CausalISTFTHead

# Heads with an ISTFT can be exported as a traced graph; IMDCT heads (vocos.heads.IMDCTCosHead,
# IMDCTSymExpHead) use complex FFTs that neither TorchScript tracing nor ONNX handle here.
GRAPH_FORMATS = ("torchscript", "onnx")
WEIGHT_FORMATS = ("vocos", "safetensors")


class UnsupportedForExport(ValueError):
    """The model cannot be exported to the requested format. The message says which formats work."""


def inverse_rdft_basis(n_fft: int, window: torch.Tensor) -> torch.Tensor:
    """Inverse real-DFT basis times the window: ``(2K, n_fft)``, K = n_fft // 2 + 1.

    Row k (k < K) maps Re X_k, row K + k maps Im X_k to the windowed frame, matching
    ``torch.fft.irfft(X, n_fft, norm="backward") * window``. Built in float64, stored as float32.
    """
    k_bins = n_fft // 2 + 1
    k = torch.arange(k_bins, dtype=torch.float64)[:, None]
    n = torch.arange(n_fft, dtype=torch.float64)[None, :]
    angle = 2 * math.pi * k * n / n_fft
    # Hermitian symmetry: bins 1..ceil(n_fft/2)-1 stand for two bins; DC (and Nyquist when n_fft is even) for
    # one.
    weight = torch.full((k_bins, 1), 2.0, dtype=torch.float64)
    weight[0] = 1.0
    if n_fft % 2 == 0:
        weight[-1] = 1.0
    cos_rows = weight * torch.cos(angle) / n_fft
    sin_rows = -weight * torch.sin(angle) / n_fft
    sin_rows[0] = 0.0
    if n_fft % 2 == 0:
        sin_rows[-1] = 0.0
    return (torch.cat([cos_rows, sin_rows]) * window.double()[None, :]).float()


class RealISTFT(nn.Module):
    """Inverse STFT from real and imaginary parts, with real-valued ops only (TorchScript/ONNX friendly).

    Args:
        n_fft (int): Size of Fourier transform (= window length, as in vocos' ISTFTHead).
        hop_length (int): Distance between neighboring frames.
        padding (str): "same" (vocos' default: output ``L * hop``) or "center" (``(L - 1) * hop``).
        window (Tensor, optional): synthesis window ``(n_fft,)``; default ``torch.hann_window(n_fft)``.
    """

    def __init__(
        self, n_fft: int, hop_length: int, padding: str = "same", window: torch.Tensor | None = None
    ):
        super().__init__()
        self.trim = istft_trim(n_fft, hop_length, padding)
        if not 0 < hop_length <= n_fft:
            raise ValueError(f"hop_length={hop_length}: must be in (0, n_fft={n_fft}]")
        window = torch.hann_window(n_fft) if window is None else window.detach().float().cpu()
        if window.shape != (n_fft,):
            raise ValueError(f"window has shape {tuple(window.shape)}; expected ({n_fft},)")
        self.n_fft, self.hop_length, self.padding = n_fft, hop_length, padding
        if self.trim == 0:
            raise ValueError(
                f"n_fft={n_fft}, hop_length={hop_length}: nothing to trim; not a vocos ISTFT setting"
            )
        self.register_buffer("basis", inverse_rdft_basis(n_fft, window), persistent=False)  # (2K, n_fft)
        self.register_buffer("window", window, persistent=False)  # (n_fft,)

    def overlap_added(self, real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
        """real, imag (B, K, L) -> the windowed frames overlap-added, (B, (L - 1) * hop + n_fft)."""
        return overlap_add_basis(torch.cat([real, imag], dim=1), self.basis, self.hop_length)

    def forward(self, real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
        """real, imag (B, K, L) -> audio (B, T); T = L * hop ("same") or (L - 1) * hop ("center")."""
        y = self.overlap_added(real, imag)
        envelope = window_envelope(self.window, self.hop_length, real.shape[-1])
        # After trimming the envelope is >= the overlap of the windows (no division by ~0) for vocos settings.
        return trim_ends(y, self.trim) / trim_ends(envelope, self.trim)


class CausalRealISTFT(RealISTFT):
    """:class:`RealISTFT` on the causal grid (:func:`vocoder_train.dsp.causal_istft`): real, imag
    (B, K, L) -> audio (B, L * hop). The streaming graph
    (:class:`~vocoder_train.models.inference.stream_step.StreamingVocos`) uses its ``overlap_added``
    and ``envelope``.

    Args:
        n_fft (int): FFT size (= window length).
        hop_length (int): hop; must divide ``n_fft``.
        window (Tensor, optional): synthesis window ``(n_fft,)``; default ``torch.hann_window(n_fft)``.
    """

    def __init__(self, n_fft: int, hop_length: int, window: torch.Tensor | None = None):
        super().__init__(n_fft, hop_length, "same", window)
        self.padding, self.latency = "causal", causal_latency(n_fft, hop_length)
        self.register_buffer("envelope", causal_envelope(self.window, hop_length), persistent=False)  # (hop,)

    def forward(self, real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
        return causal_normalize(self.overlap_added(real, imag)[..., self.latency :], self.envelope)


class ExportableVocos(nn.Module):
    """Mel (features) -> waveform with an ISTFT head rewritten for TorchScript / ONNX.

    Holds the generator's backbone and the head's output ``Linear`` (shared, not copied) and
    replaces the complex ISTFT with :class:`RealISTFT` (:class:`CausalRealISTFT` for a causal
    head). Output equals
    ``VocosGenerator.synthesize(features)`` up to float rounding.

    Args:
        generator (vocos.Vocos): a generator whose head is ``vocos.heads.ISTFTHead`` or
            :class:`~vocoder_train.models.causal.CausalISTFTHead`.
    """

    def __init__(self, generator: nn.Module):
        super().__init__()
        check_exportable(generator)
        head = generator.head
        istft = head.istft
        self.backbone = generator.backbone
        self.out = head.out
        if isinstance(istft, CausalISTFT):
            self.istft = CausalRealISTFT(istft.n_fft, istft.hop_length, window=istft.window)
        else:
            self.istft = RealISTFT(istft.n_fft, istft.hop_length, istft.padding, window=istft.window)

    def forward(self, features: torch.Tensor, bandwidth_id: torch.Tensor | None = None) -> torch.Tensor:
        """features (B, C, L) -> audio (B, T); a backbone conditioned with AdaLN (vocos' EnCodec model) also
        takes ``bandwidth_id`` (1,) int64, a second graph input."""
        hidden = (
            self.backbone(features)
            if bandwidth_id is None
            else self.backbone(features, bandwidth_id=bandwidth_id)
        )
        return self.istft(*head_real_imag(self.out(hidden.float()).transpose(1, 2)))


def check_exportable(generator: nn.Module) -> None:
    """Raises :class:`UnsupportedForExport` when ``generator`` cannot become a TorchScript/ONNX graph."""
    head = getattr(generator, "head", None)
    if type(head) not in (
        ISTFTHead,
        CausalISTFTHead,
    ):  # a subclass may compute something else from the same parameters
        name = type(head).__name__
        raise UnsupportedForExport(
            f"the generator's head is {name}; the {'/'.join(GRAPH_FORMATS)} formats support "
            "vocos.heads.ISTFTHead "
            f"and vocoder_train.models.causal.CausalISTFTHead only (IMDCT heads use complex FFTs with no "
            f"ONNX/traceable form here). "
            f"It can be exported in the {' or '.join(WEIGHT_FORMATS)} format instead."
        )
    passes = getattr(generator, "mel_passes", 0)
    if passes:
        raise UnsupportedForExport(
            f"the generator has mel_passes={passes} (an inference-time mel projection) that the "
            f"{'/'.join(GRAPH_FORMATS)} graph does not include. It can be exported in the "
            f"{' or '.join(WEIGHT_FORMATS)} format instead, or set model.generator.mel_passes=0."
        )
    istft = head.istft
    if istft.win_length != istft.n_fft:
        raise UnsupportedForExport(
            f"ISTFT win_length={istft.win_length} != n_fft={istft.n_fft}: not supported"
        )
