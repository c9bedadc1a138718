"""``VocoderDataModule``: the LightningDataModule over whatever ``cfg.data`` instantiates."""

from __future__ import annotations

from collections.abc import Iterable

import pytorch_lightning as pl

from vocoder_train.data.contract import TrainingData


class VocoderDataModule(pl.LightningDataModule):
    """Hands ``data``'s loaders to Lightning. On a resume mid-epoch the training loader skips the
    batches that the checkpointed run already trained on, so the run sees the batches an
    uninterrupted one would have.

    Args:
        data (TrainingData): the datasets and loaders (``cfg.data``, e.g.
            :class:`vocoder_train.data.loaders.VocoderData`); callbacks reach it as
            ``trainer.datamodule.data``.
    """

    def __init__(self, data: TrainingData):
        super().__init__()
        if not isinstance(data, TrainingData):
            missing = [n for n in dir(TrainingData) if not n.startswith("_") and not hasattr(data, n)]
            raise TypeError(
                f"data._target_ built a {type(data).__qualname__}, which has no {', '.join(missing)}: "
                f"training needs {TrainingData.__module__}.{TrainingData.__qualname__}"
            )
        self.data = data

    def setup(self, stage: str) -> None:
        self.data.setup(stage)

    def train_dataloader(self) -> Iterable[dict]:
        # processed, not completed: a checkpoint taken at the end of an iteration (a stop on a signal)
        # counts that iteration as processed but not yet completed
        consumed = self.trainer.fit_loop.epoch_loop.batch_progress.current.processed
        return self.data.train_dataloader(skip_batches=int(consumed))

    def val_dataloader(self) -> Iterable[dict]:
        return self.data.val_dataloader()
