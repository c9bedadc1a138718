"""Multi-scale sub-band CQT discriminator (BigVGAN-v2 style), behind the discriminator output contract.

Written from the description in Gu et al., "Multi-Scale Sub-Band Constant-Q Transform
Discriminator for High-Fidelity Vocoder" (ICASSP 2024), which BigVGAN-v2 uses instead of the MRD.

The constant-Q transform (our design, torch ops only)
----------------------------------------------------
A multi-rate filterbank, as in the classic octave-by-octave CQT: only the **top octave's**
filters are built, and every lower octave reuses them on a signal decimated by 2 once more.

* Top octave: ``bins_per_octave`` complex kernels ``hann(N_k) * exp(-2 pi i f_k n)`` centred
  in a common odd length K, with ``f_k = f_top * 2^(k / bins_per_octave)`` (cycles/sample),
  ``N_k = ceil(Q / f_k)`` and ``Q = 1 / (2^(1/bins_per_octave) - 1)``; each kernel is divided
  by its window sum (a unit sinusoid at ``f_k`` gives magnitude 0.5). By default the top
  octave spans ``[sr/4, sr/2)`` so ``n_octaves`` octaves reach down to ``sr / 2^(n_octaves+1)``.
  Real and imaginary parts are the ``2 * bins_per_octave`` output channels of one ``conv1d``.
* Octave ``o`` (0 = top) is that ``conv1d`` on the signal decimated ``o`` times (a 63-tap
  Kaiser-windowed sinc low-pass at a quarter of the current rate, then every other sample),
  with stride ``hop_length / 2^o``: frame t of every octave is centred on sample ``t * hop``.
  So ``hop_length`` must be divisible by ``2^(n_octaves - 1)``.
* Trade-off: the low-pass is -6 dB at its cutoff, so the top bin or two of each lower octave
  are attenuated (at most 6 dB) and a little aliasing from just above the cutoff leaks in;
  harmless for a discriminator, not an analysis-grade CQT.

Cost is small: the CQT convs run only at frame positions (stride = hop) and the decimation
chain costs ~2 x 63 multiply-adds per input sample.

The discriminator
-----------------
Per scale (a ``(hop_length, bins_per_octave)`` setting): CQT -> real/imag ``(B, 2, frames, bins)``
-> split into octaves (the sub-bands) -> one (3, 9) conv per octave -> concatenated along
frequency -> the dilated 2-D stack of :class:`~vocoder_train.models.discriminators.base.SpectrogramConvStack`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from vocoder_train.models.discriminators.base import (
    SPECTROGRAM_LRELU_SLOPE,
    MultiDiscriminator,
    SpectrogramConvStack,
)

LOWPASS_TAPS = 63
LOWPASS_BETA = 8.0  # Kaiser beta: ~80 dB stop-band


def halfband_lowpass(taps: int = LOWPASS_TAPS, beta: float = LOWPASS_BETA) -> torch.Tensor:
    """Kaiser-windowed sinc low-pass with cutoff a quarter of the sample rate, unit DC gain: (taps,)."""
    n = torch.arange(taps, dtype=torch.float64) - (taps - 1) / 2
    h = 0.5 * torch.sinc(0.5 * n) * torch.kaiser_window(taps, periodic=False, beta=beta, dtype=torch.float64)
    return (h / h.sum()).float()


def cqt_kernels(bins_per_octave: int, f_top: float) -> torch.Tensor:
    """Top-octave CQT kernels: (2 * bins_per_octave, 1, K), real parts then imaginary parts.

    Args:
        bins_per_octave (int): filters per octave.
        f_top (float): lowest centre frequency of the top octave, in cycles/sample (< 0.5).
    """
    q = 1.0 / (2.0 ** (1.0 / bins_per_octave) - 1.0)
    freqs = [f_top * 2.0 ** (k / bins_per_octave) for k in range(bins_per_octave)]
    lengths = [math.ceil(q / f) for f in freqs]
    size = max(lengths) | 1  # odd: a centre tap
    n = torch.arange(size, dtype=torch.float64) - size // 2
    real, imag = (
        torch.zeros(bins_per_octave, size, dtype=torch.float64),
        torch.zeros(bins_per_octave, size, dtype=torch.float64),
    )
    for k, (f, length) in enumerate(zip(freqs, lengths)):
        win = torch.zeros(size, dtype=torch.float64)
        start = (size - length) // 2
        win[start : start + length] = torch.hann_window(length, periodic=False, dtype=torch.float64)
        win = win / win.sum()
        real[k] = win * torch.cos(2 * math.pi * f * n)
        imag[k] = -win * torch.sin(2 * math.pi * f * n)
    return torch.cat([real, imag]).unsqueeze(1).float()


class CQT(nn.Module):
    """Octave-wise constant-Q transform (see the module docstring).

    Args:
        sample_rate (int): audio rate in Hz (only used to place ``fmin``).
        hop_length (int): frame hop in samples; divisible by ``2^(n_octaves-1)``.
        n_octaves (int): octaves, counted down from the top one.
        bins_per_octave (int): filters per octave.
        fmin (float | None): lowest centre frequency in Hz; None: ``sample_rate / 2^(n_octaves+1)``.
    """

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        n_octaves: int,
        bins_per_octave: int,
        fmin: float | None = None,
    ):
        super().__init__()
        if hop_length % 2 ** (n_octaves - 1):
            raise ValueError(
                f"CQT hop_length={hop_length} is not divisible by 2^(n_octaves-1)={2 ** (n_octaves - 1)}: "
                "lower n_octaves or use a hop that is a multiple of it"
            )
        fmin = sample_rate / 2 ** (n_octaves + 1) if fmin is None else float(fmin)
        f_top = fmin * 2 ** (n_octaves - 1) / sample_rate
        f_highest = f_top * 2 ** ((bins_per_octave - 1) / bins_per_octave)
        if f_highest >= 0.5:
            raise ValueError(
                f"CQT fmin={fmin} Hz with n_octaves={n_octaves}: "
                f"the top bin ({f_highest * sample_rate:.0f} Hz) "
                f"is above Nyquist ({sample_rate / 2} Hz); lower fmin or n_octaves"
            )
        self.hop, self.n_octaves, self.bins = hop_length, n_octaves, bins_per_octave
        self.register_buffer("kernels", cqt_kernels(bins_per_octave, f_top), persistent=False)
        self.register_buffer("lowpass", halfband_lowpass().view(1, 1, -1), persistent=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x (B, T) -> one (B, 2, frames, bins_per_octave) tensor per octave, lowest octave first, fp32."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.float().unsqueeze(1)
            k, lp = self.kernels.shape[-1], self.lowpass.shape[-1]
            octaves = []
            for o in range(self.n_octaves):
                if o:
                    x = F.conv1d(x, self.lowpass, stride=2, padding=lp // 2)
                y = F.conv1d(x, self.kernels, stride=self.hop // 2**o, padding=k // 2)  # (B, 2*bins, frames)
                octaves.append(y.unflatten(1, (2, self.bins)).transpose(2, 3))
        frames = min(o.shape[2] for o in octaves)  # odd lengths: decimation rounds up
        return [o[:, :, :frames] for o in reversed(octaves)]


class SubBandCQTDiscriminator(nn.Module):
    """One scale of the CQT discriminator: a CQT, a conv per octave, the shared 2-D stack.

    Args:
        sample_rate, hop_length, n_octaves, bins_per_octave, fmin: see :class:`CQT`.
        channels (int): conv width. dilations (Sequence[int]): time dilations of the stack.
    """

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        n_octaves: int = 9,
        bins_per_octave: int = 24,
        fmin: float | None = None,
        channels: int = 32,
        dilations: Sequence[int] = (1, 2, 4),
    ):
        super().__init__()
        self.cqt = CQT(sample_rate, hop_length, n_octaves, bins_per_octave, fmin)
        self.band_convs = nn.ModuleList(
            weight_norm(nn.Conv2d(2, channels, (3, 9), padding=(1, 4))) for _ in range(n_octaves)
        )
        self.stack = SpectrogramConvStack(channels, channels, dilations)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x (B, T) -> logit map, feature maps."""
        bands = [
            F.leaky_relu(conv(b), SPECTROGRAM_LRELU_SLOPE) for conv, b in zip(self.band_convs, self.cqt(x))
        ]
        return self.stack(torch.cat(bands, dim=-1))


