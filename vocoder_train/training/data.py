"""``LightningData``: a :class:`~vocoder_train.data.datamodule.VocoderDataModule` for the Trainer."""

from __future__ import annotations

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from vocoder_train.data.datamodule import VocoderDataModule


class LightningData(pl.LightningDataModule):
    """Hands ``data``'s loaders to Lightning. On a resume mid-epoch the training loader skips the
    batches that the checkpointed run already trained on, so the run sees the batches an
    uninterrupted one would have.

    Args:
        data (VocoderDataModule): the datasets and loaders (``cfg.data``); callbacks reach it as
            ``trainer.datamodule.data``.
    """

    def __init__(self, data: VocoderDataModule):
        super().__init__()
        self.data = data

    def setup(self, stage: str) -> None:
        self.data.setup(stage)

    def train_dataloader(self) -> DataLoader:
        # processed, not completed: a checkpoint taken at the end of an iteration (a stop on a signal)
        # counts that iteration as processed but not yet completed
        consumed = self.trainer.fit_loop.epoch_loop.batch_progress.current.processed
        return self.data.train_dataloader(skip_batches=int(consumed))

    def val_dataloader(self) -> DataLoader:
        return self.data.val_dataloader()
