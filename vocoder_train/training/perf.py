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

# The step without any option: what each option is measured against.
PLAIN = {
    "winograd": False,
    "winograd_bf16": False,
    "mpd_layout": "grid",
    "optimizer": "for_loop",
    "cache_weight_norm": False,
    "compile": [],
    "compile_mode": "default",
}


def optimizer_kwargs(perf: Mapping) -> dict[str, bool]:
    """``torch.optim.AdamW`` keyword arguments for ``model.perf.optimizer``."""
    impl = perf.get("optimizer", "default")
    if impl == "default":
        return {}
    return {"fused": True} if impl == "fused" else {"foreach": impl == "foreach"}


def apply_perf(generator: nn.Module, discriminators: Mapping[str, nn.Module], perf: Mapping) -> None:
    """``torch.compile`` of the parts ``perf["compile"]`` names, in place (the state-dict keys do not
    change). The discriminators' own options (Winograd, the MPD's layout) reach them through their
    constructors: their configs read ``model.perf``."""
    for name in perf.get("compile") or []:
        part = getattr(generator, name) if name in GENERATOR_PARTS else discriminators[name]
        part.compile(dynamic=False, mode=perf.get("compile_mode", "default"))


def weight_norm_cache(perf: Mapping):
    """A context in which every parametrized weight (weight norm) is computed once, or a no-op."""
    return parametrize.cached() if perf.get("cache_weight_norm") else contextlib.nullcontext()
