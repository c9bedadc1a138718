"""Multi-scale STFT discriminator (EnCodec style), behind the discriminator output contract.

Each sub-discriminator sees the complex STFT of the waveform at one resolution, real and
imaginary parts as two channels laid out ``(B, 2, frames, bins)``, and applies a 2-D conv
stack: a (3, 9) conv, then (3, 9) convs dilated 1, 2, 4 along time and strided 2 along
frequency, a (3, 3) conv and a (3, 3) projection to one logit map. Weight norm, LeakyReLU 0.2.
Written from the EnCodec paper's description (Défossez et al., 2022, sec. 3.4).

:class:`SpectrogramConvStack` is shared with the CQT discriminator (:mod:`disc_cqt`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from vocoder_train.models.discriminators.vocos import conv_stack

DiscOutput = tuple[list[torch.Tensor], list[list[torch.Tensor]]]
LRELU_SLOPE = 0.2  # EnCodec's slope (HiFi-GAN's discriminators use 0.1)

# EnCodec's five resolutions: (n_fft, hop, win), hop = win / 4
DEFAULT_RESOLUTIONS = ((2048, 512, 2048), (1024, 256, 1024), (512, 128, 512), (256, 64, 256), (128, 32, 128))


class SpectrogramConvStack(nn.Module):
    """2-D conv stack over a (time, frequency) map: dilated along time, strided along frequency.

    Args:
        in_channels (int): channels of the input map (2: real and imaginary part).
        channels (int): conv width.
        dilations (Sequence[int]): time dilation of each (3, 9) conv after the first one.
        kernel_size (tuple[int, int]): (time, frequency) kernel of the first and dilated convs.
    """

    def __init__(
        self,
        in_channels: int = 2,
        channels: int = 32,
        dilations: Sequence[int] = (1, 2, 4),
        kernel_size: tuple[int, int] = (3, 9),
    ):
        super().__init__()
        kt, kf = kernel_size
        convs = [weight_norm(nn.Conv2d(in_channels, channels, (kt, kf), padding=(kt // 2, kf // 2)))]
        for d in dilations:
            convs.append(
                weight_norm(
                    nn.Conv2d(channels, channels, (kt, kf), stride=(1, 2), dilation=(d, 1), padding=(d * (kt // 2), kf // 2))
                )
            )
        convs.append(weight_norm(nn.Conv2d(channels, channels, (3, 3), padding=(1, 1))))
        self.convs = nn.ModuleList(convs)
        self.conv_post = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x (B, C, frames, bins) -> logits (B, N), feature maps (every layer, the logit map last)."""
        x, fmap = conv_stack(self.convs, self.conv_post, x, LRELU_SLOPE)
        return x.flatten(1), fmap


class STFTDiscriminator(nn.Module):
    """One resolution of the MS-STFT discriminator.

    Args:
        n_fft (int): FFT size. hop_length (int): hop. win_length (int): Hann window length (<= n_fft).
        channels (int): conv width. dilations (Sequence[int]): see :class:`SpectrogramConvStack`.
    """

    def __init__(self, n_fft: int, hop_length: int, win_length: int, channels: int = 32, dilations: Sequence[int] = (1, 2, 4)):
        super().__init__()
        if not (0 < win_length <= n_fft and hop_length > 0):
            raise ValueError(f"STFT resolution {(n_fft, hop_length, win_length)}: need 0 < win_length <= n_fft, hop > 0")
        self.n_fft, self.hop, self.win = n_fft, hop_length, win_length
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)
        self.stack = SpectrogramConvStack(2, channels, dilations)

    def spectrogram(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T) -> (B, 2, frames, n_fft // 2 + 1), the normalized complex STFT computed in fp32."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            spec = torch.stft(
                x.float(), self.n_fft, self.hop, self.win, window=self.window, center=True,
                normalized=True, return_complex=True,
            )
        return torch.view_as_real(spec).permute(0, 3, 2, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x (B, T) -> logits (B, N), feature maps."""
        return self.stack(self.spectrogram(x))


class MultiScaleSTFTDiscriminator(nn.Module):
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
        super().__init__()
        self.discriminators = nn.ModuleList(
            STFTDiscriminator(int(n), int(h), int(w), channels, dilations) for n, h, w in resolutions
        )

    def forward(self, x: torch.Tensor) -> DiscOutput:
        """x (B, T) -> (logits per resolution, feature maps per resolution)."""
        outs = [d(x) for d in self.discriminators]
        return [o[0] for o in outs], [o[1] for o in outs]
