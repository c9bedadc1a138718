"""Spectral and adversarial losses, and the weighted sum that combines their terms."""

from __future__ import annotations

from collections.abc import Mapping

import torch


def weighted_sum(terms: Mapping[str, torch.Tensor], lambdas: Mapping[str, float]) -> torch.Tensor:
    """sum(lambdas[k] * terms[k]); a term without a weight is an error (it would be silently dropped)."""
    missing = [k for k in terms if k not in lambdas]
    if missing:
        raise KeyError(f"model.loss.lambdas has no weight for {missing}; add e.g. lambdas.{missing[0]}=1.0")
    return sum(float(lambdas[k]) * v for k, v in terms.items())
