"""Chunked decoding: long mels in bounded memory, equal to the one-shot decode.

A mel is decoded in chunks of ``chunk_frames`` frames, each with ``context_frames`` extra frames
on both sides that are decoded and then trimmed away. The generator is local (convolutions,
per-frame layer norms, an overlap-add ISTFT), so when the context covers its receptive field
(:func:`receptive_context`, computed from the model's config) the trimmed chunks equal the
one-shot output up to float rounding: trimming is exact and a crossfade would only blur. Memory
is bounded by one chunk's activations plus the output waveform.

Works on any :class:`vocoder_train.models.vocoder.Vocoder` (``decode``, ``hop_length``, ``n_fft``,
``padding``, ``config``, ``round_trips()``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from vocoder_train.dsp import istft_trim
from vocoder_train.models.causal import causal_context
from vocoder_train.models.upsampling import frame_factor

if TYPE_CHECKING:
    from vocoder_train.models.vocoder import Vocoder

DEFAULT_CONTEXT = 32  # frames, for backbones whose receptive field is not known from the config


@dataclass
class SynthesisTiming:
    """Wall-clock seconds of one :func:`synthesize_mel` call."""

    total_s: float
    first_chunk_s: float
    chunks: int


def receptive_context(vocoder: Vocoder) -> int:
    """Context frames per side that make chunked decoding equal one-shot decoding."""
    causal = causal_context(vocoder.config)
    if causal is not None:  # left: the causal convolutions' reach; right: the frames overlapping a hop
        return causal + math.ceil(vocoder.n_fft / vocoder.hop_length)
    backbone = vocoder.config.get("backbone", {})
    if str(backbone.get("class_path", "")).endswith(("VocosBackbone", "UpsamplingBackbone")):
        # embed conv and one depthwise conv per ConvNeXt block, all kernel 7 (3 frames each side), in the
        # backbone's frames; an upsampling backbone makes `factor` of those a feature frame, and its
        # interpolation reaches one feature frame each side
        args = backbone.get("init_args", {})
        factor = frame_factor(args)
        conv = math.ceil(3 * (int(args.get("num_layers", 8)) + 1) / factor) + (factor > 1)
    else:
        conv = DEFAULT_CONTEXT
    n_fft, hop = vocoder.n_fft, vocoder.hop_length
    # Overlap-add: output in frame l's hop depends on the frames whose windows reach it.
    trim = istft_trim(n_fft, hop, vocoder.padding)
    ola = math.ceil(max(trim, n_fft - trim - hop) / hop)
    # ConsistencyISTFTHead's refinement iterations and the mel projection's passes: each is an
    # ISTFT + STFT round trip, which reaches the frames whose windows overlap (n_fft / hop - 1 per side)
    round_trips = vocoder.round_trips()
    spread = math.ceil(n_fft / hop) - 1
    return conv + ola + round_trips * spread + (1 if round_trips else 0)


def chunk_frames(vocoder: Vocoder, seconds: float) -> int:
    """Frames in ``seconds`` of the model's audio (0 for ``seconds <= 0``: decode in one shot)."""
    return max(1, round(seconds * vocoder.sample_rate / vocoder.hop_length)) if seconds > 0 else 0


def synthesize_mel(
    vocoder: Vocoder, mel: torch.Tensor, chunk_frames: int = 0, context_frames: int | None = None
) -> tuple[torch.Tensor, SynthesisTiming]:
    """features (1, C, L) -> audio (1, T), decoded in chunks of ``chunk_frames`` (0: one shot).

    Chunk ``[s, e)`` is decoded with ``context_frames`` frames of the neighbours on each side
    (``None``: :func:`receptive_context`) and its samples ``[s * hop, e * hop)`` are kept:
    output sample ``i`` of a decode that starts at frame ``s0`` is global sample ``s0 * hop + i``
    for both "same" and "center" heads.
    """
    n_frames, hop = mel.shape[-1], vocoder.hop_length
    ctx = receptive_context(vocoder) if context_frames is None else int(context_frames)
    if vocoder.padding == "center":
        ctx = max(ctx, 1)  # a "center" decode of n frames ends one hop early; a frame beyond e covers it
    start = time.perf_counter()
    if chunk_frames <= 0 or n_frames <= chunk_frames:
        audio = vocoder.decode(mel)
        elapsed = time.perf_counter() - start
        return audio, SynthesisTiming(elapsed, elapsed, 1)
    pieces, first = [], 0.0
    for s in range(0, n_frames, chunk_frames):
        e = min(n_frames, s + chunk_frames)
        s0, e0 = max(0, s - ctx), min(n_frames, e + ctx)
        out = vocoder.decode(mel[..., s0:e0])
        stop = out.shape[-1] if e == n_frames else (e - s0) * hop
        pieces.append(out[..., (s - s0) * hop : stop])
        if not first:
            first = time.perf_counter() - start
    return torch.cat(pieces, dim=-1), SynthesisTiming(time.perf_counter() - start, first, len(pieces))
