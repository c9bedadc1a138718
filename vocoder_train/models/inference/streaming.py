"""Streaming decode: mel frames pushed as they arrive, audio returned as soon as it is final.

    streamer = vocoder.stream()              # a causal model: exact, with carried state
    streamer = vocoder.stream(lookahead=4)   # a non-causal model: 4 frames of look-ahead
    for chunk in mel_chunks:                 # (B, n_mels, c): any c >= 0, from call to call
        play(streamer.push(chunk))           # (B, n): every sample that is now final
    play(streamer.flush())                   # (B, n): the rest; then ready for the next utterance

Two streamers (:meth:`vocoder_train.models.store.Vocoder.stream` picks one):

* :class:`CarriedStateStreamer`, for causal generators (:mod:`vocoder_train.models.causal`): one
  :class:`StreamingVocos` step per push, which carries the last ``kernel - 1`` input frames of
  every causal convolution and the overlap-add tail (``n_fft - hop`` samples), so a chunk costs only
  its own frames. The concatenated pushes and flush equal the offline ``synthesize(mel)`` for any
  chunk schedule. :class:`StreamingVocos` is also the graph of ``vocoder-export --format onnx-stream``.
* :class:`LookaheadStreamer`, for any model: each push re-decodes the new frames with
  :func:`stream_context` frames of left context and returns the samples up to ``lookahead`` frames
  before the newest one. With the left context covering the receptive field, the error against
  the offline output comes only from the frames the output would need beyond the look-ahead; it
  vanishes from :func:`exact_lookahead` frames on: the receptive field for vocos' non-causal
  generator, ``n_fft / hop - 1`` for a causal one in a stateless TorchScript/ONNX export (which
  streams exactly this way).

Algorithmic latency (``Streamer.latency_samples``): how far the final output trails the end of the
audio that the pushed frames analyse (the last frame's analysis window). For a causal generator it is
the overlap-add tail, ``n_fft - hop`` (32 ms at 24 kHz, 1024 / 256); for a look-ahead streamer on
vocos' centred mel, ``n_fft / 2 + (lookahead - 1) * hop``. Computing frames from live audio adds up
to one hop of buffering to either.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import cycle
from typing import TYPE_CHECKING

import torch
from torch import nn

from vocoder_train.dsp import (
    carry_overlap_add,
    causal_latency,
    causal_normalize,
    head_real_imag,
    head_spectrum,
    istft_trim,
    synthesis_overlap_add,
)
from vocoder_train.models.causal import CausalMelSpectrogramFeatures, causal_context, is_causal
from vocoder_train.models.inference.chunked import receptive_context
from vocoder_train.models.inference.exportable import CausalRealISTFT

if TYPE_CHECKING:
    from vocoder_train.models.store import Vocoder

StepFn = Callable[[torch.Tensor, list[torch.Tensor]], tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]]


class NotStreamable(ValueError):
    """The model cannot stream as asked; the message says what would."""


# -- the causal step ---------------------------------------------------------------------------------


class StreamingVocos(nn.Module):
    """One streaming step of a causal generator:
    ``(mel (B, C, c), *state) -> (audio (B, c * hop), tail_audio (B, n_fft - hop), *next_state)``.

    ``state``: per causal convolution (:meth:`~vocoder_train.models.causal.CausalVocosBackbone.causal_convs`)
    its last ``kernel - 1`` input frames (B, C_i, kernel - 1), then the overlap-add tail (B, n_fft - hop);
    :meth:`initial_state` gives the zeros that start an utterance. ``audio`` holds the samples the
    c frames finish, counted from the first frame's overlap-add position, so an utterance's first
    ``n_fft - hop`` samples lie before time 0 and are dropped. ``tail_audio`` is what the utterance
    would end with if these were its last frames (the tail divided by the envelope).

    Shares the generator's modules. With ``graph`` the inverse DFT is
    :class:`~vocoder_train.models.inference.exportable.CausalRealISTFT`'s real-valued basis, so the
    module traces to ONNX with dynamic batch and chunk length; eagerly it is ``irfft`` + shifted
    adds (torch runs the basis' ``conv_transpose1d`` ~150x slower on CPU: 6 ms against 0.04 ms for
    two frames at n_fft 1024).

    Args:
        generator: a ``VocosGenerator`` with :class:`~vocoder_train.models.causal.CausalVocosBackbone`
            and :class:`~vocoder_train.models.causal.CausalISTFTHead`.
        graph (bool): build the graph form (for export).
    """

    def __init__(self, generator: nn.Module, graph: bool = False):
        super().__init__()
        if not is_causal(generator):
            backbone = type(getattr(generator, "backbone", None)).__name__
            parts = f"{backbone} + {type(getattr(generator, 'head', None)).__name__}"
            raise NotStreamable(
                f"the generator ({parts}) is not causal, so it cannot stream with carried state; train a "
                "causal "
                "one (model/generator=vocos_causal or vocos_causal_small), or stream this one with a "
                "look-ahead"
            )
        self.backbone, self.out = generator.backbone, generator.head.out
        istft = generator.head.istft
        self.istft = CausalRealISTFT(istft.n_fft, istft.hop_length, window=istft.window).to(
            istft.window.device
        )
        self.graph = bool(graph)

    @property
    def latency(self) -> int:
        return self.istft.latency

    def initial_state(self, batch: int) -> list[torch.Tensor]:
        ref = self.out.weight
        return [*self.backbone.initial_state(batch, ref), ref.new_zeros(batch, self.istft.latency)]

    def forward(self, mel: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        hidden, conv_state = self.backbone.step(mel, list(state[:-1]))
        x = self.out(hidden).transpose(1, 2)
        if self.graph:
            ola = self.istft.overlap_added(*head_real_imag(x))
        else:
            ola = synthesis_overlap_add(head_spectrum(x), self.istft.window, self.istft.hop_length)
        audio, tail = carry_overlap_add(ola, state[-1], self.istft.envelope)
        return (audio, causal_normalize(tail, self.istft.envelope), *conv_state, tail)


def torch_step(module: StreamingVocos, device: str = "cpu") -> StepFn:
    """A :class:`CarriedStateStreamer` step running ``module`` eagerly on ``device`` (CPU tensors out)."""

    def step(mel: torch.Tensor, state: list[torch.Tensor]):
        with torch.inference_mode():
            audio, tail_audio, *nxt = module(mel.to(device).float(), *state)
        return audio.cpu(), tail_audio.cpu(), nxt

    return step


def onnx_step(session) -> StepFn:
    """A :class:`CarriedStateStreamer` step running a ``--format onnx-stream`` graph in onnxruntime."""
    names = [i.name for i in session.get_inputs()]

    def step(mel: torch.Tensor, state: list[torch.Tensor]):
        feeds = dict(zip(names, (t.detach().float().cpu().numpy() for t in (mel, *state)), strict=True))
        audio, tail_audio, *nxt = (torch.from_numpy(o) for o in session.run(None, feeds))
        return audio, tail_audio, nxt

    return step


def onnx_initial_state(session) -> Callable[[int], list[torch.Tensor]]:
    """Zeros for a ``--format onnx-stream`` graph's state inputs, with the batch size filled in."""
    shapes = [i.shape[1:] for i in session.get_inputs()[1:]]
    return lambda batch: [torch.zeros(batch, *shape) for shape in shapes]


