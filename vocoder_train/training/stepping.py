"""One optimizer step of one module, guarded: gradient clipping, non-finite losses and gradients.

Lightning steps an optimizer through its precision plugin, which unscales fp16 gradients and then
calls the LightningModule's ``on_before_optimizer_step`` before the update. Clipping has to happen
there, so the step says what it is stepping (:meth:`StepGuard.step`) and the hook hands over to
:meth:`StepGuard.clip`; nothing else about a step lives on the module.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn


class NonFiniteLossError(RuntimeError):
    """More than ``model.optim.max_nonfinite`` non-finite losses or gradients in a row."""


@dataclass
class _Target:
    module: nn.Module
    clip: float | None
    norm: torch.Tensor = field(default_factory=lambda: torch.tensor(math.nan))


@dataclass
class StepGuard:
    """Counts skipped steps and stops a run that keeps producing non-finite values.

    Args:
        max_nonfinite (int): non-finite losses or gradients in a row tolerated before
            :class:`NonFiniteLossError` (the scaler's own overflow skips under 16-mixed do not count).
        skips (int): steps skipped so far (checkpointed; logged as ``train/nonfinite_skips``).
    """

    max_nonfinite: int
    skips: int = 0
    in_a_row: int = 0
    _target: _Target | None = None

    def step(
        self,
        optimizer_step: Callable[[], object],
        module: nn.Module,
        clip: float | None,
        what: str,
        iteration: int,
        scaler: torch.amp.GradScaler | None = None,
    ) -> torch.Tensor:
        """Runs ``optimizer_step()`` (Lightning's, which calls :meth:`clip` through the module's hook) for
        ``module``'s gradients clipped at ``clip``; returns their norm, NaN when they were not finite
        (no update: under 16-mixed the GradScaler skips it, otherwise :meth:`clip` dropped them)."""
        self._target = _Target(module, clip)
        try:
            optimizer_step()
            norm = self._target.norm
        finally:
            self._target = None
        if torch.isfinite(norm):
            self.in_a_row = 0
        elif scaler is not None and scaler.get_scale() > 1.0:
            self.skips += 1  # the scaler halving its scale after an fp16 overflow, not a diverging run
        else:
            self.count(f"{what} gradient", iteration)
        return norm

    def clip(self, scale_left: float = 1.0, drop_nonfinite: bool = True) -> None:
        """From ``on_before_optimizer_step``: clips the stepped module's gradients and keeps their norm.
        ``scale_left``: a GradScaler's scale still on them (optimizers that unscale inside their step);
        ``drop_nonfinite``: non-finite gradients are set to None, so the optimizer leaves the weights."""
        if self._target is None:
            raise RuntimeError("StepGuard.clip outside StepGuard.step: step optimizers through the guard")
        params = [p for p in self._target.module.parameters() if p.grad is not None]
        clip = self._target.clip
        norm = torch.nn.utils.clip_grad_norm_(params, (clip if clip else math.inf) * scale_left) / scale_left
        self._target.norm = norm
        if drop_nonfinite and not torch.isfinite(norm):
            for p in params:
                p.grad = None

    def count(self, what: str, iteration: int) -> None:
        """One skipped step because ``what`` was not finite; too many in a row stop the run."""
        self.skips += 1
        self.in_a_row += 1
        if self.in_a_row > self.max_nonfinite:
            raise NonFiniteLossError(
                f"non-finite {what} in {self.in_a_row} steps in a row (at iteration {iteration}); "
                f"lower model.optim.lr_g/lr_d, set model.optim.grad_clip_g/grad_clip_d, "
                f"or train in trainer.precision=32-true / bf16-mixed instead of 16-mixed"
            )
