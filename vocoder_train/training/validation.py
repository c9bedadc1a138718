"""What validation computes (``validation.metrics``) and what checkpoint selection and early stopping
may monitor: a metric computed at every validation, in its direction."""

from __future__ import annotations

from omegaconf import DictConfig

from vocoder_train.config.checks import select
from vocoder_train.metrics.registry import METRICS, SLOW_METRICS, metric_mode


def validation_problems(cfg: DictConfig) -> list[str]:
    p: list[str] = []
    names = list(select(cfg, "validation.metrics") or [])
    p += [
        f"validation.metrics: unknown metric {n!r}; known: {', '.join(METRICS)}"
        for n in names
        if n not in METRICS
    ]
    entries = ["model_checkpoint"] + (["early_stop"] if select(cfg, "callbacks.early_stop.patience") else [])
    for entry in entries:
        p += _monitor_problems(cfg, f"callbacks.{entry}", names)
    return p


def _monitor_problems(cfg: DictConfig, node: str, names: list[str]) -> list[str]:
    """``<node>.monitor`` is a validation metric that is computed at every validation, ``<node>.mode`` its
    direction."""
    p: list[str] = []
    monitor, mode = select(cfg, f"{node}.monitor"), select(cfg, f"{node}.mode")
    if not monitor:
        return p
    key = monitor.removeprefix("val/")
    if key == "utmos":
        if not select(cfg, "validation.utmos"):
            p.append(f"{node}.monitor={monitor}: set validation.utmos to local UTMOS weights")
        if mode and mode != "max":
            p.append(f"{node}.mode={mode}: {monitor} is better when higher; use mode=max")
    elif key != "mel_l1" and key not in names:
        p.append(f"{node}.monitor={monitor}: not computed; add {key} to validation.metrics")
    elif key in METRICS and mode and mode != metric_mode(key):
        p.append(
            f"{node}.mode={mode}: {monitor} is better when "
            f"{'higher' if metric_mode(key) == 'max' else 'lower'}; use mode={metric_mode(key)}"
        )
    if key in SLOW_METRICS and (select(cfg, "validation.slow_every") or 1) > 1:
        p.append(
            f"{node}.monitor={monitor} is computed only every validation.slow_every validations; set "
            "validation.slow_every=1"
        )
    return p
