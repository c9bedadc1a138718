"""Teacher-forced fine-tuning: (audio, precomputed mel) pairs.

A pair manifest is a manifest whose entries also name a ``mel``: a ``.npy`` of shape
``(n_mels, L)`` or ``(1, n_mels, L)`` that a TTS model produced for the same utterance::

    {"path": "/data/wavs/a.wav", "mel": "/data/mels/a.npy", "sample_rate": 22050, ...}

(``vocoder-prepare --mels DIR`` writes these). The vocoder then learns to synthesize the
*recorded* audio from the *TTS* mel, which is what it will be given at inference.

Frame counts. The TTS model's frame count rarely equals the vocoder front-end's exactly
(padding conventions differ by a frame or two). The expected count is what our feature
extractor gives for the audio's length at the model rate (:func:`vocoder_train.dsp.expected_frames`):
``T // hop + 1`` for padding="center" (vocos' MelSpectrogramFeatures), ``T // hop`` for "same"
(HiFi-GAN style, with ``n_fft - hop`` even).

A difference of up to ``max_frame_mismatch`` frames is reconciled (extra frames trimmed from
the end, missing ones padded by repeating the last frame), warned about once per file and
counted (``mel_fixed`` in each item, summed by the ``DataHealth`` callback). A larger difference means the
mel is not of this audio, or not at this hop: the file is rejected (:class:`MelMismatchError`,
naming the file and both counts), at training time as a skipped file.

Levels. The audio is *not* gain-normalized or augmented: a log-mel encodes the level of the
audio it was computed from, so a random gain on the audio alone would teach the generator to
produce a different level from the one the mel asks for (and augmentations would make the
target disagree with the mel in the same way). ``gain_db`` / ``augment`` are ignored here.
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
from vocoder_train.dsp import expected_frames
from vocoder_train.io.audio import load_audio
from vocoder_train.io.filekind import sniff

log = logging.getLogger(__name__)


class MelMismatchError(ValueError):
    """A mel file is missing, unreadable, or does not fit its audio. The message names the file."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = (
            reason  # mel_missing | mel_unreadable | mel_bins | mel_frames (vocoder-prepare's reasons)
        )


