"""Adversarial and feature-matching losses, and the object that owns the discriminators.

:class:`Adversary` keeps the GAN machinery out of the training step: it owns a named set
of discriminators and returns named loss terms, ``d_<name>`` for the discriminator step and
``g_adv_<name>`` / ``g_fm_<name>`` for the generator step. The step weights them with the
``lambdas`` of the loss config, keyed by those same (logged) names.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn


def hinge_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_g(fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - fake).mean()


def lsgan_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return ((1.0 - real) ** 2).mean() + (fake**2).mean()


def lsgan_g(fake: torch.Tensor) -> torch.Tensor:
    return ((1.0 - fake) ** 2).mean()


LOSSES = {"hinge": (hinge_d, hinge_g), "lsgan": (lsgan_d, lsgan_g)}


def feature_matching(fmaps_real: list[list[torch.Tensor]], fmaps_fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """Sum over layers of mean |real - fake|, averaged over sub-discriminators (real is a constant)."""
    total = sum(
        sum(F.l1_loss(f, r.detach()) for r, f in zip(rs, fs)) for rs, fs in zip(fmaps_real, fmaps_fake)
    )
    return total / max(1, len(fmaps_fake))


class Adversary(nn.Module):
    """A named set of discriminators and their losses.

    Args:
        discriminators (Mapping[str, nn.Module]): name -> discriminator with the
            ``(list[logits], list[list[fmaps]])`` output contract. Names become loss keys.
        loss (str): "hinge" (Vocos) or "lsgan" (HiFi-GAN).
    """

    def __init__(self, discriminators: Mapping[str, nn.Module], loss: str = "hinge"):
        super().__init__()
        if not discriminators:
            raise ValueError("model.discriminator: at least one discriminator is needed for GAN training")
        if loss not in LOSSES:
            raise ValueError(f"model.loss.adversarial={loss!r}: choose one of {sorted(LOSSES)}")
        self.discriminators = nn.ModuleDict(dict(discriminators))
        self.d_fn, self.g_fn = LOSSES[loss]

    def discriminator_losses(
        self, real: torch.Tensor, fake: torch.Tensor, concat: bool = False
    ) -> dict[str, torch.Tensor]:
        """real, fake (B, T) -> {"d_<name>": loss}; fake must be detached. With ``concat`` real and
        fake share one pass of batch 2B (``model.perf.concat_d_pass``), else two passes of B."""
        n = real.shape[0]
        out = {}
        for name, disc in self.discriminators.items():
            if concat:
                logits, _ = disc(torch.cat([real, fake], dim=0))
                pairs = [(lg[:n], lg[n:]) for lg in logits]
            else:
                pairs = list(zip(disc(real)[0], disc(fake)[0], strict=True))
            out[f"d_{name}"] = sum(self.d_fn(r, f) for r, f in pairs) / len(pairs)
        return out

    def generator_losses(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """real, fake (B, T) -> {"g_adv_<name>", "g_fm_<name>"}; gradients flow to fake only."""
        out = {}
        for name, disc in self.discriminators.items():
            with torch.no_grad():
                _, fmaps_real = disc(real)
            logits_fake, fmaps_fake = disc(fake)
            out[f"g_adv_{name}"] = sum(self.g_fn(lg) for lg in logits_fake) / len(logits_fake)
            out[f"g_fm_{name}"] = feature_matching(fmaps_real, fmaps_fake)
        return out


def weighted_sum(terms: Mapping[str, torch.Tensor], lambdas: Mapping[str, float]) -> torch.Tensor:
    """sum(lambdas[k] * terms[k]); a term without a weight is an error (it would be silently dropped)."""
    missing = [k for k in terms if k not in lambdas]
    if missing:
        raise KeyError(f"model.loss.lambdas has no weight for {missing}; add e.g. lambdas.{missing[0]}=1.0")
    return sum(float(lambdas[k]) * v for k, v in terms.items())
