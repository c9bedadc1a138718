"""The discriminator contract and the pieces every discriminator shares.

Every discriminator maps a waveform batch to per-sub-discriminator logits and feature maps::

    logits, fmaps = disc(x)          # x: (B, T)
    # logits: list[Tensor (B, N)]            one per sub-discriminator, fp32
    # fmaps:  list[list[Tensor (B, ...)]]    per sub-discriminator, per layer (its logit map last)

Each is a :class:`MultiDiscriminator` over sub-discriminators that map ``x (B, T)`` to
``(logit map, feature maps)``; the convolutions go through :func:`conv_stack`. Each declares the rules
of its config node in ``config_problems`` (see :mod:`vocoder_train.config.checks`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

DiscOutput = tuple[list[torch.Tensor], list[list[torch.Tensor]]]

LRELU_SLOPE = 0.1  # HiFi-GAN's: the MPD, the MSD and the MRD
SPECTROGRAM_LRELU_SLOPE = 0.2  # EnCodec's: the MS-STFT stack, which the CQT-D reuses


def conv_stack(
    convs: Iterable[nn.Module],
    post: nn.Module | None,
    x: torch.Tensor,
    slope: float = LRELU_SLOPE,
    skip_first: bool = False,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``convs`` each followed by a LeakyReLU, then ``post`` (if any) without one.

    Returns the output and the feature maps: every layer's (but the first's when ``skip_first``),
    then ``post``'s output.
    """
    fmap = []
    for i, conv in enumerate(convs):
        x = F.leaky_relu(conv(x), slope)
        if i > 0 or not skip_first:
            fmap.append(x)
    if post is not None:
        x = post(x)
        fmap.append(x)
    return x, fmap


def complex_spectrogram(
    x: torch.Tensor, n_fft: int, hop_length: int, window: torch.Tensor, normalized: bool = False
) -> torch.Tensor:
    """x (B, T) -> (B, 2, frames, n_fft // 2 + 1): real and imaginary parts of a centred STFT with
    ``window`` (its length is the window length), computed in fp32 even under autocast."""
    with torch.autocast(device_type=x.device.type, enabled=False):
        spec = torch.stft(
            x.float(),
            n_fft,
            hop_length,
            window.shape[-1],
            window=window,
            center=True,
            normalized=normalized,
            return_complex=True,
        )
    return torch.view_as_real(spec).permute(0, 3, 2, 1)


class SpectrogramConvStack(nn.Module):
    """2-D conv stack over a (time, frequency) map, EnCodec's: a (3, 9) conv, (3, 9) convs dilated
    along time and strided 2 along frequency, a (3, 3) conv and a (3, 3) projection to one logit map.

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
                    nn.Conv2d(
                        channels,
                        channels,
                        (kt, kf),
                        stride=(1, 2),
                        dilation=(d, 1),
                        padding=(d * (kt // 2), kf // 2),
                    )
                )
            )
        convs.append(weight_norm(nn.Conv2d(channels, channels, (3, 3), padding=(1, 1))))
        self.convs = nn.ModuleList(convs)
        self.conv_post = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x (B, C, frames, bins) -> logit map (B, 1, frames, bins'), feature maps."""
        return conv_stack(self.convs, self.conv_post, x, SPECTROGRAM_LRELU_SLOPE)


class ConditionalProjection(nn.Embedding):
    """A projection discriminator's conditioning term: a learned embedding (``dim`` channels) per
    conditioning id, zero at the start, dotted with a feature map at every position. The parameter is
    ``weight``, as vocos' ``emb`` (an ``nn.Embedding``) names it."""

    def __init__(self, num_embeddings: int, dim: int):
        super().__init__(int(num_embeddings), dim)
        nn.init.zeros_(self.weight)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        """x (N, dim, ...) and a conditioning id (1,) -> (N, 1, ...)."""
        if condition is None:
            raise ValueError(
                f"a discriminator conditioned on {self.num_embeddings} ids was called without one; "
                "pass condition (the batch's conditioning id)"
            )
        emb = super().forward(condition.reshape(-1)[:1].to(x.device)).to(x.dtype)
        return (emb.view(1, -1, *([1] * (x.dim() - 2))) * x).sum(dim=1, keepdim=True)


class MultiDiscriminator(nn.Module):
    """A list of sub-discriminators behind the output contract (see the module docstring).

    Args:
        discriminators (Iterable[nn.Module]): each maps x (B, T) to (logit map (B, ...), feature maps).
    """

    def __init__(self, discriminators: Iterable[nn.Module]):
        super().__init__()
        self.discriminators = nn.ModuleList(discriminators)

    @classmethod
    def config_problems(cls, node, key: str, cfg) -> list[str]:
        """One line per problem of this discriminator's config ``node`` at ``key`` in the run config ``cfg``
        (training crops are ``audio.segment_length`` samples): by default, its conditioning ids."""
        return condition_problems(node, key, cfg)

    @property
    def conditions(self) -> int:
        """Conditioning ids the sub-discriminators take (0: not conditioned)."""
        emb = getattr(self.discriminators[0], "emb", None) if len(self.discriminators) else None
        return emb.num_embeddings if emb is not None else 0

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> DiscOutput:
        """x (B, T) -> (logits (B, N) per sub-discriminator, feature maps per sub-discriminator);
        ``condition``: the conditioning id (1,) of a conditioned discriminator."""
        logits, fmaps = [], []
        for d in self.discriminators:
            logit_map, fmap = d(x) if condition is None else d(x, condition)
            logits.append(
                logit_map.flatten(1).float()
            )  # fp32 under autocast: the adversarial losses stay fp32
            fmaps.append(fmap)
        return logits, fmaps


def segment_length(cfg) -> int | None:
    """The training crop length in samples (``audio.segment_length``), or None where not a positive int."""
    seg = cfg.get("audio", {}).get("segment_length") if hasattr(cfg, "get") else None
    return seg if isinstance(seg, int) and seg > 0 else None


def condition_problems(node, key: str, cfg) -> list[str]:
    """A conditioned discriminator (``num_embeddings``) takes as many ids as the generator is conditioned
    on (``model.generator.backbone.adanorm_num_embeddings``), and needs a conditioned generator."""
    n = node.get("num_embeddings") if hasattr(node, "get") else None
    if n is None:
        return []
    generator = cfg.get("model", {}).get("generator", {}) if hasattr(cfg, "get") else {}
    ids = (generator.get("backbone") or {}).get("adanorm_num_embeddings")
    if not isinstance(n, int) or n < 1:
        return [f"{key}.num_embeddings={n!r}: a positive number of conditioning ids, or null"]
    if ids != n:
        return [
            f"{key}.num_embeddings={n} but the generator is conditioned on {ids or 'no'} ids "
            "(model.generator.backbone.adanorm_num_embeddings): set them equal, or num_embeddings: null"
        ]
    return []


def window_problems(key: str, sizes: Iterable[int], cfg) -> list[str]:
    """Each STFT size ``sizes`` (listed at ``key``) fits in a training crop."""
    seg = segment_length(cfg)
    return [
        f"{key} has n_fft {n} > audio.segment_length={seg}: the STFT needs at least one full window; "
        f"use sizes <= {seg} or a longer segment"
        for n in sizes
        if seg is not None and int(n) > seg
    ]
