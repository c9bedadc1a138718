"""GAN health: warn while the discriminators win.

A fine-tune whose fresh discriminators win turns the generator to noise or silence within a few
hundred steps. :class:`GANHealth` watches the losses each GAN iteration returns and says so while
it is happening (``train/health_*`` scalars and a warning with advice);
:class:`vocoder_train.training.early_stop.EarlyStopRestore` stops such a run and restores its best
weights.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_warn

from vocoder_train.config.checks import is_number, is_positive_int, value_problems

log = logging.getLogger("vocoder_train")


class GANHealthWarning(UserWarning):
    """The discriminators are winning the GAN (see :class:`GANHealth`)."""


@dataclass(frozen=True)
class Reference:
    """Loss values that give the thresholds their meaning, per adversarial loss.

    Args:
        d_undecided (float): the D loss (per discriminator, as logged in ``d_<name>``) of a
            discriminator that cannot tell real from generated audio: both outputs at the value
            that minimizes the loss when real and fake are the same.
        g_sure_fake (float): G's adversarial loss (``g_adv_<name>``) when the discriminator scores
            the generated audio at its target for fakes, i.e. is sure it is generated.
    """

    d_undecided: float
    g_sure_fake: float


# hinge: D outputs anywhere in [-1, 1] for both -> relu(1 - c) + relu(1 + c) = 2; fake at -1 -> relu(1 + 1) =
# 2.
# lsgan: D outputs 0.5 for both -> 0.25 + 0.25 = 0.5; fake at 0 -> (1 - 0)^2 = 1.
REFERENCES = {
    "hinge": Reference(d_undecided=2.0, g_sure_fake=2.0),
    "lsgan": Reference(d_undecided=0.5, g_sure_fake=1.0),
}


def adversarial_loss_name(adversary: Any) -> str:
    """The adversarial loss ``adversary`` trains with (its ``loss``), when :data:`REFERENCES` knows it."""
    if adversary.loss not in REFERENCES:
        raise ValueError(
            f"callbacks.gan_health: no reference values for the adversarial loss {adversary.loss!r}; "
            f"add it to REFERENCES in {__name__} or set callbacks.gan_health=null"
        )
    return adversary.loss


@dataclass
class Streak:
    """Failed checks in a row. An episode starts when ``patience`` of them are reached and ends at the
    first check that passes, so a warning is given once per episode."""

    patience: int
    count: int = 0

    def update(self, failed: bool) -> bool:
        """Records one check; True when this one starts an episode."""
        self.count = self.count + 1 if failed else 0
        return self.count == self.patience

    @property
    def active(self) -> bool:
        return self.count >= self.patience


class LossWindow:
    """Means of some loss terms over the iterations since the last :meth:`pop`, ignoring non-finite
    values. Sums stay on the device, so adding a step does not wait for it to finish."""

    def __init__(self, keys: Sequence[str]):
        self.keys = list(keys)
        self.steps = 0
        self._sums: torch.Tensor | None = None
        self._counts: torch.Tensor | None = None

    def add(self, outputs: Mapping[str, torch.Tensor]) -> None:
        values = torch.stack([outputs[k].detach().float().reshape(()) for k in self.keys])
        finite = torch.isfinite(values)
        values = torch.where(finite, values, torch.zeros_like(values))
        if self._sums is None:
            self._sums, self._counts = values, finite.float()
        else:
            self._sums, self._counts = self._sums + values, self._counts + finite.float()
        self.steps += 1

    def pop(self) -> dict[str, float]:
        """{key: mean} (NaN for a key with no finite value), and a fresh window."""
        sums, counts = self._sums.tolist(), self._counts.tolist()
        self._sums = self._counts = None
        self.steps = 0
        return {k: s / c if c else math.nan for k, s, c in zip(self.keys, sums, counts)}


def health_ratios(
    means: Mapping[str, float], names: Sequence[str], ref: Reference
) -> tuple[str, float, str, float]:
    """(discriminator with the lowest D loss, that loss / ``ref.d_undecided``,
    discriminator with the highest G adversarial loss, that loss / ``ref.g_sure_fake``).
    0 on the first ratio: a discriminator separates real from fake completely; 1 or more on the
    second: it is sure that the generated audio is generated."""
    d_name = min(names, key=lambda n: _nan_last(means[f"d_{n}"]))
    g_name = max(names, key=lambda n: _nan_first(means[f"g_adv_{n}"]))
    return d_name, means[f"d_{d_name}"] / ref.d_undecided, g_name, means[f"g_adv_{g_name}"] / ref.g_sure_fake


def _nan_last(x: float) -> float:
    return math.inf if math.isnan(x) else x


def _nan_first(x: float) -> float:
    return -math.inf if math.isnan(x) else x


class GANHealth(pl.Callback):
    """Watches the discriminator and generator adversarial losses of the GAN iterations.

    Every ``every_n_steps`` GAN iterations it averages each discriminator's ``d_<name>`` and
    ``g_adv_<name>`` (from the dict that ``training_step`` returns) and checks two things:

    - D collapse: some ``d_<name>`` below ``d_collapse_ratio`` of an undecided discriminator's loss
      (:data:`REFERENCES`): it separates real from generated audio (almost) completely;
    - G runaway: some ``g_adv_<name>`` above ``g_runaway_ratio`` of its value when the discriminator
      is sure the audio is generated: the generator is being pushed by a discriminator it cannot fool.

    ``patience`` failed checks in a row start an episode: one warning (:class:`GANHealthWarning`)
    with advice; the episode ends at the first check that passes. Logged every GAN iteration from
    the first check on: ``train/health_d_collapse`` and ``train/health_g_runaway`` (1 during an
    episode, else 0), ``train/health_d_ratio`` and ``train/health_g_adv_ratio`` (the last check's ratios).

    Args:
        every_n_steps (int): GAN iterations averaged per check.
        patience (int): failed checks in a row before warning.
        d_collapse_ratio (float): D collapse below this share of the undecided D loss.
        g_runaway_ratio (float): G runaway above this share of the "sure it is fake" G loss.
    """

    RULES = {
        "every_n_steps": (is_positive_int, "an integer >= 1 (GAN iterations)"),
        "patience": (is_positive_int, "an integer >= 1 (checks)"),
        "d_collapse_ratio": (
            lambda v: is_number(v) and 0 < v < 1,
            "in (0, 1): a share of an undecided discriminator's loss, e.g. 0.1",
        ),
        "g_runaway_ratio": (lambda v: is_number(v) and v > 0, "a number > 0, e.g. 1.0"),
    }

    @classmethod
    def config_problems(cls, node, key: str, cfg) -> list[str]:
        return value_problems(node, key, cls.RULES)

    def __init__(
        self,
        every_n_steps: int = 50,
        patience: int = 2,
        d_collapse_ratio: float = 0.1,
        g_runaway_ratio: float = 1.0,
    ):
        self.every_n_steps, self.patience = int(every_n_steps), int(patience)
        self.d_collapse_ratio, self.g_runaway_ratio = float(d_collapse_ratio), float(g_runaway_ratio)
        self.collapse, self.runaway = Streak(self.patience), Streak(self.patience)
        self.ratios: tuple[float, float] | None = None
        self._names: list[str] = []
        self._ref: Reference | None = None
        self._window: LossWindow | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._names = list(pl_module.adversary.discriminators)
        self._ref = REFERENCES[adversarial_loss_name(pl_module.adversary)]
        self._window = LossWindow([f"{t}_{n}" for t in ("d", "g_adv") for n in self._names])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not outputs or f"g_adv_{self._names[0]}" not in outputs:  # not a GAN iteration (or a skipped one)
            return
        self._window.add(outputs)
        if self._window.steps >= self.every_n_steps:
            self._check(pl_module)
        if self.ratios is not None:
            pl_module.log_dict(
                {
                    "train/health_d_collapse": float(self.collapse.active),
                    "train/health_g_runaway": float(self.runaway.active),
                    "train/health_d_ratio": self.ratios[0],
                    "train/health_g_adv_ratio": self.ratios[1],
                },
                batch_size=batch["audio"].shape[0],
            )

    def _check(self, pl_module) -> None:
        means = self._window.pop()
        d_name, d_ratio, g_name, g_ratio = health_ratios(means, self._names, self._ref)
        self.ratios = (d_ratio, g_ratio)
        if self.collapse.update(d_ratio < self.d_collapse_ratio):
            rank_zero_warn(
                self._collapse_advice(pl_module, d_name, means[f"d_{d_name}"]), category=GANHealthWarning
            )
        if self.runaway.update(g_ratio > self.g_runaway_ratio):
            rank_zero_warn(
                self._runaway_advice(pl_module, g_name, means[f"g_adv_{g_name}"]), category=GANHealthWarning
            )

    def _span(self) -> str:
        return (
            f"the last {self.every_n_steps} GAN iterations, the {self.patience}th such check in a row "
            "(callbacks.gan_health.every_n_steps, patience)"
        )

    def _collapse_advice(self, pl_module, name: str, value: float) -> str:
        o, lam = getattr(pl_module, "optim_cfg", {}), getattr(pl_module, "lambdas", {})
        return (
            f"GAN health: D collapse: discriminator {name} tells real from generated audio apart almost "
            "completely "
            f"(train/d_{name} averaged {value:.3g} over {self._span()}; an undecided one scores "
            f"{self._ref.d_undecided:g}, the alarm is below d_collapse_ratio={self.d_collapse_ratio:g} of "
            "that). "
            "A generator trained against it often turns to noise or silence within a few hundred steps. "
            f"Try a lower model.optim.lr_d (now {o.get('lr_d')}), "
            f"model.optim.grad_clip_d (now {o.get('grad_clip_d')}; train/grad_norm_d shows the usual size), "
            f"a higher model.loss.lambdas.g_mel (now {lam.get('g_mel')}) to hold the generator to the "
            "target, "
            "or, when it starts right after a fine-tune's discriminator warm-up, a shorter "
            f"model.optim.disc_warmup_steps (now {o.get('disc_warmup_steps')}): less of a head start"
        )

    def _runaway_advice(self, pl_module, name: str, value: float) -> str:
        o, lam = getattr(pl_module, "optim_cfg", {}), getattr(pl_module, "lambdas", {})
        return (
            f"GAN health: G runaway: the generator's adversarial loss against {name} keeps above the level "
            f"where the discriminator is sure its audio is generated (train/g_adv_{name} averaged "
            f"{value:.3g} "
            "over "
            f"{self._span()}; the alarm is above g_runaway_ratio={self.g_runaway_ratio:g} x "
            f"{self._ref.g_sure_fake:g}). "
            f"Try a higher model.loss.lambdas.g_mel (now {lam.get('g_mel')}), a lower "
            f"model.discriminator.{name}.weights.g_adv (now {lam.get(f'g_adv_{name}')}), a lower "
            "model.optim.lr_d "
            f"(now {o.get('lr_d')}) or model.optim.lr_g (now {o.get('lr_g')}), "
            f"or model.optim.grad_clip_g / grad_clip_d (now {o.get('grad_clip_g')} / {o.get('grad_clip_d')}; "
            "train/grad_norm_g and grad_norm_d show the usual sizes)"
        )
