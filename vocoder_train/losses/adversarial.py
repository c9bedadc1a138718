"""Adversarial and feature-matching losses, and the object that owns the discriminators.

:class:`Adversary` keeps the GAN machinery out of the training step: it owns a named set
of discriminators and returns named loss terms, ``d_<name>`` for the discriminator step and
``g_adv_<name>`` / ``g_fm_<name>`` for the generator step. Their weights, keyed by those same
(logged) names, come from the discriminators' config entries (:func:`entry_weights`); the step
weighs every term with them and the loss config's ``lambdas``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from vocoder_train.config.checks import container, select

TERMS = ("d", "g_adv", "g_fm")  # discriminator <name>'s terms are logged as <term>_<name>


def hinge_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_g(fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - fake).mean()


def lsgan_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return ((1.0 - real) ** 2).mean() + (fake**2).mean()


def lsgan_g(fake: torch.Tensor) -> torch.Tensor:
    return ((1.0 - fake) ** 2).mean()


LOSSES = {"hinge": (hinge_d, hinge_g), "lsgan": (lsgan_d, lsgan_g)}


def feature_matching(
    fmaps_real: list[list[torch.Tensor]], fmaps_fake: list[list[torch.Tensor]]
) -> torch.Tensor:
    """Sum over layers of mean |real - fake|, averaged over sub-discriminators (real is a constant)."""
    total = sum(
        sum(F.l1_loss(f, r.detach()) for r, f in zip(rs, fs)) for rs, fs in zip(fmaps_real, fmaps_fake)
    )
    return total / max(1, len(fmaps_fake))


def entry_weights(name: str, entry: Mapping) -> dict[str, float]:
    """The ``weights`` of the ``model.discriminator.<name>`` entry by logged name:
    ``{"d_<name>": w, "g_adv_<name>": w, "g_fm_<name>": w}``. Raises ValueError naming the key at fault."""
    weights = entry.get("weights")
    if not isinstance(weights, Mapping):
        problem = "is missing"
    elif missing := [t for t in TERMS if t not in weights]:
        problem = f"has no {', '.join(missing)}"
    elif unknown := sorted(set(weights) - set(TERMS)):
        problem = f"has unknown {', '.join(unknown)}"
    else:
        return {f"{t}_{name}": float(weights[t]) for t in TERMS}
    raise ValueError(
        f"model.discriminator.{name}.weights {problem}: give {{d: .., g_adv: .., g_fm: ..}}, "
        f"the weights of d_{name}, g_adv_{name} and g_fm_{name}"
    )


class Adversary(nn.Module):
    """A named set of discriminators and their losses.

    Args:
        discriminators (Mapping[str, nn.Module]): name -> discriminator with the
            ``(list[logits], list[list[fmaps]])`` output contract. Names become loss keys.
        loss (str): "hinge" (Vocos) or "lsgan" (HiFi-GAN).
        weights (Mapping[str, float] | None): the terms' weights by logged name (see :func:`entry_weights`),
            exposed as :attr:`weights` for the step.
    """

    def __init__(
        self,
        discriminators: Mapping[str, nn.Module],
        loss: str = "hinge",
        weights: Mapping[str, float] | None = None,
    ):
        super().__init__()
        if not discriminators:
            raise ValueError("model.discriminator: at least one discriminator is needed for GAN training")
        if loss not in LOSSES:
            raise ValueError(f"model.loss.adversarial={loss!r}: choose one of {sorted(LOSSES)}")
        self.discriminators = nn.ModuleDict(dict(discriminators))
        self.loss = loss  # the key of LOSSES: what the health checks read their reference values by
        self.d_fn, self.g_fn = LOSSES[loss]
        self.weights = dict(weights or {})

    @classmethod
    def from_config(cls, entries: Mapping[str, Mapping], loss: str = "hinge") -> Adversary:
        """``model.discriminator`` -> Adversary: each entry's ``weights`` are read off, the rest
        instantiated."""
        discriminators, weights = {}, {}
        for name, entry in entries.items():
            node = (
                OmegaConf.to_container(entry, resolve=True) if isinstance(entry, DictConfig) else dict(entry)
            )
            weights.update(entry_weights(name, node))
            del node["weights"]
            discriminators[name] = instantiate(node)
        return cls(discriminators, loss, weights)

    @staticmethod
    def _conditioned(disc: nn.Module, condition: torch.Tensor | None):
        """``disc`` with the batch's conditioning id bound when it takes one (an unconditioned discriminator
        beside conditioned ones judges every bandwidth alike)."""
        if condition is not None and getattr(disc, "conditions", 0):
            return lambda x: disc(x, condition)
        return disc

    def discriminator_losses(
        self, real: torch.Tensor, fake: torch.Tensor, condition: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """real, fake (B, T) -> {"d_<name>": loss}; fake must be detached. Two passes of B: one
        pass of 2B was measured 2% slower on CPU (docs/results/2026-11-24-bench.md). ``condition``: the
        batch's conditioning id (1,), for conditioned discriminators."""
        out = {}
        for name, disc in self.discriminators.items():
            disc = self._conditioned(disc, condition)
            pairs = list(zip(disc(real)[0], disc(fake)[0], strict=True))
            out[f"d_{name}"] = sum(self.d_fn(r, f) for r, f in pairs) / len(pairs)
        return out

    def generator_losses(
        self, real: torch.Tensor, fake: torch.Tensor, condition: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """real, fake (B, T) -> {"g_adv_<name>", "g_fm_<name>"}; gradients flow to fake only."""
        out = {}
        for name, disc in self.discriminators.items():
            disc = self._conditioned(disc, condition)
            with torch.no_grad():
                _, fmaps_real = disc(real)
            logits_fake, fmaps_fake = disc(fake)
            out[f"g_adv_{name}"] = sum(self.g_fn(lg) for lg in logits_fake) / len(logits_fake)
            out[f"g_fm_{name}"] = feature_matching(fmaps_real, fmaps_fake)
        return out


def loss_problems(cfg: DictConfig) -> list[str]:
    """model.loss.lambdas weighs g_mel and no discriminator term; every model.discriminator entry names
    a class and has its weights."""
    p: list[str] = []
    lambdas = select(cfg, "model.loss.lambdas") or {}
    for key in lambdas:
        term = next((t for t in TERMS if key.startswith(f"{t}_")), None)
        if term:
            p.append(
                f"model.loss.lambdas.{key}: a discriminator's weights are in its entry; "
                f"set model.discriminator.{key[len(term) + 1 :]}.weights.{term} instead"
            )
    for name, node in container(cfg, "model.discriminator").items():
        if isinstance(node, dict) and "_target_" not in node:
            p.append(
                f"model.discriminator.{name}={node}: has no _target_ (settings for a discriminator that "
                "model/discriminator does not define?)"
            )
        elif isinstance(node, dict):
            try:
                entry_weights(name, node)
            except ValueError as e:
                p.append(str(e))
    if "g_mel" not in lambdas:
        p.append("model.loss.lambdas.g_mel missing")
    return p
