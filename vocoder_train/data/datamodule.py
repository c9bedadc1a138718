"""Train and validation datasets and loaders over manifests.

:class:`VocoderDataModule` is plain Python (``data/`` does not depend on Lightning);
:class:`vocoder_train.training.data.LightningData` hands its loaders to the Trainer.

Two options change what a training item is:

- ``mels: true`` reads (audio, teacher-forced mel) pairs (:mod:`vocoder_train.data.mel_dataset`):
  batches carry a ``mel`` (B, n_mels, L) that the module synthesizes from. Gain and augmentation
  are off for pairs (the mel encodes the audio's level).
- ``sources: [{name, manifest, weight}, ...]`` instead of ``train`` mixes several corpora by
  weight (:mod:`vocoder_train.data.mixing`); :meth:`VocoderDataModule.source_names` names the
  corpus of each item loaded, which :class:`vocoder_train.training.callbacks.DataHealth` counts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from vocoder_train.data.dataset import AudioDataset
from vocoder_train.data.manifest import read_manifest
from vocoder_train.data.mel_dataset import MelPairDataset, read_pair_manifest
from vocoder_train.data.mixing import WeightedResumableSampler, normalize_sources
from vocoder_train.data.sampler import EvalSampler, ResumableSampler
from vocoder_train.io.signals import ignore_stop_signals

log = logging.getLogger(__name__)


class VocoderDataModule:
    """Train/val loaders. ``batch_size`` is per device (under DDP each rank loads its own).

    Args:
        train, val: manifest (JSONL from ``vocoder-prepare``), filelist or folder.
        sample_rate (int): training rate in Hz.
        segment_length (int): training crop in samples (a multiple of the hop length).
        val_segment_length (int): validation segment in samples (first part of each file).
        batch_size (int): per-device training batch.
        val_batch_size (int): per-device validation batch.
        num_workers (int): DataLoader worker processes (0 in tests).
        max_val_files (int | None): use only the first N validation files.
        augment: optional training augmentation (``data/augment`` config group).
        mels (bool): train and validate on (audio, precomputed mel) pair manifests (entries with "mel").
        hop_length, n_fft, n_mels, mel_padding: the generator's feature extractor (for pairs: the
            expected frame count and bin count).
        max_frame_mismatch (int): pairs: frames trimmed/padded with a warning; more skips the file.
        sources (list[dict] | None): ``[{name, manifest, weight}]`` to mix corpora instead of ``train``.
        epoch_size (int | None): with ``sources``: draws per epoch (default: all corpora's items).
        cache_audio (bool): keep decoded, resampled training files in memory (per worker; small corpora).
    """

    def __init__(
        self,
        train: str | None,
        val: str,
        sample_rate: int,
        segment_length: int,
        val_segment_length: int,
        batch_size: int = 16,
        val_batch_size: int = 4,
        num_workers: int = 4,
        gain_db: Sequence[float] = (-6.0, -1.0),
        val_gain_db: float = -3.0,
        resample_quality: str = "high",
        partial_reads: bool = True,
        max_val_files: int | None = None,
        augment: Callable | None = None,
        persistent_workers: bool = True,
        pin_memory: bool | None = None,
        seed: int = 0,
        mels: bool = False,
        hop_length: int = 256,
        n_fft: int = 1024,
        n_mels: int = 100,
        mel_padding: str = "center",
        max_frame_mismatch: int = 3,
        sources: Sequence[dict] | None = None,
        epoch_size: int | None = None,
        cache_audio: bool = False,
    ):
        if sources and train:
            raise ValueError(
                "data.sources and data.train are both set: give one (set data.train=null to mix sources)"
            )
        if not sources and not train:
            raise ValueError("data.train is not set: point it at a manifest, or give data.sources")
        self.train_source, self.val_source = train, val
        self.sources = normalize_sources(sources) if sources else None
        self.epoch_size = epoch_size
        self.sample_rate, self.segment_length = int(sample_rate), int(segment_length)
        self.val_segment_length = int(val_segment_length)
        self.batch_size, self.val_batch_size = int(batch_size), int(val_batch_size)
        self.num_workers = int(num_workers)
        self.gain_db, self.val_gain_db = tuple(gain_db), float(val_gain_db)
        self.resample_quality, self.partial_reads = resample_quality, partial_reads
        self.max_val_files = max_val_files
        self.augment = augment
        self.persistent_workers = persistent_workers
        self.pin_memory = pin_memory
        self.seed = int(seed)
        self.mels = bool(mels)
        self.hop_length, self.n_fft, self.n_mels = int(hop_length), int(n_fft), int(n_mels)
        self.mel_padding, self.max_frame_mismatch = mel_padding, int(max_frame_mismatch)
        self.cache_audio = bool(cache_audio)
        if self.mels:
            for key, n in (
                ("segment_length", self.segment_length),
                ("val_segment_length", self.val_segment_length),
            ):
                if n % self.hop_length:
                    raise ValueError(f"data.{key}={n} is not a multiple of data.hop_length={self.hop_length}")
            if augment is not None:
                log.warning(
                    "data.augment is ignored with data.mels=true: the target audio must match its mel"
                )
        self.train_set: AudioDataset | None = None
        self.val_set: AudioDataset | None = None
        self._source_sizes: list[int] = []

    # -- datasets --------------------------------------------------------------------------

    def _read(self, source: str) -> list[dict]:
        return read_pair_manifest(source) if self.mels else read_manifest(source)

    def _dataset(self, items: list[dict], train: bool) -> AudioDataset:
        seg = self.segment_length if train else self.val_segment_length
        if self.mels:
            return MelPairDataset(
                items,
                self.sample_rate,
                seg // self.hop_length,
                self.hop_length,
                self.n_mels,
                n_fft=self.n_fft,
                padding=self.mel_padding,
                train=train,
                max_frame_mismatch=self.max_frame_mismatch,
                resample_quality=self.resample_quality,
                cache_audio=self.cache_audio and train,
            )
        if train:
            return AudioDataset(
                items,
                self.sample_rate,
                seg,
                train=True,
                gain_db=self.gain_db,
                augment=self.augment,
                resample_quality=self.resample_quality,
                partial_reads=self.partial_reads,
                cache_audio=self.cache_audio,
            )
        return AudioDataset(
            items,
            self.sample_rate,
            seg,
            train=False,
            val_gain_db=self.val_gain_db,
            resample_quality=self.resample_quality,
            partial_reads=self.partial_reads,
        )

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None and stage in (None, "fit"):
            if self.sources:
                per_source = [self._read(s["manifest"]) for s in self.sources]
                self._source_sizes = [len(x) for x in per_source]
                items = [it for part in per_source for it in part]
            else:
                items = self._read(self.train_source)
            self.train_set = self._dataset(items, train=True)
        if self.val_set is None:
            self.val_set = self._dataset(
                self._read(self.val_source)[: self.max_val_files or None], train=False
            )

    # -- loaders ---------------------------------------------------------------------------

    def _sampler(self, dataset: AudioDataset, train: bool):
        if not train:
            return EvalSampler(len(dataset))
        if self.sources:
            weights = [s["weight"] for s in self.sources]
            return WeightedResumableSampler(
                self._source_sizes, weights, seed=self.seed, epoch_size=self.epoch_size
            )
        return ResumableSampler(len(dataset), seed=self.seed, shuffle=True)

    def _loader(self, dataset: AudioDataset, batch_size: int, train: bool, skip_batches: int) -> DataLoader:
        pin = torch.cuda.is_available() if self.pin_memory is None else self.pin_memory
        sampler = self._sampler(dataset, train)
        drop_last = train and len(sampler) >= batch_size  # never drop this rank's only batch
        if skip_batches:
            per_epoch = len(sampler) // batch_size if drop_last else -(-len(sampler) // batch_size)
            sampler.skip_next(skip_batches % max(1, per_epoch) * batch_size)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            drop_last=drop_last,
            num_workers=self.num_workers,
            persistent_workers=self.persistent_workers and self.num_workers > 0,
            pin_memory=pin,
            worker_init_fn=ignore_stop_signals,  # the training process decides when to stop
        )

    def train_dataloader(self, skip_batches: int = 0) -> DataLoader:
        """The training loader; ``skip_batches``: batches of the current epoch already trained on
        (resuming mid-epoch), whose items the sampler skips once."""
        assert self.train_set is not None, "setup('fit') first"
        return self._loader(self.train_set, self.batch_size, train=True, skip_batches=skip_batches)

    def val_dataloader(self) -> DataLoader:
        assert self.val_set is not None, "setup() first"
        return self._loader(self.val_set, self.val_batch_size, train=False, skip_batches=0)

    def source_names(self, index: torch.Tensor | np.ndarray | Sequence[int]) -> list[str]:
        """The ``data.sources`` name of each training item index; empty without sources."""
        if not self.sources:
            return []
        offsets = np.cumsum([0] + self._source_sizes[:-1])
        which = offsets.searchsorted(np.asarray(torch.as_tensor(index).cpu()), side="right") - 1
        return [self.sources[s]["name"] for s in which.tolist()]
