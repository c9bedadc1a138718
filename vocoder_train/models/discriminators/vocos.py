"""The Vocos paper's discriminators: HiFi-GAN's multi-period discriminator and the multi-resolution
band-split spectrogram discriminator of descript-audio-codec. Channel widths are arguments so tests
can build tiny ones.

Both can be conditioned, as vocos' are for its EnCodec model: with ``num_embeddings`` set, each
sub-discriminator adds to its logit map the projection of its last feature map onto a learned embedding
of the conditioning id (a bandwidth), zero at the start (:class:`~.base.ConditionalProjection`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from vocoder_train.models.discriminators.base import (
    ConditionalProjection,
    MultiDiscriminator,
    complex_spectrogram,
    conv_stack,
    segment_length,
    window_problems,
)
from vocoder_train.models.discriminators.winograd import conv_time

# Under "auto", fp32 periods up to this one run folded: the short periods gain from folding and the long
# ones lose (per-period table in docs/results/2026-11-28-training-speed.md).
FOLD_FP32_MAX_PERIOD = 3
LAYOUTS = ("auto", "grid", "folded")  # PeriodDiscriminator.layout, model.perf.mpd_layout


class PeriodDiscriminator(nn.Module):
    """One period of the MPD: folds (B, T) into (B, 1, T/p, p) and applies 2-D convs over time.

    Args:
        period (int): fold width.
        channels (Sequence[int]): conv widths; the default (32, 128, 512, 1024, 1024) is HiFi-GAN's.
        kernel_size (int): kernel along time. stride (int): stride along time for all but the last conv.
        winograd, winograd_bf16, layout: speed options (``model.perf`` passes them), each the same math:

    - ``winograd`` / ``winograd_bf16`` (default False): the wide stride-1 conv runs as Winograd F(4, r)
      (:mod:`~vocoder_train.models.discriminators.winograd`) in fp32 (fewer products than the direct
      conv), and with the second also under bf16 autocast.
    - ``layout``: "grid" (default), HiFi-GAN's Conv2d over the (T/p, p) grid; "folded", each conv as a
      Conv1d over the T/p frames with the p phases folded into the batch (the weights and their
      parameter names stay the Conv2d's; outputs and feature maps come back in the grid's shape).
      "auto": on CPU, folded under bf16 autocast (oneDNN's bf16 weight gradient of a (k, 1) kernel over
      a narrow grid is slow) and, in fp32, for periods up to :data:`FOLD_FP32_MAX_PERIOD`; grid
      otherwise. Measured per period by ``python -m benchmarks.bench_winograd --layouts``
      (docs/results/2026-11-28-training-speed.md).
    """

    def __init__(
        self,
        period: int,
        channels: Sequence[int] = (32, 128, 512, 1024, 1024),
        kernel_size: int = 5,
        stride: int = 3,
        *,
        winograd: bool = False,
        winograd_bf16: bool = False,
        layout: str = "grid",
        num_embeddings: int | None = None,
    ):
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f"PeriodDiscriminator: layout={layout!r}: choose one of {', '.join(LAYOUTS)}")
        self.period = period
        chans = [1, *channels]
        self.convs = nn.ModuleList(
            weight_norm(
                nn.Conv2d(
                    chans[i],
                    chans[i + 1],
                    (kernel_size, 1),
                    (stride if i < len(channels) - 1 else 1, 1),
                    padding=(kernel_size // 2, 0),
                )
            )
            for i in range(len(channels))
        )
        self.conv_post = weight_norm(nn.Conv2d(chans[-1], 1, (3, 1), 1, padding=(1, 0)))
        self.winograd, self.winograd_bf16, self.layout = bool(winograd), bool(winograd_bf16), layout
        self.emb = ConditionalProjection(num_embeddings, chans[-1]) if num_embeddings else None

    def folds(self, x: torch.Tensor) -> bool:
        """Whether a forward on ``x`` runs in the folded layout (see the class docstring)."""
        if self.layout == "auto":
            device = x.device.type
            if device != "cpu":
                return False
            if torch.is_autocast_enabled(device):
                return torch.get_autocast_dtype(device) == torch.bfloat16
            return self.period <= FOLD_FP32_MAX_PERIOD
        if self.layout not in LAYOUTS:
            raise ValueError(
                f"PeriodDiscriminator.layout={self.layout!r}: choose one of {', '.join(LAYOUTS)}"
            )
        return self.layout == "folded"

    def forward(
        self, x: torch.Tensor, condition: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x (B, T) -> logit map (B, 1, frames, period), feature maps. ``condition``: a conditioning id
        (1,) when built with ``num_embeddings``."""
        b, t = x.shape
        p = self.period
        if t % p:
            x = F.pad(x, (0, p - t % p), mode="reflect")
        x = x.view(b, 1, -1, p)
        # as vocos: the first layer's map is not matched (HiFi-GAN matches it too)
        convs = [partial(conv_time, c, winograd=self.winograd, bf16=self.winograd_bf16) for c in self.convs]
        folds = self.folds(x)
        if folds:  # (B * p, 1, T/p): phase j of item i at row i * p + j
            x = x.permute(0, 3, 1, 2).reshape(b * p, 1, -1)
        post = partial(conv_time, self.conv_post, winograd=False) if folds else self.conv_post
        y, fmap = conv_stack(convs, None, x, skip_first=True)
        y = post(y) + (self.emb(y, condition) if self.emb is not None else 0)
        fmap.append(y)  # the conditioned logit map, as vocos' in-place sum leaves it
        if not folds:
            return y, fmap

        def grid(z: torch.Tensor) -> torch.Tensor:  # (B * p, C, N) -> (B, C, N, p), a view
            return z.view(b, p, *z.shape[1:]).permute(0, 2, 3, 1)

        return grid(y), [grid(f) for f in fmap]


