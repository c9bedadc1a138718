"""Teacher-forced training: (audio, precomputed features) pairs.

A pair manifest is a manifest whose entries also name a ``.npy`` of shape ``(C, L)`` or ``(1, C, L)``
that was computed for the same utterance elsewhere. Two kinds
(:class:`~vocoder_train.data.pair_kinds.PairKind`):

- mel pairs (:data:`MEL`, ``vocoder-prepare --mels DIR``, ``data=mel_pairs``): a TTS model's mel,
  ``{"path": "/data/wavs/a.wav", "mel": "/data/mels/a.npy", ...}``, on the vocoder's own mel grid;
- feature pairs (:data:`FEATURES`, ``vocoder-prepare --features DIR --frame-rate R``,
  ``data=feature_pairs``): any features at R frames a second (SSL layers, TTS latents, another
  codec's features), ``{"path": ..., "features": "/data/feats/a.npy", ...}``, synthesized by a
  generator whose front end is :class:`vocoder_train.models.frontends.PrecomputedFeatures`.

The vocoder then learns to synthesize the *recorded* audio from the *given* features, which is what
it will be given at inference.

Frame counts. The given frame count rarely equals the expected one exactly (padding conventions differ
by a frame or two). For mels the expected count is what our feature extractor gives for the audio's
length at the model rate (:func:`vocoder_train.dsp.expected_frames`): ``T // hop + 1`` for
padding="center" (vocos' MelSpectrogramFeatures), ``T // hop`` for "same" (HiFi-GAN style, with
``n_fft - hop`` even). For features it is ``T // hop``, ``hop = sample_rate / frame_rate``: frame
``f`` stands for samples ``[f * hop, (f + 1) * hop)`` (the "same" grid of a one-hop window).

A difference of up to ``max_frame_mismatch`` frames is reconciled (extra frames trimmed from
the end, missing ones padded by repeating the last frame), warned about once per file and
counted (``frames_fixed`` in each item, summed by the ``DataHealth`` callback). A larger difference
means the features are not of this audio, or not at this hop: the file is rejected
(:class:`PairMismatchError`, naming the file and both counts), at training time as a skipped file.

Levels. The audio is *not* gain-normalized or augmented: a log-mel (and most features) encodes the
level of the audio it was computed from, so a random gain on the audio alone would teach the
generator to produce a different level from the one the features ask for (and augmentations would
make the target disagree with them in the same way). ``gain_db`` / ``augment`` are ignored here.
"""

from __future__ import annotations

import logging
import math
import os
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from vocoder_train.data.dataset import AudioDataset
from vocoder_train.data.manifest import ManifestError, read_manifest
from vocoder_train.data.pair_kinds import FEATURES, MEL, PairKind
from vocoder_train.dsp import expected_frames
from vocoder_train.io.audio import load_audio
from vocoder_train.io.filekind import sniff

log = logging.getLogger(__name__)


class PairMismatchError(ValueError):
    """A paired file is missing, unreadable, or does not fit its audio. The message names the file."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason  # one of PairKind.reasons (vocoder-prepare's reasons)


def resampled_length(num_samples: int, orig: int, new: int) -> int:
    """Length after :func:`vocoder_train.io.audio.resample` (torchaudio rounds up)."""
    if orig == new:
        return int(num_samples)
    g = math.gcd(int(orig), int(new))
    return -(-int(num_samples) * (new // g) // (orig // g))


def load_features(
    path: str | os.PathLike,
    channels: int | None = None,
    mmap: bool = False,
    kind: PairKind = MEL,
    expected: str = "the model takes",
) -> np.ndarray:
    """Reads a ``.npy`` of ``kind`` as ``(C, L)``; raises :class:`PairMismatchError` (reason set) when it
    is missing, unreadable, not 2-D (or ``(1, C, L)``), has another ``channels`` count than given, or is
    not finite. ``mmap``: map the file instead of reading it (the finite check is then left to the
    caller's slice). ``expected``: who wants ``channels``, for the message."""
    p = Path(path)
    if not p.is_file():
        raise PairMismatchError(f"{p}: {kind.key} file not found", kind.reasons[0])
    try:
        x = np.load(p, mmap_mode="r" if mmap else None, allow_pickle=False)
        if not isinstance(x, np.ndarray):  # np.load opens an .npz archive too
            x.close()
            raise ValueError("an archive")
    except (
        OSError,
        ValueError,
    ) as e:  # numpy's allow_pickle advice is not passed on: unsafe for a file from elsewhere
        found, why = sniff(p), "it holds Python objects, not numbers" if "allow_pickle" in str(e) else str(e)
        what = (
            f"is {found.description}, not a numpy .npy array"
            if found.name != "npy"
            else f"cannot be read ({why})"
        )
        raise PairMismatchError(
            f"{p} {what}: save each {kind.item} with numpy.save(path, {kind.key}) as float32 "
            f"({kind.symbol}, frames)",
            kind.reasons[1],
        ) from e
    if x.ndim == 3 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.floating):
        raise PairMismatchError(
            f"{p}: {kind.item} of shape {tuple(x.shape)} and dtype {x.dtype}; expected float "
            f"({kind.symbol}, frames) or (1, {kind.symbol}, frames)",
            kind.reasons[1],
        )
    if channels is not None and x.shape[0] != channels:
        hint = f" (is it (frames, {kind.symbol})? save it transposed)" if x.shape[1] == channels else ""
        raise PairMismatchError(
            f"{p}: {x.shape[0]} {kind.size}, {expected} {channels}{hint}", kind.reasons[2]
        )
    if not mmap and not np.isfinite(x).all():
        raise PairMismatchError(f"{p}: {kind.item} holds NaN/Inf values", kind.reasons[1])
    return x


