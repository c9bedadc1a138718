"""Multi-scale STFT discriminator (EnCodec style), behind the discriminator output contract.

Each sub-discriminator sees the complex STFT of the waveform at one resolution, real and
imaginary parts as two channels laid out ``(B, 2, frames, bins)``, and applies
:class:`~vocoder_train.models.discriminators.base.SpectrogramConvStack`. Weight norm, LeakyReLU 0.2.
Written from the EnCodec paper's description (Défossez et al., 2022, sec. 3.4).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from vocoder_train.models.discriminators.base import (
    MultiDiscriminator,
    SpectrogramConvStack,
    complex_spectrogram,
    window_problems,
)

# EnCodec's five resolutions: (n_fft, hop, win), hop = win / 4
DEFAULT_RESOLUTIONS = ((2048, 512, 2048), (1024, 256, 1024), (512, 128, 512), (256, 64, 256), (128, 32, 128))


class STFTDiscriminator(nn.Module):
    """One resolution of the MS-STFT discriminator.

    Args:
        n_fft (int): FFT size. hop_length (int): hop. win_length (int): Hann window length (<= n_fft).
        channels (int): conv width. dilations (Sequence[int]): see :class:`SpectrogramConvStack`.
    """

    def __init__(
        self,
        n_fft: int,
        hop_length: int,
        win_length: int,
        channels: int = 32,
        dilations: Sequence[int] = (1, 2, 4),
    ):
        super().__init__()
        if not (0 < win_length <= n_fft and hop_length > 0):
            raise ValueError(
                f"STFT resolution {(n_fft, hop_length, win_length)}: need 0 < win_length <= n_fft, hop > 0"
            )
        self.n_fft, self.hop = n_fft, hop_length
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)
        self.stack = SpectrogramConvStack(2, channels, dilations)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x (B, T) -> logit map, feature maps, from the normalized complex STFT."""
        return self.stack(complex_spectrogram(x, self.n_fft, self.hop, self.window, normalized=True))


class MultiScaleSTFTDiscriminator(MultiDiscriminator):
    """EnCodec's multi-scale STFT discriminator. Default (5 resolutions, 32 channels): 0.5M parameters.

    Args:
        resolutions (Sequence[Sequence[int]]): ``(n_fft, hop_length, win_length)`` per sub-discriminator.
        channels (int): conv width of each.
        dilations (Sequence[int]): time dilations of the strided convs.
    """

    def __init__(
        self,
        resolutions: Sequence[Sequence[int]] = DEFAULT_RESOLUTIONS,
        channels: int = 32,
        dilations: Sequence[int] = (1, 2, 4),
    ):
        super().__init__(
            STFTDiscriminator(int(n), int(h), int(w), channels, dilations) for n, h, w in resolutions
        )

    @classmethod
    def config_problems(cls, node, key: str, cfg) -> list[str]:
        """Each resolution's FFT size fits in a training crop."""
        return window_problems(f"{key}.resolutions", [r[0] for r in node.get("resolutions") or [] if r], cfg)
