"""Learning-rate schedules and the training-phase rule, by iteration or by time budget.

Training runs in up to three phases, in this order (:data:`PHASES`):

1. ``mel``: generator steps on the mel loss alone (discriminators untouched);
2. ``disc_warmup``: discriminator steps alone, generator frozen (fine-tuning a pretrained
   generator with fresh discriminators);
3. ``gan``: a discriminator step, then a generator step.

By iteration, the mel-only phase lasts ``model.optim.pretrain_mel_steps``. With
``model.optim.time_budget`` it lasts ``pretrain_mel_fraction`` of ``trainer.max_time``, and the
learning rate follows the same cosine over the fraction of the budget spent, so one recipe suits
2 minutes or 2 hours. Iterations are batches; the iteration where a timed mel-only phase ended is
latched and checkpointed, so a resumed run keeps its phases.
"""

from __future__ import annotations

import functools
import logging
import math
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from vocoder_train.config import CONFIG_DIR
from vocoder_train.config.checks import select

if TYPE_CHECKING:
    import pytorch_lightning as pl

log = logging.getLogger(__name__)

PHASES = ("mel", "disc_warmup", "gan")
# The one place that lists model.optim's keys, with their defaults and what each does.
OPTIM_REFERENCE = Path(CONFIG_DIR) / "model" / "optim" / "adamw_cosine.yaml"


