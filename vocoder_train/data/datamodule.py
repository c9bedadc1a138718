"""The Lightning DataModule: train and validation loaders over manifests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from vocoder_train.data.dataset import AudioDataset
from vocoder_train.data.manifest import read_manifest
from vocoder_train.data.sampler import ResumableSampler


class VocoderDataModule(pl.LightningDataModule):
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
    """

    def __init__(
        self,
        train: str,
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
    ):
        super().__init__()
        self.train_source, self.val_source = train, val
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
        self.train_set: AudioDataset | None = None
        self.val_set: AudioDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None and stage in (None, "fit"):
            self.train_set = AudioDataset(
                read_manifest(self.train_source), self.sample_rate, self.segment_length, train=True,
                gain_db=self.gain_db, augment=self.augment, resample_quality=self.resample_quality,
                partial_reads=self.partial_reads,
            )
        if self.val_set is None:
            val_items = read_manifest(self.val_source)[: self.max_val_files or None]
            self.val_set = AudioDataset(
                val_items, self.sample_rate, self.val_segment_length, train=False,
                val_gain_db=self.val_gain_db, resample_quality=self.resample_quality,
                partial_reads=self.partial_reads,
            )

    def _loader(self, dataset: AudioDataset, batch_size: int, shuffle: bool, drop_last: bool) -> DataLoader:
        pin = torch.cuda.is_available() if self.pin_memory is None else self.pin_memory
        sampler = ResumableSampler(len(dataset), seed=self.seed, shuffle=shuffle)
        drop_last = drop_last and len(sampler) >= batch_size  # never drop this rank's only batch
        if shuffle:  # resuming mid-epoch: skip what the checkpointed run already trained on
            per_epoch = len(sampler) // batch_size if drop_last else -(-len(sampler) // batch_size)
            sampler.skip_next(self._consumed_in_epoch() % max(1, per_epoch) * batch_size)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            drop_last=drop_last,
            num_workers=self.num_workers,
            persistent_workers=self.persistent_workers and self.num_workers > 0,
            pin_memory=pin,
        )

    def _consumed_in_epoch(self) -> int:
        """Batches of the current epoch already trained on (non-zero when resuming mid-epoch)."""
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 0
        return int(trainer.fit_loop.epoch_loop.batch_progress.current.completed)

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None, "setup('fit') first"
        return self._loader(self.train_set, self.batch_size, shuffle=True, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        assert self.val_set is not None, "setup() first"
        return self._loader(self.val_set, self.val_batch_size, shuffle=False, drop_last=False)
