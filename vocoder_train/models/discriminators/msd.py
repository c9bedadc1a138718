"""Multi-scale waveform discriminator (HiFi-GAN's MSD), behind the discriminator output contract.

Written from the HiFi-GAN paper (Kong et al., 2020, sec. 2.3 and appendix): three
sub-discriminators on the raw waveform, on it average-pooled x2 and x4; each a stack of
strided, grouped 1-D convs with LeakyReLU 0.1. The first (raw) scale uses spectral norm for
stability, the others weight norm.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

from vocoder_train.models.discriminators.base import MultiDiscriminator, conv_stack

# HiFi-GAN's layer plan: (out channels, kernel, stride, groups)
DEFAULT_CHANNELS = (128, 128, 256, 512, 1024, 1024, 1024)
DEFAULT_KERNELS = (15, 41, 41, 41, 41, 41, 5)
DEFAULT_STRIDES = (1, 2, 2, 4, 4, 1, 1)
DEFAULT_GROUPS = (1, 4, 16, 16, 16, 16, 1)


class ScaleDiscriminator(nn.Module):
    """One scale of the MSD: grouped strided conv1d stack on a waveform average-pooled ``downsample`` times.

    Args:
        channels, kernel_sizes, strides, groups (Sequence[int]): one entry per conv; every
            conv's input and output width must be divisible by its groups.
        use_spectral_norm (bool): spectral norm instead of weight norm.
        downsample (int): x2 average poolings (kernel 4, stride 2) before the convs.
    """

    def __init__(
        self,
        channels: Sequence[int] = DEFAULT_CHANNELS,
        kernel_sizes: Sequence[int] = DEFAULT_KERNELS,
        strides: Sequence[int] = DEFAULT_STRIDES,
        groups: Sequence[int] = DEFAULT_GROUPS,
        use_spectral_norm: bool = False,
        downsample: int = 0,
    ):
        super().__init__()
        if not len(channels) == len(kernel_sizes) == len(strides) == len(groups):
            raise ValueError(
                "ScaleDiscriminator: channels, kernel_sizes, strides and groups need one entry per conv each"
            )
        norm = spectral_norm if use_spectral_norm else weight_norm
        chans = [1, *channels]
        for i, g in enumerate(groups):
            if chans[i] % g or chans[i + 1] % g:
                raise ValueError(
                    f"ScaleDiscriminator conv {i}: widths {chans[i]}->{chans[i + 1]} not divisible by "
                    f"groups={g}"
                )
        self.pool = nn.Sequential(*(nn.AvgPool1d(4, 2, padding=2) for _ in range(downsample)))
        self.convs = nn.ModuleList(
            norm(nn.Conv1d(chans[i], chans[i + 1], k, s, padding=k // 2, groups=g))
            for i, (k, s, g) in enumerate(zip(kernel_sizes, strides, groups))
        )
        self.conv_post = norm(nn.Conv1d(chans[-1], 1, 3, 1, padding=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x (B, T) -> logit map (B, 1, frames), feature maps."""
        return conv_stack(self.convs, self.conv_post, self.pool(x.unsqueeze(1)))


class MultiScaleDiscriminator(MultiDiscriminator):
    """HiFi-GAN multi-scale discriminator. Default (3 scales, HiFi-GAN widths): 29.6M parameters.

    Args:
        n_scales (int): sub-discriminators; scale i sees the waveform average-pooled i times
            (kernel 4, stride 2: x2 per scale).
        channels, kernel_sizes, strides, groups (Sequence[int]): the conv plan of every scale.
    """

    def __init__(
        self,
        n_scales: int = 3,
        channels: Sequence[int] = DEFAULT_CHANNELS,
        kernel_sizes: Sequence[int] = DEFAULT_KERNELS,
        strides: Sequence[int] = DEFAULT_STRIDES,
        groups: Sequence[int] = DEFAULT_GROUPS,
    ):
        super().__init__(
            ScaleDiscriminator(
                channels, kernel_sizes, strides, groups, use_spectral_norm=i == 0, downsample=i
            )
            for i in range(n_scales)
        )
