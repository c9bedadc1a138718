"""Datasets over a manifest, filelist or folder of audio files.

Training items are random fixed-length crops (repeat-padded when a file is shorter),
with the random peak gain of the Vocos recipe; validation items are the deterministic
first ``segment_length`` samples of each file (zero-padded) at a fixed gain, so
validation metrics are comparable across runs.

A file that vanished, became unreadable or decodes to NaN/Inf after ``vocoder-prepare``
is skipped: the item is replaced by another file and the batch carries the count
(``skipped``) and the path (``skipped_path``) so training (the ``DataHealth`` callback) can log
and limit them. Nothing here crashes a run because of one bad file.
"""

from __future__ import annotations

import logging
import math
import os
import random
from collections.abc import Callable, Sequence

import torch
from torch.utils.data import Dataset

from vocoder_train.data.manifest import read_manifest
from vocoder_train.io.audio import AudioReadError, load_audio

log = logging.getLogger(__name__)

# Extra seconds read on each side of a partial read, so the resampling filter sees
# real signal at the crop's edges (the "high" kernel spans 64 zero crossings).
_READ_MARGIN_S = 0.01
MAX_RETRIES = 8


class AudioDataset(Dataset):
    """Audio crops of ``segment_length`` samples at ``sample_rate``.

    Args:
        items: a manifest/filelist/folder path, or the sequence of manifest dicts.
        sample_rate (int): target rate in Hz; files are resampled with a cached kernel.
        segment_length (int): samples per item.
        train (bool): random crop + random gain; else first segment + fixed gain.
        gain_db (tuple[float, float]): peak level range in dBFS for training items.
        val_gain_db (float): peak level in dBFS for validation items.
        augment: optional callable ``(audio (T,), sample_rate=, seed=) -> audio`` (training only).
        resample_quality (str): kernel of :func:`vocoder_train.io.audio.resample`.
        partial_reads (bool): decode only the needed span when the manifest gives lengths.
        cache_audio (bool): keep every decoded, resampled file in memory (per worker process):
            for small corpora (minutes to an hour) where decoding would dominate a CPU step.

    Items are dicts: ``audio`` (segment_length,), ``index``, ``skipped`` (int),
    ``skipped_path`` (str, "" when none).
    """

    def __init__(
        self,
        items: str | os.PathLike | Sequence[dict],
        sample_rate: int,
        segment_length: int,
        train: bool = True,
        gain_db: Sequence[float] = (-6.0, -1.0),
        val_gain_db: float = -3.0,
        augment: Callable | None = None,
        resample_quality: str = "high",
        partial_reads: bool = True,
        cache_audio: bool = False,
    ):
        if isinstance(items, str | os.PathLike):
            items = read_manifest(items)
        # a Sequence is kept as given: a sharded corpus's items are looked up lazily, never listed
        self.items = items if isinstance(items, Sequence) else list(items)
        if not self.items:
            raise ValueError("AudioDataset: no files to read (the manifest/filelist/folder is empty)")
        if segment_length <= 0:
            raise ValueError(f"AudioDataset: segment_length must be > 0, got {segment_length}")
        self.sample_rate = int(sample_rate)
        self.segment_length = int(segment_length)
        self.train = train
        self.gain_db = (float(gain_db[0]), float(gain_db[1]))
        self.val_gain_db = float(val_gain_db)
        self.augment = augment
        self.resample_quality = resample_quality
        self.partial_reads = partial_reads
        self.cache_audio = cache_audio
        self._cache: dict[str, torch.Tensor] = {}
        self._bad: set[int] = set()  # indices that failed to load in this process (worker)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: int | tuple[int, int] | tuple[int, int, int]) -> dict:
        """``key``: an index, ``(index, seed)`` from :class:`~vocoder_train.data.sampler.ResumableSampler`
        (the seed fixes the crop, gain and augmentation of this draw) or ``(index, seed, weight)``
        from :class:`~vocoder_train.data.sampler.EvalSampler` (weight 0: padding that metrics leave out)."""
        index, seed, weight = (tuple(key) + (1,))[:3] if isinstance(key, tuple) else (key, None, 1)
        if not self.train:
            seed = index
        elif seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        rng = random.Random(seed)
        skipped, skipped_path, idx = 0, "", index
        for _ in range(MAX_RETRIES + 1):
            if idx not in self._bad:
                try:
                    audio = self._load(self.items[idx], rng)
                    break
                except (AudioReadError, ValueError) as e:
                    log.warning("skipping %s", e)
                    self._bad.add(idx)
            skipped += 1
            skipped_path = skipped_path or self.items[idx]["path"]
            idx = self._replacement(rng)
        else:
            raise RuntimeError(
                f"{MAX_RETRIES + 1} files in a row could not be read (first: {skipped_path}); "
                "re-run vocoder-prepare on the corpus"
            )
        return {
            "audio": audio,
            "index": idx,
            "skipped": skipped,
            "skipped_path": skipped_path,
            "weight": float(weight),
        }

    def _replacement(self, rng: random.Random) -> int:
        """A random index not yet known to be bad (known bad files are never decoded twice)."""
        if len(self._bad) * 2 < len(self.items):
            while True:
                idx = rng.randrange(len(self.items))
                if idx not in self._bad:
                    return idx
        good = [i for i in range(len(self.items)) if i not in self._bad]
        return rng.choice(good) if good else rng.randrange(len(self.items))

    # -- loading -----------------------------------------------------------------------------

    def _load(self, item: dict, rng: random.Random) -> torch.Tensor:
        n = self.segment_length
        audio = self._read_span(item, rng) if self.train else self._read_head(item)
        if not torch.isfinite(audio).all():
            raise ValueError(f"{item['path']}: decodes to NaN/Inf samples")
        if audio.numel() == 0:
            raise ValueError(f"{item['path']}: decodes to no samples")
        if self.train:
            audio = _random_crop_or_repeat(audio, n, rng)
            target_db = rng.uniform(*self.gain_db)
        else:
            audio = torch.nn.functional.pad(audio[:n], (0, max(0, n - audio.numel())))
            target_db = self.val_gain_db
        audio = _peak_normalize(audio, target_db)
        if self.train and self.augment is not None:
            audio = self.augment(audio, sample_rate=self.sample_rate, seed=rng.randrange(2**31))
        return audio

    def _read_cached(self, item: dict) -> torch.Tensor:
        path = item["path"]
        if path not in self._cache:
            self._cache[path] = load_audio(path, self.sample_rate, quality=self.resample_quality)[0][0]
        return self._cache[path]

    def _read_head(self, item: dict) -> torch.Tensor:
        if self.cache_audio:
            return self._read_cached(item)[: self.segment_length]
        dur = self.segment_length / self.sample_rate + _READ_MARGIN_S
        known = self.partial_reads and "sample_rate" in item
        audio, _ = load_audio(
            item["path"], self.sample_rate, duration=dur if known else None, quality=self.resample_quality
        )
        return audio[0]

    def _read_span(self, item: dict, rng: random.Random) -> torch.Tensor:
        """Reads a random span a little longer than a segment, or the whole file."""
        if self.cache_audio:
            return self._read_cached(item)
        seg_s = self.segment_length / self.sample_rate
        file_s = item.get("duration")
        if not self.partial_reads or not file_s or file_s <= seg_s + 4 * _READ_MARGIN_S:
            return load_audio(item["path"], self.sample_rate, quality=self.resample_quality)[0][0]
        start = rng.uniform(0.0, file_s - seg_s - 2 * _READ_MARGIN_S)
        audio, _ = load_audio(
            item["path"],
            self.sample_rate,
            offset=start,
            duration=seg_s + 2 * _READ_MARGIN_S,
            quality=self.resample_quality,
        )
        audio = audio[0]
        margin = int(_READ_MARGIN_S * self.sample_rate)
        if audio.numel() >= self.segment_length + 2 * margin:
            audio = audio[margin:]
        return audio


def _random_crop_or_repeat(audio: torch.Tensor, n: int, rng: random.Random) -> torch.Tensor:
    if audio.numel() >= n:
        start = rng.randrange(audio.numel() - n + 1)
        return audio[start : start + n]
    reps = math.ceil(n / audio.numel())
    return audio.repeat(reps)[:n]


def _peak_normalize(audio: torch.Tensor, target_db: float) -> torch.Tensor:
    peak = audio.abs().max()
    if peak < 1e-6:  # silence stays silence
        return audio
    return audio * (10.0 ** (target_db / 20.0) / peak)
