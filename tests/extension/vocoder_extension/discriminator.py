"""A discriminator on the waveform's amplitude envelope, at a few frame lengths."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from vocoder_train.models.discriminators.base import MultiDiscriminator, conv_stack, segment_length


class _Envelope(nn.Module):
    def __init__(self, frame_length: int, channels: int):
        super().__init__()
        self.frame_length = frame_length
        self.convs = nn.ModuleList(
            [
                weight_norm(nn.Conv1d(1, channels, 5, padding=2)),
                weight_norm(nn.Conv1d(channels, channels, 5, stride=2, padding=2)),
            ]
        )
        self.post = weight_norm(nn.Conv1d(channels, 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        hop = self.frame_length // 4
        envelope = F.avg_pool1d(x.abs().unsqueeze(1), self.frame_length, hop)
        return conv_stack(self.convs, self.post, envelope)


class EnvelopeDiscriminator(MultiDiscriminator):
    """One envelope sub-discriminator per frame length (samples, each a multiple of 4)."""

    def __init__(self, frame_lengths: Sequence[int] = (256, 1024), channels: int = 16):
        super().__init__(_Envelope(int(n), channels) for n in frame_lengths)

    @classmethod
    def config_problems(cls, node, key: str, cfg) -> list[str]:
        seg = segment_length(cfg)
        p = []
        for n in node.get("frame_lengths") or []:
            if int(n) % 4:
                p.append(f"{key}.frame_lengths has {n}: use a multiple of 4")
            elif seg is not None and 8 * int(n) > seg:
                p.append(
                    f"{key}.frame_lengths has {n}: a training crop (audio.segment_length={seg}) holds fewer "
                    f"than 8 frames of it; use at most {seg // 8}"
                )
        return p
