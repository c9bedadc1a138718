"""Stopping on a scheduler's signal without losing a step: every rank stops at the same iteration,
``last.ckpt`` is written for it, and the process exits with the signal's status (or hands over to
submitit, which requeues the job).

Lightning's own SIGTERM handling exits with status 0 (its ``SIGTERMException`` is a ``SystemExit``),
saves nothing and only acts on rank 0's signal; this callback replaces it for the training loop.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from types import FrameType

import pytorch_lightning as pl
import torch
import torch.distributed as dist

from vocoder_train.io.signals import STOP_SIGNALS, exit_code

log = logging.getLogger("vocoder_train")


class Preempted(SystemExit):
    """Raised once the checkpoint of the stop iteration is written; the process exits with
    ``128 + signum``. Re-running the same command resumes from ``checkpoint``."""

    def __init__(self, signum: int, checkpoint: Path, iteration: int):
        super().__init__(exit_code(signum))
        self.signum, self.checkpoint, self.iteration = int(signum), checkpoint, int(iteration)


class StopOnSignal(pl.Callback):
    """On SIGTERM, SIGUSR1 or SIGUSR2 to any rank: finish the current iteration, agree on it across
    ranks, save ``<dirpath>/last.ckpt`` (weights, optimizers, schedulers, EMA, data position, as at
    the end of that iteration) and exit non-zero.

    The signal handler only records the signal. After each iteration the ranks all-reduce what they
    received (one integer; Lightning itself broadcasts one per step under DDP), so a signal that
    reached one rank stops all of them at the same step. The checkpoint is taken at the end of the
    iteration, which Lightning resumes from as the next one (as it does for ``every_n_train_steps``
    checkpoints); the data loader skips the batches already trained on.

    A handler installed before training started (submitit's: SIGUSR2 requeues the job on rank 0) is
    called after the checkpoint is written, so the scheduler's own protocol still runs. This
    callback must run after the callbacks that update state at the end of an iteration (the EMA):
    the run adds it last.

    Args:
        dirpath (str | Path): the run's ``checkpoints/`` folder.
    """

    def __init__(self, dirpath: str | Path):
        self.dirpath = Path(dirpath)
        self.received: int = 0
        self.received_at: float | None = None
        self._outer: dict[int, object] = {}

    # -- handlers ---------------------------------------------------------------------------

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # before Lightning installs its handlers: the ones the process had (submitit's, or the default)
        self._outer = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # after Lightning's; Lightning restores the process's own handlers at teardown
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                signal.signal(sig, self._notice)

    def _notice(self, signum: int, frame: FrameType | None) -> None:
        if not self.received:
            self.received, self.received_at = int(signum), time.monotonic()
            log.warning(
                "%s received: stopping after this iteration with a checkpoint", signal.Signals(signum).name
            )

    # -- the stop ---------------------------------------------------------------------------

    def agreed_signal(self, trainer: pl.Trainer) -> int:
        """The signal any rank received (the largest number if several), 0 if none; collective under DDP."""
        if trainer.world_size > 1 and dist.is_available() and dist.is_initialized():
            flag = torch.tensor([self.received], dtype=torch.int64, device=trainer.strategy.root_device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            return int(flag.item())
        return self.received

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx
    ) -> None:
        signum = self.agreed_signal(trainer)
        if not signum:
            return
        path = self.dirpath / "last.ckpt"
        start = time.monotonic()
        trainer.save_checkpoint(path, weights_only=False)  # rank 0 writes atomically; every rank waits for it
        iteration = int(getattr(pl_module, "iteration", trainer.global_step))
        took = f"{time.monotonic() - start:.1f} s to save"
        if self.received_at is not None:
            took += f", {time.monotonic() - self.received_at:.1f} s since the signal"
        log.warning(
            "stopped by %s at iteration %d (optimizer step %d): %s written (%s); run the same command "
            "to resume",
            signal.Signals(signum).name,
            iteration,
            trainer.global_step,
            path,
            took,
        )
        outer = self._outer.get(signum)
        if callable(outer):  # submitit's handler: requeues on rank 0 and exits itself
            outer(signum, None)
        raise Preempted(signum, path, iteration)
