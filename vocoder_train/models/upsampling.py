"""A Vocos backbone that raises the frame rate of its input by an integer factor before its blocks.

A codec at a low frame rate (Mimi: 12.5 frames a second, 1920 samples a frame at 24 kHz) would leave an
ISTFT head one hidden vector to describe 1920 samples with a 7680-point frame: coarse in time, with
little overlap to smooth phase between frames. :class:`UpsamplingBackbone` interpolates the features to
``upsample`` times the rate first, so the ConvNeXt blocks model the signal at the finer rate and the head
runs at ``hop / upsample`` (Mimi x 4: hop 480, n_fft 1920, as vocos' 24 kHz mel model's scale).

The interpolation is a depthwise transposed convolution (kernel ``2 * upsample``, stride ``upsample``)
that starts as linear interpolation between neighbouring frames and is trained from there: it adds
``channels x 2 x upsample`` parameters, has no checkerboard at the start (each output sample is a
convex mix of two frames), and leaves channel mixing to the backbone's first convolution, which already
does it. Its blocks cost ``upsample`` times those of a plain backbone on the same features.
"""

from __future__ import annotations

import torch
from torch import nn
from vocos.models import VocosBackbone


def linear_interpolation_kernel(factor: int) -> torch.Tensor:
    """(2 * factor,) weights of a transposed convolution with stride ``factor`` and padding
    ``factor // 2`` that interpolates linearly between frame centres."""
    k = torch.arange(2 * factor, dtype=torch.float64)
    centre = factor // 2 + (factor - 1) / 2
    return (1.0 - (k - centre).abs() / factor).clamp_min(0.0).float()


class FrameUpsampler(nn.Module):
    """features (B, C, L) -> (B, C, L * factor): a depthwise transposed convolution initialised as linear
    interpolation (the ends held at the first and last frames' values)."""

    def __init__(self, channels: int, factor: int):
        super().__init__()
        self.factor = int(factor)
        self.conv = nn.ConvTranspose1d(
            channels, channels, 2 * self.factor, stride=self.factor, padding=self.factor // 2, groups=channels
        )
        with torch.no_grad():
            self.conv.weight.copy_(linear_interpolation_kernel(self.factor).expand_as(self.conv.weight))
            self.conv.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # one frame repeated at each end, so the first and last frames are interpolated towards themselves
        # rather than towards zero
        y = self.conv(nn.functional.pad(x, (1, 1), mode="replicate"))
        return y[..., self.factor : self.factor * (x.shape[-1] + 1)]


class UpsamplingBackbone(VocosBackbone):
    """``vocos.models.VocosBackbone`` (same parameters and names) behind a :class:`FrameUpsampler`:
    features (B, input_channels, L) -> hidden (B, L * upsample, dim).

    Args:
        upsample (int): frames out per frame in (>= 1; 1 is vocos' backbone).
        (the rest): ``vocos.models.VocosBackbone``'s.
    """

    def __init__(self, *args, upsample: int = 1, **kwargs):
        if int(upsample) < 1:
            raise ValueError(f"backbone.upsample={upsample}: must be an integer >= 1")
        super().__init__(*args, **kwargs)
        self.upsample = int(upsample)
        channels = self.embed.in_channels
        self.upsampler = FrameUpsampler(channels, self.upsample) if self.upsample > 1 else None

    def upsample_features(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.upsampler is None else self.upsampler(x)

    def forward(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        return super().forward(self.upsample_features(x), **kwargs)


def frame_factor(backbone_node) -> int:
    """Frames the backbone configured by ``backbone_node`` gives per feature frame (its ``upsample``)."""
    return int(backbone_node.get("upsample", 1) or 1)