class MultiPeriodDiscriminator(MultiDiscriminator):
    """HiFi-GAN multi-period discriminator. Default (periods 2,3,5,7,11): 41.1M parameters.

    Args:
        periods (Sequence[int]): one :class:`PeriodDiscriminator` per period.
        channels (Sequence[int]): conv widths of each.
        winograd, winograd_bf16, layout: each period's speed options (see :class:`PeriodDiscriminator`).
        num_embeddings (int | None): conditioning ids (vocos' EnCodec model: one per bandwidth); None: none.
    """

    def __init__(
        self,
        periods: Sequence[int] = (2, 3, 5, 7, 11),
        channels: Sequence[int] = (32, 128, 512, 1024, 1024),
        *,
        winograd: bool = False,
        winograd_bf16: bool = False,
        layout: str = "grid",
        num_embeddings: int | None = None,
    ):
        options = dict(
            winograd=winograd, winograd_bf16=winograd_bf16, layout=layout, num_embeddings=num_embeddings
        )
        super().__init__(PeriodDiscriminator(p, channels, **options) for p in periods)

    @classmethod
    def config_problems(cls, node, key: str, cfg) -> list[str]:
        """Each period is shorter than a training crop; conditioning ids as the generator's."""
        seg = segment_length(cfg)
        return super().config_problems(node, key, cfg) + [
            f"{key}.periods has {period} >= audio.segment_length={seg}"
            for period in node.get("periods") or []
            if seg is not None and int(period) >= seg
        ]


class ResolutionDiscriminator(nn.Module):
    """One resolution of the MRD: complex STFT split into frequency bands, a conv stack per band.

    Args:
        n_fft (int): window length (hop = n_fft // 4).
        channels (int): conv width.
        bands (Sequence[tuple[float, float]]): band edges as fractions of the spectrum.
    """

    def __init__(
        self,
        n_fft: int,
        channels: int = 32,
        bands: Sequence[tuple[float, float]] = (
            (0.0, 0.1),
            (0.1, 0.25),
            (0.25, 0.5),
            (0.5, 0.75),
            (0.75, 1.0),
        ),
        num_embeddings: int | None = None,
    ):
        super().__init__()
        self.n_fft, self.hop = n_fft, n_fft // 4
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        n_bins = n_fft // 2 + 1
        self.bands = [(int(lo * n_bins), int(hi * n_bins)) for lo, hi in bands]

        def stack() -> nn.ModuleList:
            specs = [(2, (3, 9), (1, 1), (1, 4))] + [(channels, (3, 9), (1, 2), (1, 4))] * 3
            specs += [(channels, (3, 3), (1, 1), (1, 1))]
            return nn.ModuleList(weight_norm(nn.Conv2d(c, channels, k, s, padding=p)) for c, k, s, p in specs)

        self.band_convs = nn.ModuleList(stack() for _ in self.bands)
        self.conv_post = weight_norm(nn.Conv2d(channels, 1, (3, 3), 1, padding=(1, 1)))
        self.emb = ConditionalProjection(num_embeddings, channels) if num_embeddings else None

    def spectrogram(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x (B, T) -> per band (B, 2, frames, bins), DC removed and peak-normalized to 0.8."""
        x = x - x.mean(dim=-1, keepdim=True)
        x = 0.8 * x / (x.abs().amax(dim=-1, keepdim=True) + 1e-9)
        spec = complex_spectrogram(x, self.n_fft, self.hop, self.window)
        return [spec[..., lo:hi] for lo, hi in self.bands]

    def forward(
        self, x: torch.Tensor, condition: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x (B, T) -> logit map (B, 1, frames, bins'), feature maps (per band, then the logit map).
        ``condition``: a conditioning id (1,) when built with ``num_embeddings``."""
        fmap, outs = [], []
        for band, convs in zip(self.spectrogram(x), self.band_convs):
            band, band_fmap = conv_stack(convs, None, band, skip_first=True)
            fmap += band_fmap
            outs.append(band)
        x = torch.cat(outs, dim=-1)
        x = self.conv_post(x) + (self.emb(x, condition) if self.emb is not None else 0)
        fmap.append(x)
        return x, fmap


class MultiResolutionDiscriminator(MultiDiscriminator):
    """Multi-resolution (band-split complex STFT) discriminator. Default (2048, 1024, 512): 1.4M parameters.

    Args:
        fft_sizes (Sequence[int]): one :class:`ResolutionDiscriminator` per size.
        channels (int): conv width of each.
        num_embeddings (int | None): conditioning ids (vocos' EnCodec model: one per bandwidth); None: none.
    """

    def __init__(
        self,
        fft_sizes: Sequence[int] = (2048, 1024, 512),
        channels: int = 32,
        num_embeddings: int | None = None,
    ):
        super().__init__(
            ResolutionDiscriminator(int(n), channels, num_embeddings=num_embeddings) for n in fft_sizes
        )

    @classmethod
    def config_problems(cls, node, key: str, cfg) -> list[str]:
        """Each FFT size fits in a training crop; conditioning ids as the generator's."""
        return super().config_problems(node, key, cfg) + window_problems(
            f"{key}.fft_sizes", node.get("fft_sizes") or [], cfg
        )
