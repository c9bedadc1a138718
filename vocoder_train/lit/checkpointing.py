"""Checkpoint plumbing for the Trainer: atomic writes, and a last.ckpt at the end of training."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from vocoder_train.utils.checkpoint import atomic_torch_save, load_checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O that writes atomically and loads with ``weights_only=True``."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options=None) -> None:
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(self, path: str | os.PathLike, map_location=None, weights_only=None) -> dict[str, Any]:
        return load_checkpoint(path, map_location=map_location or "cpu")


class FinalCheckpoint(pl.Callback):
    """Saves ``<dirpath>/last.ckpt`` when training ends, so the last iterations are never lost."""

    def __init__(self, dirpath: str):
        self.dirpath = Path(dirpath)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        trainer.save_checkpoint(self.dirpath / "last.ckpt", weights_only=False)