def resampled_length(num_samples: int, orig: int, new: int) -> int:
    """Length after :func:`vocoder_train.io.audio.resample` (torchaudio rounds up)."""
    if orig == new:
        return int(num_samples)
    g = math.gcd(int(orig), int(new))
    return -(-int(num_samples) * (new // g) // (orig // g))


def load_mel(path: str | os.PathLike, n_mels: int | None = None, mmap: bool = False) -> np.ndarray:
    """Reads a ``.npy`` mel as ``(n_mels, L)``; raises :class:`MelMismatchError` (reason set) when it
    is missing, unreadable, not 2-D (or ``(1, n_mels, L)``), has the wrong bin count, or is not finite.
    ``mmap``: map the file instead of reading it (the finite check is then left to the caller's slice)."""
    p = Path(path)
    if not p.is_file():
        raise MelMismatchError(f"{p}: mel file not found", "mel_missing")
    try:
        mel = np.load(p, mmap_mode="r" if mmap else None, allow_pickle=False)
        if not isinstance(mel, np.ndarray):  # np.load opens an .npz archive too
            mel.close()
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
        raise MelMismatchError(
            f"{p} {what}: save each mel with numpy.save(path, mel) as float32 (n_mels, frames)",
            "mel_unreadable",
        ) from e
    if mel.ndim == 3 and mel.shape[0] == 1:
        mel = mel[0]
    if mel.ndim != 2 or not np.issubdtype(mel.dtype, np.floating):
        raise MelMismatchError(
            f"{p}: mel of shape {tuple(mel.shape)} and dtype {mel.dtype}; expected float (n_mels, frames) "
            "or (1, n_mels, frames)",
            "mel_unreadable",
        )
    if n_mels is not None and mel.shape[0] != n_mels:
        hint = " (is it (frames, n_mels)? save it transposed)" if mel.shape[1] == n_mels else ""
        raise MelMismatchError(f"{p}: {mel.shape[0]} mel bins, the model takes {n_mels}{hint}", "mel_bins")
    if not mmap and not np.isfinite(mel).all():
        raise MelMismatchError(f"{p}: mel holds NaN/Inf values", "mel_unreadable")
    return mel


def check_frames(mel_frames: int, expected: int, max_mismatch: int, mel_path: str, audio_path: str) -> int:
    """``mel_frames - expected``; raises :class:`MelMismatchError` when it exceeds ``max_mismatch``."""
    diff = int(mel_frames) - int(expected)
    if abs(diff) > max_mismatch:
        raise MelMismatchError(
            f"{mel_path}: {mel_frames} mel frames, but {audio_path} gives {expected} frames at our hop "
            f"(difference {diff:+d} > max_frame_mismatch={max_mismatch}); the mel is of another utterance "
            "or another hop length / sample rate",
            "mel_frames",
        )
    return diff


def reconcile_frames(mel: np.ndarray, expected: int) -> np.ndarray:
    """Trims ``mel (n_mels, L)`` to ``expected`` frames, or pads it by repeating the last frame."""
    if mel.shape[1] >= expected:
        return mel[:, :expected]
    edge = np.repeat(mel[:, -1:], expected - mel.shape[1], axis=1)
    return np.concatenate([mel, edge], axis=1)


def read_pair_manifest(source: str | os.PathLike) -> list[dict]:
    """:func:`read_manifest` plus the ``mel`` key, required and resolved against the manifest's folder."""
    items = read_manifest(source)
    base = Path(source).expanduser().parent
    for i, item in enumerate(items):
        if "mel" not in item:
            raise ManifestError(
                f"{source}: entry {i + 1} ({item['path']}) has no 'mel' key; data.mels=true needs a pair "
                "manifest (vocoder-prepare ... --mels DIR)"
            )
        p = Path(item["mel"]).expanduser()
        item["mel"] = str(p if p.is_absolute() else (base / p).resolve())
    return items


class MelPairDataset(AudioDataset):
    """(audio, teacher-forced mel) segments of ``segment_frames`` frames.

    Args:
        items: a pair manifest path, or manifest dicts with ``path`` and ``mel``.
        sample_rate (int): model rate in Hz; audio is resampled to it, mels are used as given.
        segment_frames (int): frames per item; audio is ``segment_frames * hop_length`` samples.
        hop_length, n_fft (int), padding (str): the feature extractor's, for the expected frame count.
        n_mels (int): mel bins the model takes.
        train (bool): random frame-aligned crop; else the first segment.
        max_frame_mismatch (int): frames reconciled with a warning; more rejects the file.
        resample_quality (str): see :func:`vocoder_train.io.audio.resample`.
        cache_audio (bool): keep decoded files in memory (per worker process).

    Items are dicts: ``audio`` (segment_frames * hop,), ``mel`` (n_mels, segment_frames),
    ``index``, ``skipped``, ``skipped_path`` (as :class:`AudioDataset`), ``mel_fixed`` (1 when this
    item's mel had its frame count reconciled). A file shorter than a segment is repeated (audio
    and mel together, on a frame boundary), in training and validation alike.
    """

    def __init__(
        self,
        items: str | os.PathLike | Sequence[dict],
        sample_rate: int,
        segment_frames: int,
        hop_length: int,
        n_mels: int,
        n_fft: int = 1024,
        padding: str = "center",
        train: bool = True,
        max_frame_mismatch: int = 3,
        resample_quality: str = "high",
        cache_audio: bool = False,
    ):
        if isinstance(items, str | os.PathLike):
            items = read_pair_manifest(items)
        missing = [it["path"] for it in items if "mel" not in it]
        if missing:
            raise ManifestError(
                f"MelPairDataset: {len(missing)} entries have no 'mel' key, e.g. {missing[0]}"
            )
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
        self.n_mels, self.padding, self.max_frame_mismatch = int(n_mels), padding, int(max_frame_mismatch)
        self._warned: set[int] = set()  # files whose frame mismatch was logged (in this process)
        self.fixed_files: dict[str, int] = {}  # path -> mel frames minus expected, for reconciled files

    def __getitem__(self, key: int | tuple[int, ...]) -> dict:
        out = super().__getitem__(key)  # AudioDataset's retry/skip loop around self._load
        out["audio"], out["mel"], out["mel_fixed"] = out["audio"]
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
        mel = load_mel(item["mel"], self.n_mels, mmap=True)
        expected = expected_frames(audio.numel(), self.hop_length, self.n_fft, self.padding)
        diff = check_frames(mel.shape[1], expected, self.max_frame_mismatch, item["mel"], item["path"])
        if diff:
            self._note_mismatch(item, diff, expected)
        # Frames whose whole hop of audio exists: frame f pairs with audio [f * hop, (f + 1) * hop).
        usable = min(expected, audio.numel() // self.hop_length)
        if usable == 0:
            raise ValueError(f"{item['path']}: shorter than one hop ({self.hop_length} samples)")
        n = self.segment_frames
        start = rng.randrange(usable - n + 1) if self.train and usable > n else 0
        stop = min(start + n, usable)
        seg_mel = np.asarray(reconcile_frames(mel, expected)[:, start:stop], dtype=np.float32)
        if not np.isfinite(seg_mel).all():
            raise MelMismatchError(f"{item['mel']}: mel holds NaN/Inf values", "mel_unreadable")
        seg_audio = audio[start * self.hop_length : stop * self.hop_length]
        if stop - start < n:  # a short file: repeat audio and mel together
            reps = math.ceil(n / (stop - start))
            seg_audio = seg_audio.repeat(reps)[: n * self.hop_length]
            seg_mel = np.tile(seg_mel, (1, reps))[:, :n]
        return seg_audio.contiguous(), torch.from_numpy(np.ascontiguousarray(seg_mel)), int(diff != 0)

    def _note_mismatch(self, item: dict, diff: int, expected: int) -> None:
        self.fixed_files[item["path"]] = diff
        key = id(item)
        if key not in self._warned:
            self._warned.add(key)
            what = f"trimmed {diff}" if diff > 0 else f"padded {-diff} (last frame repeated)"
            log.warning(
                "%s: %d mel frames for %d expected from %s; %s frame(s)",
                item["mel"],
                expected + diff,
                expected,
                item["path"],
                what,
            )
