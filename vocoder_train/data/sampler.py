"""A resumable, rank-aware random sampler.

Each epoch's order is a pure function of ``(seed, epoch)``, and each yielded item carries its
own seed, derived from ``(seed, epoch, index)``, which the dataset uses for the random crop,
gain and augmentation. After a restart in the middle of an epoch the sampler skips the items
already consumed, so a resumed run sees exactly the batches an uninterrupted run would have.
Under DDP each rank takes every ``world``-th item of the same permutation (as
``DistributedSampler`` does), so Lightning's own sampler replacement is turned off
(``trainer.use_distributed_sampler: false``). Validation uses :class:`EvalSampler`, which scores
every item exactly once on any number of ranks.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler


def _rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def item_seed(seed: int, epoch: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


class EpochSampler(Sampler):
    """Base of the resumable samplers: an epoch counter (Lightning calls ``set_epoch``), a one-shot
    skip for resuming mid-epoch, and this process's DDP rank and world size."""

    def __init__(self, seed: int = 0):
        self.seed, self.epoch = int(seed), 0
        self._skip = 0
        self.rank, self.world = _rank_world()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def skip_next(self, num_items: int) -> None:
        """Skip the first ``num_items`` (of this rank) in the next iteration only."""
        self._skip = int(num_items)

    def _take_skip(self) -> int:
        skip, self._skip = self._skip, 0
        return skip


class ResumableSampler(EpochSampler):
    """Yields ``(index, item_seed)`` pairs.

    Args:
        num_items (int): dataset length.
        seed (int): base seed (the run's ``seed``).
        shuffle (bool): random order per epoch; else sequential.
    """

    def __init__(self, num_items: int, seed: int = 0, shuffle: bool = True):
        super().__init__(seed)
        self.num_items, self.shuffle = int(num_items), shuffle

    def _order(self) -> list[int]:
        if not self.shuffle:
            order = list(range(self.num_items))
        else:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.num_items, generator=g).tolist()
        per_rank = len(order) // self.world if self.world > 1 else len(order)
        return order[self.rank :: self.world][:per_rank]  # equal counts on every rank

    def __len__(self) -> int:
        return len(self._order())

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = self._order()
        for index in order[self._take_skip() :]:
            yield index, item_seed(self.seed, self.epoch, index)


class EvalSampler(EpochSampler):
    """Every item exactly once across the ranks, in order: yields ``(index, seed, weight)``.

    Rank ``r`` takes items ``r, r + world, ...``. Ranks with fewer items than others (5 files on 2
    ranks; 1 file on 2 ranks) are padded to the same count with items of weight 0, so every rank
    runs the same number of validation steps (DDP's collectives need that), and the metrics leave
    the padding out.

    Args:
        num_items (int): dataset length (at least 1).
    """

    def __init__(self, num_items: int):
        super().__init__(seed=0)
        self.num_items = int(num_items)

    def __len__(self) -> int:
        return -(-self.num_items // self.world)

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        own = list(range(self.rank, self.num_items, self.world))
        for index in own:
            yield index, index, 1
        for _ in range(len(self) - len(own)):
            yield 0, 0, 0
