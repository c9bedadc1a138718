"""Speed options of the training step (``model.perf``, configs/model/perf/default.yaml).

Each option computes the same function as the plain step, so a run's losses match it within float
rounding; ``make bench ARGS="--only options"`` times each one alone against the plain step on the
machine it runs on (docs/results/ holds the measured tables).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from torch import nn
from torch.nn.utils import parametrize

from vocoder_train.config.checks import GENERATOR_PARTS
from vocoder_train.models.discriminators.vocos import PeriodDiscriminator

# The step without any option: what each option is measured against.
PLAIN = {"winograd": False, "winograd_bf16": False, "mpd_layout": "grid", "optimizer": "for_loop",
         "cache_weight_norm": False, "compile": [], "compile_mode": "default"}


def optimizer_kwargs(perf: Mapping) -> dict[str, bool]:
    """``torch.optim.AdamW`` keyword arguments for ``model.perf.optimizer``."""
    impl = perf.get("optimizer", "default")
    if impl == "default":
        return {}
    return {"fused": True} if impl == "fused" else {"foreach": impl == "foreach"}


def apply_perf(generator: nn.Module, discriminators: Mapping[str, nn.Module], perf: Mapping) -> None:
    """Sets the module-level options: Winograd convolutions, the MPD's layout and ``torch.compile`` (in
    place, so the state-dict keys do not change)."""
    for disc in discriminators.values():
        for sub in disc.modules():
            if isinstance(sub, PeriodDiscriminator):
                sub.winograd = bool(perf.get("winograd", False))
                sub.winograd_bf16 = bool(perf.get("winograd_bf16", False))
                sub.layout = perf.get("mpd_layout", "grid")
    for name in perf.get("compile") or []:
        part = getattr(generator, name) if name in GENERATOR_PARTS else discriminators[name]
        part.compile(dynamic=False, mode=perf.get("compile_mode", "default"))


def weight_norm_cache(perf: Mapping):
    """A context in which every parametrized weight (weight norm) is computed once, or a no-op."""
    return parametrize.cached() if perf.get("cache_weight_norm") else contextlib.nullcontext()