def check_frames(
    frames: int, expected: int, max_mismatch: int, path: str, audio_path: str, kind: PairKind = MEL
) -> int:
    """``frames - expected``; raises :class:`PairMismatchError` when it exceeds ``max_mismatch``."""
    diff = int(frames) - int(expected)
    if abs(diff) > max_mismatch:
        raise PairMismatchError(
            f"{path}: {frames} {kind.frames}, but {audio_path} gives {expected} frames at our hop "
            f"(difference {diff:+d} > max_frame_mismatch={max_mismatch}); {kind.subject} of another "
            f"utterance or another {kind.grid} / sample rate",
            kind.reasons[3],
        )
    return diff


def reconcile_frames(x: np.ndarray, expected: int) -> np.ndarray:
    """Trims ``x (C, L)`` to ``expected`` frames, or pads it by repeating the last frame."""
    if x.shape[1] >= expected:
        return x[:, :expected]
    edge = np.repeat(x[:, -1:], expected - x.shape[1], axis=1)
    return np.concatenate([x, edge], axis=1)


def read_pair_manifest(source: str | os.PathLike, kind: PairKind = MEL) -> list[dict]:
    """:func:`read_manifest` plus ``kind``'s key, required and resolved against the manifest's folder."""
    items = read_manifest(source)
    base = Path(source).expanduser().parent
    for i, item in enumerate(items):
        if kind.key not in item:
            raise ManifestError(
                f"{source}: entry {i + 1} ({item['path']}) has no '{kind.key}' key; {kind.flag} needs a pair "
                f"manifest (vocoder-prepare ... {kind.option})"
            )
        p = Path(item[kind.key]).expanduser()
        item[kind.key] = str(p if p.is_absolute() else (base / p).resolve())
    return items