class MultiScaleSubBandCQTDiscriminator(MultiDiscriminator):
    """MS-SB-CQT discriminator. Default (hops 512/256/256, 24/36/48 bins per octave, 9 octaves,
    32 channels): 0.4M parameters.

    Args:
        sample_rate (int): audio rate in Hz.
        hop_lengths (Sequence[int]): hop of each scale.
        bins_per_octave (Sequence[int]): bins per octave of each scale (same length as hop_lengths).
        n_octaves (int): octaves of every scale.
        fmin (float | None): lowest frequency (None: ``sample_rate / 2^(n_octaves+1)``).
        channels (int): conv width. dilations (Sequence[int]): time dilations.
    """

    def __init__(
        self,
        sample_rate: int = 24000,
        hop_lengths: Sequence[int] = (512, 256, 256),
        bins_per_octave: Sequence[int] = (24, 36, 48),
        n_octaves: int = 9,
        fmin: float | None = None,
        channels: int = 32,
        dilations: Sequence[int] = (1, 2, 4),
    ):
        if len(hop_lengths) != len(bins_per_octave):
            raise ValueError(
                f"hop_lengths {list(hop_lengths)} and bins_per_octave {list(bins_per_octave)}: one entry per "
                "scale each"
            )
        super().__init__(
            SubBandCQTDiscriminator(sample_rate, int(h), n_octaves, int(b), fmin, channels, dilations)
            for h, b in zip(hop_lengths, bins_per_octave)
        )

    @classmethod
    def config_problems(cls, node, key: str, cfg) -> list[str]:
        """Each hop divides by 2^(n_octaves - 1): every octave halves the rate."""
        octaves = node.get("n_octaves")
        if not isinstance(octaves, int):
            return []
        return [
            f"{key}.hop_lengths has {hop}, not divisible by 2^(n_octaves - 1) = {2 ** (octaves - 1)}: "
            "lower n_octaves or use a multiple"
            for hop in node.get("hop_lengths") or []
            if int(hop) % 2 ** (octaves - 1)
        ]