# -- streamers ---------------------------------------------------------------------------------------


class Streamer:
    """``push(mel (B, C, c)) -> audio (B, n)`` and ``flush() -> audio (B, n)``: the samples that are
    final, in order; after ``flush`` the streamer starts a new utterance.

    Attributes:
        hop_length (int), sample_rate (int): the model's.
        latency_samples (int | None): the algorithmic latency (module docstring); None when the front
            end's analysis window is not known.
        lookahead (int): frames held back beyond the newest (0 for the carried-state streamer).
        exact (bool): whether push + ... + flush equals the offline decode.
        description (str): one line for people.
    """

    hop_length: int
    sample_rate: int
    latency_samples: int | None
    lookahead: int
    exact: bool
    description: str

    @property
    def latency_ms(self) -> float | None:
        return None if self.latency_samples is None else 1e3 * self.latency_samples / self.sample_rate

    def push(self, mel: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def flush(self) -> torch.Tensor:
        raise NotImplementedError


class CarriedStateStreamer(Streamer):
    """Exact streaming of a causal generator through a step function (:func:`torch_step`,
    :func:`onnx_step`) that maps (mel chunk, state) to (audio, tail_audio, next state).

    Args:
        step: the step function.
        initial_state: batch size -> the zeros that start an utterance.
        hop_length, sample_rate (int): the model's.
        latency (int): ``n_fft - hop``: the samples the first pushes return before time 0 (dropped),
            and the algorithmic latency.
        description (str): one line for people.
    """

    lookahead, exact = 0, True

    def __init__(
        self,
        step: StepFn,
        initial_state: Callable[[int], list[torch.Tensor]],
        hop_length: int,
        sample_rate: int,
        latency: int,
        description: str = "carried state (exact)",
    ):
        self._step, self._initial_state = step, initial_state
        self.hop_length, self.sample_rate = int(hop_length), int(sample_rate)
        self.latency_samples, self.description = int(latency), description
        self._state: list[torch.Tensor] | None = None
        self._tail_audio: torch.Tensor | None = None
        self._batch, self._preroll = 1, self.latency_samples

    def push(self, mel: torch.Tensor) -> torch.Tensor:
        """mel (B, C, c) -> audio (B, n); n = c * hop once the first ``n_fft / hop - 1`` frames are in."""
        if self._state is None:
            self._batch = mel.shape[0]
            self._state = self._initial_state(self._batch)
        elif mel.shape[0] != self._batch:
            raise ValueError(
                f"push: batch {mel.shape[0]} but this utterance started with batch {self._batch}; "
                "flush() first to start another"
            )
        if mel.shape[-1] == 0:
            return mel.new_zeros(self._batch, 0)
        audio, self._tail_audio, self._state = self._step(mel, self._state)
        return self._drop_preroll(audio)

    def flush(self) -> torch.Tensor:
        """The last ``n_fft - hop`` samples (the tail, faded out as if silent frames followed), minus
        any the pushes have not passed yet before time 0. Resets the stream."""
        out = (
            torch.zeros(self._batch, 0) if self._tail_audio is None else self._drop_preroll(self._tail_audio)
        )
        self._state, self._tail_audio, self._preroll = None, None, self.latency_samples
        return out

    def _drop_preroll(self, audio: torch.Tensor) -> torch.Tensor:
        n = min(self._preroll, audio.shape[-1])
        self._preroll -= n
        return audio[..., n:]


class LookaheadStreamer(Streamer):
    """Streams any ``decode(mel (B, C, L)) -> audio (B, T)`` by re-decoding: each push decodes the
    frames from ``context`` frames before the first unreturned hop to the newest frame and returns
    the samples up to ``lookahead`` frames before the newest; flush returns the rest.

    Output sample ``i`` of a decode that starts at frame ``s`` is sample ``s * hop + i`` of the
    offline decode (vocos' "same" and "center" heads and the causal head alike), so each push
    returns a contiguous piece of it, exact when ``context`` and ``lookahead`` cover what the
    returned samples depend on.

    Args:
        decode: features (B, C, L) -> audio (B, T), as ``Vocoder.decode``.
        hop_length, sample_rate (int): the model's.
        context (int): left context frames (:func:`stream_context`).
        lookahead (int): frames held back, >= 0.
        latency (int | None): the algorithmic latency in samples (:func:`lookahead_latency`).
        exact (bool): whether ``context`` and ``lookahead`` cover the receptive field.
    """

    def __init__(
        self,
        decode: Callable[[torch.Tensor], torch.Tensor],
        hop_length: int,
        sample_rate: int,
        context: int,
        lookahead: int,
        latency: int | None,
        exact: bool = False,
    ):
        if int(lookahead) < 0:
            raise ValueError(f"lookahead={lookahead}: must be >= 0 frames")
        self._decode = decode
        self.hop_length, self.sample_rate = int(hop_length), int(sample_rate)
        self.context, self.lookahead = int(context), int(lookahead)
        self.latency_samples, self.exact = latency, bool(exact)
        self.description = (
            f"look-ahead {self.lookahead} frames, re-decoding {self.context} frames of context "
            f"({'exact' if exact else 'not exact'})"
        )
        self._reset()

    def _reset(self) -> None:
        self._mel: torch.Tensor | None = None  # frames from self._first on
        self._first = 0  # frame index of self._mel[..., 0]
        self._frames = 0  # frames pushed
        self._done = 0  # samples returned

    def push(self, mel: torch.Tensor) -> torch.Tensor:
        self._mel = mel if self._mel is None else torch.cat([self._mel, mel], dim=-1)
        self._frames += mel.shape[-1]
        return self._emit((self._frames - self.lookahead) * self.hop_length)

    def flush(self) -> torch.Tensor:
        out = self._emit(None)
        self._reset()
        return out

    def _emit(self, target: int | None) -> torch.Tensor:
        """Samples [done, target) (None: to the end of the decode), decoded with the left context."""
        batch = 1 if self._mel is None else self._mel.shape[0]
        if self._mel is None or self._frames == 0 or (target is not None and target <= self._done):
            return torch.zeros(batch, 0)
        start = max(0, self._done // self.hop_length - self.context)
        audio = self._decode(self._mel[..., start - self._first :])
        end = start * self.hop_length + audio.shape[-1]
        end = end if target is None else min(end, target)
        out = audio[..., self._done - start * self.hop_length : max(0, end - start * self.hop_length)]
        self._done = max(self._done, end)
        keep = max(
            0, self._done // self.hop_length - self.context
        )  # the next decode starts here at the earliest
        self._mel, self._first = self._mel[..., keep - self._first :], keep
        return out


# -- a model's streaming properties ------------------------------------------------------------------


def stream_context(vocoder: Vocoder) -> int:
    """Left context frames that make a look-ahead stream of ``vocoder`` exact on the left: a causal
    generator's receptive field (:func:`vocoder_train.models.causal.causal_context`), otherwise
    :func:`~vocoder_train.models.inference.chunked.receptive_context`."""
    causal = causal_context(vocoder.config)
    return receptive_context(vocoder) if causal is None else causal


def exact_lookahead(vocoder: Vocoder) -> int:
    """The smallest look-ahead (frames) that streams ``vocoder`` exactly with :func:`stream_context`."""
    if causal_context(vocoder.config) is not None:
        return math.ceil(causal_latency(vocoder.n_fft, vocoder.hop_length) / vocoder.hop_length)
    return receptive_context(vocoder)


def analysis_reach(vocos_config: dict) -> int | None:
    """Samples from ``l * hop`` to the end of frame ``l``'s analysis window, by the feature
    extractor's grid ("causal": hop, "center": n_fft / 2, "same": (n_fft + hop) / 2); None when
    the feature extractor is not a framed spectrum this knows."""
    node = vocos_config.get("feature_extractor") or {}
    cls, args = str(node.get("class_path", "")), node.get("init_args") or {}
    n_fft, hop = args.get("n_fft"), args.get("hop_length")
    if not (n_fft and hop):
        return None
    if cls.endswith(CausalMelSpectrogramFeatures.__name__):
        return int(n_fft) - causal_latency(int(n_fft), int(hop))
    if cls.endswith("HifiganMelFeatures"):
        padding = "same"
    elif cls.endswith("MelSpectrogramFeatures"):
        padding = args.get("padding", "center")
    else:
        return None
    return int(n_fft) - istft_trim(int(n_fft), int(hop), padding)


def lookahead_latency(vocoder: Vocoder, lookahead: int) -> int | None:
    """Algorithmic latency (samples) of a :class:`LookaheadStreamer` of ``vocoder`` in steady state:
    the last frame's analysis reach, minus its hop, plus the samples held back (``lookahead``
    hops; at least one for a "center" head, whose decode ends a hop before its last frame)."""
    reach = analysis_reach(vocoder.config)
    if reach is None:
        return None
    held = max(int(lookahead), 1 if vocoder.padding == "center" else 0)
    return reach - vocoder.hop_length + held * vocoder.hop_length


def lookahead_streamer(vocoder: Vocoder, lookahead: int | None) -> LookaheadStreamer:
    """A :class:`LookaheadStreamer` over ``vocoder.decode``. ``lookahead`` None: refused for a
    non-causal model (:class:`NotStreamable`, saying what to pass); for a causal one (a stateless
    export) the exact look-ahead."""
    causal = causal_context(vocoder.config) is not None
    if lookahead is None:
        if not causal:
            raise NotStreamable(
                f"the generator is not causal ({vocoder.config['backbone'].get('class_path')}), so it cannot "
                "stream "
                "exactly; give a look-ahead in frames (--lookahead K, or stream(lookahead=K)) to stream it "
                "with K "
                f"frames held back (exact from K >= {exact_lookahead(vocoder)}; the error of smaller K is "
                "measured in "
                "docs/guide-streaming.md), or train a causal model (model/generator=vocos_causal)"
            )
        lookahead = exact_lookahead(vocoder)
    exact = int(lookahead) >= exact_lookahead(vocoder)
    return LookaheadStreamer(
        vocoder.decode,
        vocoder.hop_length,
        vocoder.sample_rate,
        stream_context(vocoder),
        int(lookahead),
        lookahead_latency(vocoder, int(lookahead)),
        exact,
    )


# -- running a stream --------------------------------------------------------------------------------


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


def schedule(chunk_frames: int | Iterable[int]) -> Iterable[int]:
    """Chunk sizes to push: an int repeats, a sequence cycles."""
    sizes = [int(chunk_frames)] if isinstance(chunk_frames, int) else [int(c) for c in chunk_frames]
    if not sizes or min(sizes) < 0 or max(sizes) == 0:
        raise ValueError(f"chunk frames {chunk_frames}: need sizes >= 0, at least one > 0")
    return cycle(sizes)


def stream_mel(
    streamer: Streamer, mel: torch.Tensor, chunk_frames: int | Sequence[int]
) -> tuple[torch.Tensor, StreamTiming]:
    """Pushes ``mel`` (B, C, L) through ``streamer`` in chunks of ``chunk_frames`` (an int, or sizes
    cycled), then flushes. Returns (audio (B, T): the pieces concatenated, :class:`StreamTiming`)."""
    pieces, timing, start = [], StreamTiming(), 0
    sizes = iter(schedule(chunk_frames))
    t_first = time.perf_counter()
    while start < mel.shape[-1]:
        size = next(sizes)
        t0 = time.perf_counter()
        piece = streamer.push(mel[..., start : start + size])
        timing.chunk_s.append(time.perf_counter() - t0)
        if piece.shape[-1] and not timing.first_audio_s:
            timing.first_audio_s = time.perf_counter() - t_first
        pieces.append(piece)
        start += size
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
