"""Early stopping that restores the best weights: a run whose validation metric keeps getting worse
stops, and the best state goes back in, so the run folder's ``last.ckpt`` (what ``vocoder-export``
reads) is the best state, not the wreck."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_only

from vocoder_train.config.checks import is_number, is_positive_int, value_problems
from vocoder_train.io.checkpoint import load_checkpoint
from vocoder_train.training.callbacks import GeneratorEMA

log = logging.getLogger("vocoder_train")


def judge(value: float, best: float | None, mode: str, min_delta: float) -> str:
    """A validation result against the best so far: "best" (a new best), "worse" (worse than the
    best by more than ``min_delta``; a non-finite value always is) or "near" (neither)."""
    if not math.isfinite(value):
        return "worse"
    if best is None or (value < best if mode == "min" else value > best):
        return "best"
    gap = value - best if mode == "min" else best - value
    return "worse" if gap > min_delta else "near"


def _find_ema(trainer: pl.Trainer) -> GeneratorEMA | None:
    return next((c for c in trainer.callbacks if isinstance(c, GeneratorEMA)), None)


def _to_cpu(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


class EarlyStopRestore(pl.Callback):
    """Stops training when ``monitor`` has been worse than its best for ``patience`` validations in a
    row, and restores the best state: the generator, the discriminators and, with ``callbacks=ema``,
    the EMA average. The restore happens at that validation, so every checkpoint written afterwards
    (``last.ckpt`` by ModelCheckpoint and at the end of training) holds the best weights; the step
    counters and optimizer moments stay those of the last step.

    The best state is kept in memory (a CPU copy taken at each new best) rather than reloaded from
    ModelCheckpoint's best file: it works whatever ModelCheckpoint monitors or keeps, with no file
    that every rank must be able to read. Only when the best came before a resume is the best
    checkpoint read instead (if ModelCheckpoint monitors the same metric). A run that stopped early
    and is run again (``resume=auto``) stops at once.

    Args:
        monitor (str): the validation metric, e.g. ``val/mel_l1``.
        mode (str): "min" or "max": which direction is better.
        patience (int | None): validations in a row worse than the best before stopping; None: off.
        min_delta (float): how much worse than the best a validation must be to count; a validation
            within it of the best breaks the row.
    """

    RULES = {
        "patience": (
            lambda v: v is None or is_positive_int(v),
            "an integer >= 1 (validations), or null for off",
        ),
        "min_delta": (lambda v: is_number(v) and v >= 0, "a number >= 0"),
        "mode": (lambda v: v in ("min", "max"), "min or max"),
    }

    @classmethod
    def config_problems(cls, node, key: str, cfg) -> list[str]:
        return value_problems(node, key, cls.RULES)

    def __init__(
        self,
        monitor: str = "val/mel_l1",
        mode: str = "min",
        patience: int | None = None,
        min_delta: float = 0.0,
    ):
        if mode not in ("min", "max"):
            raise ValueError(f"callbacks.early_stop.mode={mode!r}: use min or max")
        self.monitor, self.mode, self.min_delta = monitor, mode, float(min_delta)
        self.patience = int(patience) if patience else None
        self.best: float | None = None
        self.best_step = 0
        self.worse_in_a_row = 0
        self.stopped_step: int | None = None
        self._best_state: dict[str, torch.Tensor] | None = None
        self._best_ema: dict[str, torch.Tensor] | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.patience and self.stopped_step is not None:
            trainer.should_stop = True
            _announce(
                f"callbacks.early_stop: this run stopped early at step {self.stopped_step} and holds its "
                "best "
                "state; to train on, set callbacks.early_stop.patience=null (or a larger patience)"
            )

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.patience or trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            raise RuntimeError(
                f"callbacks.early_stop.monitor={self.monitor} was not logged; logged: "
                f"{', '.join(sorted(trainer.callback_metrics))}"
            )
        verdict = judge(float(value), self.best, self.mode, self.min_delta)
        if verdict == "best":
            self.best, self.best_step, self.worse_in_a_row = float(value), trainer.global_step, 0
            self._snapshot(trainer, pl_module)
        else:
            self.worse_in_a_row = self.worse_in_a_row + 1 if verdict == "worse" else 0
        stop = trainer.strategy.reduce_boolean_decision(self.worse_in_a_row >= self.patience, all=False)
        if stop and self.stopped_step is None:
            source = self._restore(trainer, pl_module)
            self.stopped_step = trainer.global_step
            trainer.should_stop = True
            _announce(
                f"callbacks.early_stop: {self.monitor} was worse than its best {self.best:.4g} (step "
                f"{self.best_step}) "
                f"for {self.worse_in_a_row} validations in a row (last {float(value):.4g}): stopped at step "
                f"{trainer.global_step} and {source}. To train on, raise callbacks.early_stop.patience or "
                "min_delta, or set callbacks.early_stop.patience=null"
            )

    def _snapshot(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._best_state = _to_cpu(pl_module.state_dict())
        ema = _find_ema(trainer)
        self._best_ema = _to_cpu(ema.ema) if ema is not None and ema.ema is not None else None

    def _restore(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> str:
        """Loads the best state into the module (and the EMA); says where it came from."""
        state, ema_state, source = self._best_state, self._best_ema, "memory"
        if state is None:
            state, ema_state, source = self._best_from_checkpoint(trainer, pl_module)
        if state is None:
            return (
                "kept the current weights: the best state predates a resume and no best checkpoint by "
                "this metric exists"
            )
        pl_module.load_state_dict(state)
        ema = _find_ema(trainer)
        if ema is not None and ema_state is not None:
            ema.ema = {k: v.to(pl_module.device, copy=True) for k, v in ema_state.items()}
        return f"restored the weights of step {self.best_step} (from {source}); last.ckpt holds them"

    def _best_from_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule
    ) -> tuple[dict | None, dict | None, str]:
        ckpt = trainer.checkpoint_callback
        path = getattr(ckpt, "best_model_path", "") if getattr(ckpt, "monitor", None) == self.monitor else ""
        if not path or not Path(path).is_file():
            return None, None, ""
        saved = load_checkpoint(path)
        # only what this module's state_dict holds: a checkpoint may carry buffers the model rebuilds
        own = pl_module.state_dict().keys()
        state = {k: v for k, v in saved["state_dict"].items() if k in own}
        ema = saved.get("vocoder_train", {}).get("ema_generator")
        ema_keys = pl_module.generator.state_dict().keys()
        return state, {k: v for k, v in ema.items() if k in ema_keys} if ema else None, path

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "best_step": self.best_step,
            "worse_in_a_row": self.worse_in_a_row,
            "stopped_step": self.stopped_step,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = state_dict.get("best")
        self.best_step = int(state_dict.get("best_step", 0))
        self.worse_in_a_row = int(state_dict.get("worse_in_a_row", 0))
        self.stopped_step = state_dict.get("stopped_step")


@rank_zero_only
def _announce(message: str) -> None:
    log.warning(message)
