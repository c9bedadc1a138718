"""The Trainer's checkpoint I/O: :mod:`vocoder_train.io.checkpoint`'s atomic save and safe load.

Kept out of ``io/`` so that the tools that only read or write checkpoints do not import Lightning
(about 3 s of start-up on 2 cores).
"""

from __future__ import annotations

import os
from typing import Any

from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from vocoder_train.io.checkpoint import atomic_torch_save, load_checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O that writes atomically and loads with ``weights_only=True``."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options=None
    ) -> None:
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(
        self, path: str | os.PathLike, map_location=None, weights_only=None
    ) -> dict[str, Any]:
        return load_checkpoint(path, map_location=map_location or "cpu")