class PairDataset(AudioDataset):
    """(audio, precomputed features) segments of ``segment_frames`` frames: the pairs of :attr:`kind`,
    on the frame grid of :meth:`frame_grid`. Use :class:`MelPairDataset` or :class:`FeaturePairDataset`.

    Args:
        items: a pair manifest path, or manifest dicts with ``path`` and ``kind.key``.
        sample_rate (int): model rate in Hz; audio is resampled to it, features are used as given.
        segment_frames (int): frames per item; audio is ``segment_frames * hop_length`` samples.
        hop_length (int): samples per frame.
        channels (int): feature channels (mel bins) the model takes.
        n_fft (int), padding (str): the mel front end's, for the expected frame count
            (:func:`vocoder_train.dsp.expected_frames`); feature pairs have a grid of their own.
        train (bool): random frame-aligned crop; else the first segment.
        max_frame_mismatch (int): frames reconciled with a warning; more rejects the file.
        resample_quality (str): see :func:`vocoder_train.io.audio.resample`.
        cache_audio (bool): keep decoded files in memory (per worker process).

    Items are dicts: ``audio`` (segment_frames * hop,), ``features`` (channels, segment_frames),
    ``index``, ``skipped``, ``skipped_path`` (as :class:`AudioDataset`), ``frames_fixed`` (1 when
    this item's features had their frame count reconciled). A file shorter than a segment is repeated
    (audio and features together, on a frame boundary), in training and validation alike.
    """

    kind: PairKind = MEL

    def __init__(
        self,
        items: str | os.PathLike | Sequence[dict],
        sample_rate: int,
        segment_frames: int,
        hop_length: int,
        channels: int,
        n_fft: int = 1024,
        padding: str = "center",
        train: bool = True,
        max_frame_mismatch: int = 3,
        resample_quality: str = "high",
        cache_audio: bool = False,
    ):
        kind = self.kind
        if isinstance(items, str | os.PathLike):
            items = read_pair_manifest(items, kind)
        missing = [it["path"] for it in items if kind.key not in it]
        if missing:
            raise ManifestError(
                f"{type(self).__name__}: {len(missing)} entries have no '{kind.key}' key, e.g. {missing[0]}"
            )
        n_fft, padding = self.frame_grid(hop_length, n_fft, padding)
        expected_frames(0, hop_length, n_fft, padding)  # validates padding
        super().__init__(
            items,
            sample_rate,
            segment_frames * hop_length,
            train=train,
            resample_quality=resample_quality,
            partial_reads=False,
            cache_audio=cache_audio,
        )
        self.segment_frames, self.hop_length, self.n_fft = int(segment_frames), int(hop_length), int(n_fft)
        self.channels, self.padding, self.max_frame_mismatch = int(channels), padding, int(max_frame_mismatch)
        self._warned: set[int] = set()  # files whose frame mismatch was logged (in this process)
        self.fixed_files: dict[str, int] = {}  # path -> frames given minus expected, for reconciled files

    @staticmethod
    def frame_grid(hop_length: int, n_fft: int, padding: str) -> tuple[int, str]:
        """(n_fft, padding) of the expected frame count: here the mel front end's, as given."""
        return n_fft, padding

    def __getitem__(self, key: int | tuple[int, ...]) -> dict:
        out = super().__getitem__(key)  # AudioDataset's retry/skip loop around self._load
        out["audio"], out["features"], out["frames_fixed"] = out["audio"]
        return out

    def _load(self, item: dict, rng: random.Random) -> tuple[torch.Tensor, torch.Tensor, int]:
        # The whole file: the frame check needs its exact length at the model rate (utterances are short).
        if self.cache_audio:
            audio = self._read_cached(item)
        else:
            audio = load_audio(item["path"], self.sample_rate, quality=self.resample_quality)[0][0]
        if audio.numel() == 0:
            raise ValueError(f"{item['path']}: decodes to no samples")
        if not torch.isfinite(audio).all():
            raise ValueError(f"{item['path']}: decodes to NaN/Inf samples")
        path, kind = item[self.kind.key], self.kind
        feats = load_features(path, self.channels, mmap=True, kind=kind)
        expected = expected_frames(audio.numel(), self.hop_length, self.n_fft, self.padding)
        diff = check_frames(feats.shape[1], expected, self.max_frame_mismatch, path, item["path"], kind)
        if diff:
            self._note_mismatch(item, diff, expected)
        # Frames whose whole hop of audio exists: frame f pairs with audio [f * hop, (f + 1) * hop).
        usable = min(expected, audio.numel() // self.hop_length)
        if usable == 0:
            raise ValueError(f"{item['path']}: shorter than one hop ({self.hop_length} samples)")
        n = self.segment_frames
        start = rng.randrange(usable - n + 1) if self.train and usable > n else 0
        stop = min(start + n, usable)
        seg = np.asarray(reconcile_frames(feats, expected)[:, start:stop], dtype=np.float32)
        if not np.isfinite(seg).all():
            raise PairMismatchError(f"{path}: {kind.item} holds NaN/Inf values", kind.reasons[1])
        seg_audio = audio[start * self.hop_length : stop * self.hop_length]
        if stop - start < n:  # a short file: repeat audio and features together
            reps = math.ceil(n / (stop - start))
            seg_audio = seg_audio.repeat(reps)[: n * self.hop_length]
            seg = np.tile(seg, (1, reps))[:, :n]
        return seg_audio.contiguous(), torch.from_numpy(np.ascontiguousarray(seg)), int(diff != 0)

    def _note_mismatch(self, item: dict, diff: int, expected: int) -> None:
        self.fixed_files[item["path"]] = diff
        key = id(item)
        if key not in self._warned:
            self._warned.add(key)
            what = f"trimmed {diff}" if diff > 0 else f"padded {-diff} (last frame repeated)"
            log.warning(
                "%s: %d %s for %d expected from %s; %s frame(s)",
                item[self.kind.key],
                expected + diff,
                self.kind.frames,
                expected,
                item["path"],
                what,
            )


class MelPairDataset(PairDataset):
    """(audio, teacher-forced mel) pairs (:data:`MEL`) on the grid of the generator's mel front end
    (``hop_length``, ``n_fft``, ``padding``); ``channels``: the mel bins the model takes."""

    kind = MEL


class FeaturePairDataset(PairDataset):
    """(audio, precomputed features) pairs (:data:`FEATURES`): ``channels`` features a frame, one frame
    every ``hop_length`` samples (``sample_rate / frame_rate``), ``T // hop`` frames for T samples."""

    kind = FEATURES

    @staticmethod
    def frame_grid(hop_length: int, n_fft: int, padding: str) -> tuple[int, str]:
        """The feature grid (:func:`feature_grid`), whatever ``n_fft`` and ``padding`` say."""
        return feature_grid(hop_length)


def feature_grid(hop_length: int) -> tuple[int, str]:
    """(n_fft, padding) that give :func:`vocoder_train.dsp.expected_frames` the feature grid, ``T // hop``
    frames: a one-hop window with "same" padding, frame ``f`` covering samples ``[f * hop, (f + 1) * hop)``.
    """
    return int(hop_length), "same"
