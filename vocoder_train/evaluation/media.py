"""The files a report shows in full: the worst few by one metric, their audio and spectrograms.

An evaluation orders its files worst first by one metric (``--order-by``; "worst" is the low end of
a metric where higher is better, else the high end; a file the metric could not score comes last).
While files are scored, :class:`WorstFiles` keeps the audio of the worst ``n`` so far (never more
than ``n`` files in memory); after the loop, :func:`write_worst` writes their audio into the report
folder (``audio/<folder>/<index>_<stem>.wav``, the names ``--save-audio`` uses) and draws their
spectrograms, worst first.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

REFERENCE = "reference"  # the folder and label of the reference audio


def order_key(value: float, higher_is_better: bool) -> float:
    """A key that sorts the worst ``value`` first and a value that is not finite last."""
    if not math.isfinite(value):
        return math.inf
    return value if higher_is_better else -value


def worst_first(values: Sequence[float], higher_is_better: bool) -> list[int]:
    """The indices of ``values`` worst first (ties in index order, values that are not finite last)."""
    return sorted(range(len(values)), key=lambda i: (order_key(values[i], higher_is_better), i))


def audio_file(index: int, path: str, folder: str = "") -> str:
    """Where a report keeps file ``index`` (``path``) of one system: relative, with "/" separators."""
    name = f"{index:04d}_{Path(path).stem}.wav"
    return f"audio/{folder}/{name}" if folder else f"audio/{name}"


class WorstFiles:
    """The ``n`` worst of the files offered so far, each by one metric value, with what it takes to
    show them (their audio)."""

    def __init__(self, n: int, higher_is_better: bool):
        self.n, self.higher_is_better = int(n), higher_is_better
        self._heap: list[tuple[float, int, object]] = []  # top: the least bad kept (largest key, index)

    def offer(self, index: int, value: float, item: object) -> None:
        if self.n <= 0:
            return
        entry = (-order_key(value, self.higher_is_better), -index, item)
        if len(self._heap) < self.n:
            heapq.heappush(self._heap, entry)
        elif entry[:2] > self._heap[0][:2]:
            heapq.heapreplace(self._heap, entry)

    def ranked(self) -> list[tuple[int, object]]:
        """``(index, item)`` of the kept files, worst first."""
        return [(-i, item) for _, i, item in sorted(self._heap, key=lambda e: (-e[0], -e[1]))]


Track = tuple[str, str, torch.Tensor, int]  # label, relative path, audio (T,), sample rate


def write_worst(
    worst: WorstFiles,
    rows: Sequence[dict],
    out_dir: Path,
    tracks: Callable[[int, object], list[Track]],
    plot: Callable[[int, object, str], str],
) -> list[dict]:
    """Writes the audio (``tracks(index, item)``) and spectrogram (``plot(rank, item, title)``, the PNG's
    name) of each file ``worst`` kept; returns per file, worst first, ``index`` (into ``rows``),
    ``plot`` and ``audio`` (label -> relative path)."""
    from vocoder_train.io.audio import save_audio

    media = []
    for rank, (index, item) in enumerate(worst.ranked()):
        audio = {}
        for label, rel, x, sr in tracks(index, item):
            save_audio(out_dir / rel, x, sr)
            audio[label] = rel
        media.append(
            {"index": index, "plot": plot(rank, item, Path(rows[index]["path"]).name), "audio": audio}
        )
    return media
