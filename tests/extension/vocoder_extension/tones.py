"""A data source that reads no files: harmonic tones drawn from (seed, epoch, index)."""

from __future__ import annotations

import math

import torch
from torch.utils.data import DataLoader, Dataset


class _Tones(Dataset):
    def __init__(self, size: int, sample_rate: int, length: int, f0_range, seed: int):
        self.size, self.sample_rate, self.length = size, sample_rate, length
        self.f0_range, self.seed = tuple(f0_range), seed

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        lo, hi = self.f0_range
        f0 = lo + (hi - lo) * float(torch.rand((), generator=g))
        t = torch.arange(self.length) / self.sample_rate
        audio = sum(0.3 / k * torch.sin(2 * math.pi * k * f0 * t) for k in range(1, 5))
        return {"audio": audio.float(), "index": index}


class ToneData:
    """Training and validation tones (one process), following vocoder_train's data-source contract."""

    def __init__(
        self,
        sample_rate: int,
        segment_length: int,
        batch_size: int = 2,
        items: int = 8,
        val_items: int = 2,
        f0_range=(100.0, 400.0),
        seed: int = 0,
    ):
        self.batch_size = batch_size
        self.train = _Tones(items, sample_rate, segment_length, f0_range, seed)
        self.val = _Tones(val_items, sample_rate, segment_length, f0_range, seed + 1)

    @classmethod
    def config_problems(cls, node, key: str, cfg) -> list[str]:
        rate, (lo, hi) = node.get("sample_rate"), node.get("f0_range")
        if isinstance(rate, int) and 4 * hi >= rate / 2:
            return [
                f"{key}.f0_range tops at {hi} Hz: its 4th harmonic reaches Nyquist; use at most {rate / 8:g}"
            ]
        return [] if lo > 0 else [f"{key}.f0_range starts at {lo} Hz: use a positive frequency"]

    def setup(self, stage: str | None = None) -> None:
        pass

    def train_dataloader(self, skip_batches: int = 0) -> DataLoader:
        order = list(range(len(self.train)))[skip_batches * self.batch_size :]
        return DataLoader(torch.utils.data.Subset(self.train, order), batch_size=self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val, batch_size=self.batch_size)

    def source_names(self, index) -> list[str]:
        return []
