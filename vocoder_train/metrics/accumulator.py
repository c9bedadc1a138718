"""Per-metric sums and counts, reduced across ranks (DDP) into means."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.distributed as dist


class MetricAccumulator:
    """Accumulates per-item metric values and returns their means, across all ranks.

    Non-finite values (NaN from a PESQ that found no speech, inf) are not averaged; they are
    counted under :attr:`skipped` so a report can say how many there were.

    Example::

        acc = MetricAccumulator()
        for ref, deg in pairs:
            acc.update(compute_metrics(ref, deg, sr))
        means = acc.reduce()   # same on every rank
    """

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.skipped: dict[str, int] = {}

    def update(self, values: Mapping[str, float], weight: int = 1) -> None:
        """Adds one item's ``{name: value}`` (``weight`` items with that mean value)."""
        for name, v in values.items():
            v = float(v)
            self.sums.setdefault(name, 0.0)
            self.counts.setdefault(name, 0)
            self.skipped.setdefault(name, 0)
            if math.isfinite(v):
                self.sums[name] += v * weight
                self.counts[name] += weight
            else:
                self.skipped[name] += weight

    def reset(self) -> None:
        self.sums.clear()
        self.counts.clear()
        self.skipped.clear()

    def _names(self) -> list[str]:
        """Union of metric names over ranks (ranks may have seen different ones), sorted."""
        local = sorted(self.sums)
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return local
        gathered: list[list[str] | None] = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, local)
        return sorted({n for names in gathered for n in (names or [])})

    def reduce(self) -> dict[str, float]:
        """Means over every rank's items: ``{name: sum / count}`` (NaN where count is 0).

        With ``torch.distributed`` initialised this is collective: every rank must call it.
        Without it, it is the local mean. ``self.counts``/``self.skipped`` are not modified;
        the global counts are in :attr:`global_counts` afterwards.
        """
        names = self._names()
        k = len(names)
        buf = torch.zeros(3 * k, dtype=torch.float64)
        for i, n in enumerate(names):
            buf[i] = self.sums.get(n, 0.0)
            buf[k + i] = self.counts.get(n, 0)
            buf[2 * k + i] = self.skipped.get(n, 0)
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            device = (
                torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
            )
            buf = buf.to(device)
            dist.all_reduce(buf, op=dist.ReduceOp.SUM)
            buf = buf.cpu()
        self.global_counts = {n: int(buf[k + i]) for i, n in enumerate(names)}
        self.global_skipped = {n: int(buf[2 * k + i]) for i, n in enumerate(names)}
        return {
            n: (float(buf[i] / buf[k + i]) if buf[k + i] > 0 else float("nan")) for i, n in enumerate(names)
        }
