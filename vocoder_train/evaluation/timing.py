"""Timing a streaming decode: wall-clock figures per push and what a streaming run reports.

:func:`stream_mel` runs :func:`vocoder_train.models.inference.streaming.stream_decode`'s loop with a
clock around every push and the flush (:class:`StreamTiming`); :func:`stream_figures` turns one run
into the figures that ``vocoder-synthesize --stream`` prints and ``benchmarks/bench_stream.py``
tabulates (measured tables: docs/results/).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from vocoder_train.models.inference.streaming import Streamer, mel_chunks


@dataclass
class StreamTiming:
    """Wall-clock figures of one :func:`stream_mel` run (seconds).

    chunk_s: compute time of each push. first_audio_s: from the first push to the return of the
    first push that gave audio. flush_s: the flush. total_s: all of them.
    """

    chunk_s: list[float] = field(default_factory=list)
    first_audio_s: float = 0.0
    flush_s: float = 0.0

    @property
    def total_s(self) -> float:
        return sum(self.chunk_s) + self.flush_s

    @property
    def chunks(self) -> int:
        return len(self.chunk_s)

    @property
    def median_s(self) -> float:
        return statistics.median(self.chunk_s) if self.chunk_s else 0.0

    @property
    def p95_s(self) -> float:
        return percentile(self.chunk_s, 95)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``values``; 0 when empty."""
    if not values:
        return 0.0
    ranked = sorted(values)
    return ranked[min(len(ranked) - 1, max(0, math.ceil(q / 100 * len(ranked)) - 1))]


def stream_mel(
    streamer: Streamer, mel: torch.Tensor, chunk_frames: int | Sequence[int]
) -> tuple[torch.Tensor, StreamTiming]:
    """Pushes ``mel`` (B, C, L) through ``streamer`` in chunks of ``chunk_frames`` (an int, or sizes
    cycled), then flushes. Returns (audio (B, T): the pieces concatenated, :class:`StreamTiming`)."""
    pieces, timing = [], StreamTiming()
    t_first = time.perf_counter()
    for chunk in mel_chunks(mel, chunk_frames):
        t0 = time.perf_counter()
        piece = streamer.push(chunk)
        timing.chunk_s.append(time.perf_counter() - t0)
        if piece.shape[-1] and not timing.first_audio_s:
            timing.first_audio_s = time.perf_counter() - t_first
        pieces.append(piece)
    t0 = time.perf_counter()
    pieces.append(streamer.flush())
    timing.flush_s = time.perf_counter() - t0
    if not timing.first_audio_s:
        timing.first_audio_s = time.perf_counter() - t_first
    return torch.cat(pieces, dim=-1), timing


def stream_figures(streamer: Streamer, timing: StreamTiming, audio_seconds: float, chunk_frames: int) -> dict:
    """The figures a streaming run reports: algorithmic latency (ms; None if unknown), first-chunk wall
    latency, per-chunk compute median and p95 (ms), real-time factor (compute / audio), chunk size."""
    return dict(
        stream=streamer.description,
        chunk_frames=int(chunk_frames),
        chunk_ms=1e3 * chunk_frames * streamer.hop_length / streamer.sample_rate,
        latency_ms=streamer.latency_ms,
        first_audio_ms=1e3 * timing.first_audio_s,
        chunk_ms_median=1e3 * timing.median_s,
        chunk_ms_p95=1e3 * timing.p95_s,
        rtf=timing.total_s / audio_seconds if audio_seconds > 0 else float("nan"),
    )
