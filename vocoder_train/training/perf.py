"""Speed options of the training step (``model.perf``, configs/model/perf/default.yaml).

Each option computes the same function as the plain step, so a run's losses match it within float
rounding; ``make bench ARGS="--only options"`` times each one alone against the plain step on the
machine it runs on (docs/results/ holds the measured tables).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.nn.utils import parametrize

from vocoder_train.config import CONFIG_DIR
from vocoder_train.config.checks import select
from vocoder_train.models.discriminators.vocos import LAYOUTS

# The one place that lists model.perf's keys, with their defaults and what each does.
PERF_REFERENCE = Path(CONFIG_DIR) / "model" / "perf" / "default.yaml"
PERF_OPTIMIZERS = ("default", "foreach", "fused", "for_loop")  # model.perf.optimizer: AdamW implementations
GENERATOR_PARTS = ("backbone", "head")  # generator parts model.perf.compile takes
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune-no-cudagraphs")  # torch.compile modes

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


def perf_problems(cfg: DictConfig) -> list[str]:
    """model.perf: the keys of :data:`PERF_REFERENCE`, a known AdamW implementation and MPD layout,
    compilable parts."""
    perf = OmegaConf.select(cfg, "model.perf", default=None)
    if perf is None:
        return []
    if not isinstance(perf, DictConfig):
        return [f"model.perf must be a mapping (see {PERF_REFERENCE.name})"]
    known = set(OmegaConf.load(PERF_REFERENCE).keys())
    p = [
        f"model.perf.{k}: unknown key (known: {', '.join(sorted(known))}); remove or respell it"
        for k in perf
        if k not in known
    ]
    p += [
        f"model.perf.{k} is missing: set it (see configs/model/perf/{PERF_REFERENCE.name})"
        for k in sorted(known - set(perf))
    ]
    if perf.get("optimizer") not in PERF_OPTIMIZERS:
        p.append(
            f"model.perf.optimizer={perf.get('optimizer')!r}: choose one of {', '.join(PERF_OPTIMIZERS)}"
        )
    if perf.get("mpd_layout") not in LAYOUTS:
        p.append(f"model.perf.mpd_layout={perf.get('mpd_layout')!r}: choose one of {', '.join(LAYOUTS)}")
    if perf.get("compile_mode") not in COMPILE_MODES:
        p.append(
            f"model.perf.compile_mode={perf.get('compile_mode')!r}: choose one of {', '.join(COMPILE_MODES)}"
        )
    names = perf.get("compile") or []
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        return p + [f"model.perf.compile={names!r}: give a list, e.g. [backbone, mpd]"]
    parts = [*GENERATOR_PARTS, *(select(cfg, "model.discriminator") or {})]
    return p + [
        f"model.perf.compile: {n!r} is not a compilable part; choose from {', '.join(parts)}"
        for n in names
        if n not in parts
    ]