def cosine(progress: float, min_ratio: float) -> float:
    """1 at ``progress`` 0, down to ``min_ratio`` at 1 (clamped to [0, 1])."""
    progress = min(1.0, max(0.0, progress))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def cosine_with_warmup(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """LR multiplier: linear warm-up over ``warmup`` steps, then cosine decay to ``min_ratio`` at
    ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    return cosine((step - warmup) / max(1, total - warmup), min_ratio)


def time_budget_multiplier(step: int, warmup: int, progress: float, min_ratio: float) -> float:
    """The same cosine over ``progress`` (fraction of the time budget spent), times a linear warm-up in
    steps."""
    ramp = min(1.0, (step + 1) / warmup) if warmup else 1.0
    return ramp * cosine(progress, min_ratio)


def iterations_in(max_steps: int, single_step_iterations: int) -> int:
    """Iterations that ``max_steps`` optimizer steps buy: the first ``single_step_iterations``
    (mel-only and discriminator-only) cost one step each, a GAN iteration two (D + G)."""
    if max_steps <= single_step_iterations:
        return max_steps
    return single_step_iterations + (max_steps - single_step_iterations) // 2


def phase_at(iteration: int, mel_end: int | None, disc_warmup_steps: int) -> str:
    """The phase of ``iteration``; ``mel_end`` None: the mel-only phase has not ended."""
    if mel_end is None or iteration < mel_end:
        return "mel"
    if iteration < mel_end + disc_warmup_steps:
        return "disc_warmup"
    return "gan"


def mel_phase_over(progress: float, remaining_s: float, fraction: float, min_gan_seconds: float) -> bool:
    """Time budget: the mel-only phase ends once ``fraction`` of the budget is spent, unless less
    than ``min_gan_seconds`` would be left for the GAN, which then never starts."""
    return progress >= fraction and not (min_gan_seconds > 0 and remaining_s < min_gan_seconds)


def time_budget(trainer: pl.Trainer) -> tuple[float, float] | None:
    """(fraction of ``trainer.max_time`` spent training, seconds left); None without a time limit."""
    from pytorch_lightning.callbacks import Timer

    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
    remaining = timer.time_remaining("train") if timer is not None else None
    if remaining is None:
        return None
    elapsed = timer.time_elapsed("train")
    return min(1.0, elapsed / max(elapsed + remaining, 1e-9)), float(remaining)


class Phases:
    """The phase of each iteration, from ``model.optim``; with ``time_budget`` it latches the
    iteration where the mel-only phase ended (:meth:`update`, :meth:`state_dict`)."""

    def __init__(self, optim: Mapping[str, Any]):
        self.pretrain_mel_steps = int(optim["pretrain_mel_steps"])
        self.disc_warmup_steps = int(optim["disc_warmup_steps"])
        self.time_budget = bool(optim["time_budget"])
        self.mel_fraction = float(optim["pretrain_mel_fraction"])
        self.min_gan_seconds = float(optim["min_gan_seconds"] or 0)
        self.mel_end: int | None = None if self.time_budget else self.pretrain_mel_steps
        self._stay_logged = False

    def phase(self, iteration: int) -> str:
        return phase_at(iteration, self.mel_end, self.disc_warmup_steps)

    def update(self, iteration: int, trainer: pl.Trainer) -> None:
        """Time budget: ends the mel-only phase at ``iteration`` once its share of the budget is
        spent. Every rank calls it at every iteration; rank 0's clock decides for all."""
        if self.mel_end is not None:
            return
        progress, remaining = time_budget(trainer) or (0.0, math.inf)
        done = mel_phase_over(progress, remaining, self.mel_fraction, self.min_gan_seconds)
        if progress >= self.mel_fraction and not done and not self._stay_logged:
            self._stay_logged = True
            log.info(
                "time budget: %.0f s left at the GAN switch < model.optim.min_gan_seconds=%g; "
                "training stays mel-only",
                remaining,
                self.min_gan_seconds,
            )
        if trainer.world_size > 1:
            done = bool(trainer.strategy.broadcast(done, src=0))
        if done:
            self.mel_end = iteration

    def state_dict(self) -> dict[str, int | None]:
        return {"mel_end_iteration": self.mel_end if self.time_budget else None}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if self.time_budget:  # by iteration the phase ends are the config's, whatever was saved
            self.mel_end = state.get("mel_end_iteration")


def lr_multiplier(optim: Mapping[str, Any], trainer: pl.Trainer, phases: Phases) -> Callable[[int], float]:
    """The LR multiplier of an iteration for both optimizers: by time budget, or cosine with
    warm-up over ``model.optim.total_iterations`` (None: what ``trainer.max_steps`` buys)."""
    warmup, min_ratio = int(optim["warmup_steps"]), float(optim["min_lr_ratio"])
    if phases.time_budget:

        def by_time(step: int) -> float:
            budget = time_budget(trainer)
            if budget is None:
                raise ValueError(
                    "model.optim.time_budget=true needs trainer.max_time, e.g. trainer.max_time=00:00:10:00"
                )
            return time_budget_multiplier(step, warmup, budget[0], min_ratio)

        return by_time
    total = horizon(optim["total_iterations"], trainer.max_steps, phases)

    def by_step(step: int) -> float:
        return cosine_with_warmup(step, warmup, total, min_ratio)

    return by_step


def horizon(total_iterations: int | None, max_steps: int | None, phases: Phases) -> int:
    """The step schedule's length in iterations."""
    if total_iterations:
        return int(total_iterations)
    if max_steps is None or max_steps <= 0:
        raise ValueError(
            "model.optim.total_iterations is needed when trainer.max_steps is not set "
            "(e.g. with trainer.max_time): set it to the schedule's length in iterations"
        )
    return iterations_in(max_steps, phases.pretrain_mel_steps + phases.disc_warmup_steps)


@functools.cache
def optim_keys() -> frozenset[str]:
    return frozenset(OmegaConf.load(OPTIM_REFERENCE).keys())


def optim_key_problems(optim: Mapping) -> list[str]:
    """model.optim has every key of :data:`OPTIM_REFERENCE` and no other."""
    known = optim_keys()
    missing = [
        f"model.optim.{k} is missing: set it (see {OPTIM_REFERENCE.name} for its default)"
        for k in sorted(known - set(optim))
    ]
    unknown = [
        f"model.optim.{k}: unknown key (known: {', '.join(sorted(known))}); remove or respell it"
        for k in sorted(set(optim) - known)
    ]
    return missing + unknown


def optim_problems(cfg: DictConfig) -> list[str]:
    """The training phases fit in trainer.max_steps (optimizer steps: mel-only and D-only iterations are
    1)."""
    max_steps = select(cfg, "trainer.max_steps")
    if select(cfg, "model.optim.time_budget") and not select(cfg, "trainer.max_time"):
        return ["model.optim.time_budget=true needs trainer.max_time, e.g. trainer.max_time=00:00:10:00"]
    if select(cfg, "model.optim.time_budget") or not isinstance(max_steps, int) or max_steps <= 0:
        return []
    mel, warm = (
        int(select(cfg, "model.optim.pretrain_mel_steps") or 0),
        int(select(cfg, "model.optim.disc_warmup_steps") or 0),
    )
    if mel + warm < max_steps:
        return []
    what = (
        f"model.optim.pretrain_mel_steps={mel} + model.optim.disc_warmup_steps={warm} >= "
        f"trainer.max_steps={max_steps}: "
        "no GAN iteration would run"
    )
    if warm == 0:  # a deliberate mel-only run is legitimate: say so, don't stop it
        warnings.warn(f"{what} (a mel-only run)", stacklevel=3)
        return []
    return [f"{what}; raise trainer.max_steps above {mel + warm} or shorten the phases"]
