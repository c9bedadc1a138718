"""The streamers of a streaming decode: mel frames pushed as they arrive, audio returned once it is final.

    streamer = vocoder.stream()              # a causal model: exact, with carried state
    streamer = vocoder.stream(lookahead=4)   # a non-causal model: 4 frames of look-ahead
    for chunk in mel_chunks:                 # (B, n_mels, c): any c >= 0, from call to call
        play(streamer.push(chunk))           # (B, n): every sample that is now final
    play(streamer.flush())                   # (B, n): the rest; then ready for the next utterance

Two streamers (:meth:`vocoder_train.models.vocoder.Vocoder.stream` picks one):

* :class:`CarriedStateStreamer`, for causal generators (:mod:`vocoder_train.models.causal`): one
  :class:`~vocoder_train.models.inference.stream_step.StreamingVocos` step per push, which carries
  the last ``kernel - 1`` input frames of every causal convolution and the overlap-add tail
  (``n_fft - hop`` samples), so a chunk costs only its own frames. The concatenated pushes and flush
  equal the offline ``synthesize(mel)`` for any chunk schedule. The step is also the graph of the
  ``onnx-stream`` export.
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
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import cycle
from typing import TYPE_CHECKING

import torch

from vocoder_train.dsp import causal_latency, istft_trim
from vocoder_train.models.causal import CausalMelSpectrogramFeatures, causal_context
from vocoder_train.models.inference.chunked import receptive_context
from vocoder_train.models.inference.stream_step import NotStreamable

if TYPE_CHECKING:
    from vocoder_train.models.inference.stream_step import StepFn
    from vocoder_train.models.vocoder import Vocoder


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
    """Exact streaming of a causal generator through a step function
    (:mod:`vocoder_train.models.inference.stream_step`: ``torch_step``, ``onnx_step``) that maps
    (mel chunk, state) to (audio, tail_audio, next state).

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
                "stream exactly; it streams with a look-ahead of K frames held back (stream(lookahead=K); "
                f"exact from K >= {exact_lookahead(vocoder)}; the error of smaller K is measured in "
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


def schedule(chunk_frames: int | Iterable[int]) -> Iterable[int]:
    """Chunk sizes to push: an int repeats, a sequence cycles."""
    sizes = [int(chunk_frames)] if isinstance(chunk_frames, int) else [int(c) for c in chunk_frames]
    if not sizes or min(sizes) < 0 or max(sizes) == 0:
        raise ValueError(f"chunk frames {chunk_frames}: need sizes >= 0, at least one > 0")
    return cycle(sizes)


def mel_chunks(mel: torch.Tensor, chunk_frames: int | Sequence[int]) -> Iterator[torch.Tensor]:
    """``mel`` (B, C, L) in consecutive chunks (B, C, c) of ``chunk_frames`` frames (an int, or sizes
    cycled), the last one cut at L."""
    sizes, start = iter(schedule(chunk_frames)), 0
    while start < mel.shape[-1]:
        size = next(sizes)
        yield mel[..., start : start + size]
        start += size


def stream_decode(streamer: Streamer, mel: torch.Tensor, chunk_frames: int | Sequence[int]) -> torch.Tensor:
    """Pushes ``mel`` (B, C, L) through ``streamer`` in chunks of ``chunk_frames`` (:func:`mel_chunks`),
    then flushes; returns the pieces concatenated, audio (B, T)."""
    pieces = [streamer.push(chunk) for chunk in mel_chunks(mel, chunk_frames)]
    return torch.cat([*pieces, streamer.flush()], dim=-1)
