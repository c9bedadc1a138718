"""What training needs from the object that ``cfg.data`` instantiates.

:class:`vocoder_train.data.loaders.VocoderData` is the shipped implementation; any class that
``data._target_`` names and that has these methods trains (the Lightning side,
:class:`vocoder_train.training.datamodule.VocoderDataModule`, depends on nothing else).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch


@runtime_checkable
class TrainingData(Protocol):
    """Training and validation batches for one process (under DDP: this rank's share).

    Batches are dicts. Every one has ``"audio"``: float (B, T) at ``audio.sample_rate``. Optional keys
    that training reads when present:

    - ``"features"`` (B, C, L), L = T // hop: teacher-forced features (a TTS model's mels, or
      precomputed features for a generator whose front end takes them as given), synthesized from
      instead of the generator's features of ``audio``;
    - ``"weight"`` (B,): validation items of weight 0 pad a rank's share and are not scored;
    - ``"index"`` (B,): the training item of each row, passed to :meth:`source_names`;
    - ``"skipped"`` (B,) with ``"skipped_path"`` (list of str): unreadable files replaced, and
      ``"frames_fixed"`` (B,): pairs whose frame count was reconciled; counted by ``DataHealth``.

    A loader is an iterable of such batches, usually a torch DataLoader; not a list, tuple or dict,
    which Lightning reads as several loaders. The Trainer does not replace samplers
    (``trainer.use_distributed_sampler: false``): a loader splits its data across DDP ranks itself.
    Lightning calls ``set_epoch`` on a DataLoader's sampler at each epoch.
    """

    def setup(self, stage: str | None = None) -> None:
        """Read what the loaders of ``stage`` ("fit", "validate", ...) need; Lightning calls it first."""

    def train_dataloader(self, skip_batches: int = 0) -> Iterable[dict[str, Any]]:
        """The training batches of the current epoch, leaving out the first ``skip_batches`` of them
        (already trained on: a resume mid-epoch) in this iteration only, so that a resumed run sees the
        batches an uninterrupted one would have."""

    def val_dataloader(self) -> Iterable[dict[str, Any]]:
        """The validation batches: every validation item scored once over all ranks."""

    def source_names(self, index: torch.Tensor | np.ndarray | Sequence[int]) -> list[str]:
        """The name of the corpus each training item ``index`` (a batch's ``"index"``) came from,
        logged as ``data/mix_<name>``; an empty list when the data mixes no corpora."""
