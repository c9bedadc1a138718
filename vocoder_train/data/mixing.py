"""Data mixing: several training corpora in one run, each drawn with its weight.

    data.sources=[{name: libritts, manifest: a/train.jsonl, weight: 3}, {name: mine, manifest: b/train.jsonl,
    weight: 1}]

Each item of corpus ``s`` is drawn with probability ``weight_s / len(s)`` (normalized over all
items), so corpus ``s`` as a whole gets ``weight_s / sum(weights)`` of the draws whatever its size.
Within a corpus the draws walk through a fresh permutation (then another), so every file of a
small corpus is seen before any repeats. An epoch is ``sum(len(s))`` draws, or ``data.epoch_size``.

:class:`WeightedResumableSampler` has the interface of
:class:`~vocoder_train.data.sampler.ResumableSampler`: it yields ``(index, item_seed)`` with
indices into the concatenation of the corpora, its order is a pure function of
``(seed, epoch)``, ranks take every ``world``-th draw, and ``skip_next`` resumes mid-epoch.
The mix actually drawn is logged as ``data/mix_<name>`` by
:class:`vocoder_train.training.callbacks.DataHealth`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from vocoder_train.data.sampler import EpochSampler, item_seed

_MIX_STREAM = 0x6D6978  # "mix": keeps these draws independent of ResumableSampler's


class WeightedResumableSampler(EpochSampler):
    """Yields ``(index, item_seed)`` pairs drawn from several corpora by weight.

    Args:
        sizes (Sequence[int]): items per corpus; indices are into their concatenation, in this order.
        weights (Sequence[float]): relative share of the draws per corpus (> 0).
        seed (int): base seed (the run's ``seed``).
        epoch_size (int | None): draws per epoch over all ranks; None: ``sum(sizes)``.
    """

    def __init__(
        self, sizes: Sequence[int], weights: Sequence[float], seed: int = 0, epoch_size: int | None = None
    ):
        if len(sizes) != len(weights) or not sizes:
            raise ValueError(
                f"WeightedResumableSampler: {len(sizes)} corpus sizes but {len(weights)} weights"
            )
        if any(int(n) <= 0 for n in sizes):
            raise ValueError(
                f"WeightedResumableSampler: every corpus needs at least one item, got sizes {list(sizes)}"
            )
        if any(not float(w) > 0 for w in weights):
            raise ValueError(f"WeightedResumableSampler: weights must be > 0, got {list(weights)}")
        self.sizes = [int(n) for n in sizes]
        w = np.asarray(weights, dtype=np.float64)
        self.probs = w / w.sum()
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)
        super().__init__(seed)
        self.epoch_size = int(epoch_size) if epoch_size else sum(self.sizes)

    def source_of(self, index: int | np.ndarray) -> int | np.ndarray:
        """Corpus number of a concatenated index."""
        return np.searchsorted(self.offsets, index, side="right") - 1

    def draws(self) -> np.ndarray:
        """This epoch's indices over all ranks: a pure function of ``(seed, epoch)``."""
        rng = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence([self.seed, self.epoch, _MIX_STREAM]))
        )
        source = rng.choice(len(self.sizes), size=self.epoch_size, p=self.probs)
        out = np.empty(self.epoch_size, dtype=np.int64)
        for s, size in enumerate(self.sizes):
            where = np.flatnonzero(source == s)
            if where.size == 0:
                continue
            perms = [rng.permutation(size) for _ in range(-(-where.size // size))]
            out[where] = self.offsets[s] + np.concatenate(perms)[: where.size]
        return out

    def _positions(self) -> range:
        per_rank = self.epoch_size // self.world if self.world > 1 else self.epoch_size
        return range(self.rank, self.rank + per_rank * self.world, self.world)  # equal counts on every rank

    def __len__(self) -> int:
        return len(self._positions())

    def __iter__(self) -> Iterator[tuple[int, int]]:
        draws, positions = self.draws(), self._positions()
        for pos in positions[self._take_skip() :]:
            # seeded by the draw's position: the same file drawn twice gets two different crops
            yield int(draws[pos]), item_seed(self.seed, self.epoch, pos)


def normalize_sources(
    sources: Sequence[dict], key: str = "manifest", option: str = "data.sources"
) -> list[dict]:
    """``option`` entries -> ``[{name, <key>, weight}]``; names default to ``source<i>``.

    ``key`` is what locates a corpus: ``manifest`` for ``data.sources``, ``url`` for ``data.shards``."""
    what = dict(
        manifest="a vocoder-prepare train.jsonl, filelist or folder", url="a shard folder or s3:// URL"
    )
    out, names = [], set()
    for i, src in enumerate(sources):
        src = dict(src)
        if not src.get(key):
            raise ValueError(f"{option}[{i}]: needs a {key!r} ({what.get(key, key)})")
        weight = float(src.get("weight", 1.0))
        if not weight > 0:
            raise ValueError(f"{option}[{i}].weight={src.get('weight')!r}: must be > 0")
        name = str(src.get("name") or f"source{i}")
        if name in names:
            raise ValueError(f"{option}[{i}].name={name!r}: used twice; names label data/mix_<name>")
        names.add(name)
        out.append({"name": name, key: str(src[key]), "weight": weight})
    if not out:
        raise ValueError(f"{option} is empty: give at least one {{{key}: ..., weight: ...}}")
    return out
