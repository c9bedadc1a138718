"""Starting a run from pretrained weights (``init.path``): fine-tuning.

``init.path`` is a vocos folder (``config.yaml`` + ``pytorch_model.bin``, the format of
``charactr/vocos-mel-24khz``, generator only), a safetensors export or a vocoder_train checkpoint,
read by :func:`vocoder_train.models.store.read_weights`. Unlike a resume,
optimizers, schedules and step counters start fresh. The pretrained generator must match
``model.generator`` (the same front end and sizes): a mismatch is reported key by key, since
weights trained on 24 kHz mels would silently get 22.05 kHz ones.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from vocoder_train.config.checks import backbone_problems
from vocoder_train.io.buffers import drop_derived
from vocoder_train.io.checkpoint import CheckpointError
from vocoder_train.models.generator import from_vocos_config
from vocoder_train.models.store import ModelError, read_weights

log = logging.getLogger(__name__)


class InitError(ValueError):
    """Pretrained weights do not fit the configured model. The message says what differs."""


def _frontend_differences(ours: dict, theirs: dict) -> list[str]:
    """Feature extractor / head settings that differ between two generator configs."""
    diffs = []
    for part in ("feature_extractor", "head"):
        a, b = ours.get(part, {}), theirs.get(part, {})
        for key in sorted(set(a) | set(b)):
            if key != "dim" and a.get(key) != b.get(key):
                diffs.append(
                    f"model.generator.{part}.{key}: pretrained {b.get(key)!r}, configured {a.get(key)!r}"
                )
    return diffs


def _load_pretrained(path: Path, ema: bool) -> tuple[dict[str, torch.Tensor], dict | None, dict]:
    """-> (generator state, discriminator state or None, the pretrained generator config)."""
    try:
        weights = read_weights(path)
        return weights.state(ema), weights.discriminators, from_vocos_config(weights.config)
    except (ModelError, CheckpointError, FileNotFoundError) as e:
        raise InitError(f"init.path: {e}") from e


def _load_into(module: nn.Module, state: dict, what: str, path: Path) -> None:
    state = drop_derived(state, module)  # vocos folders and older checkpoints hold windows/filterbanks
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or shapes:
        detail = "; ".join(
            filter(
                None,
                [
                    f"missing {missing[:4]}" if missing else "",
                    f"unexpected {unexpected[:4]}" if unexpected else "",
                    f"shape (pretrained vs configured) {shapes[:4]}" if shapes else "",
                ],
            )
        )
        raise InitError(f"init.path={path}: the pretrained {what} does not fit the configured one: {detail}")
    module.load_state_dict(state)


def apply_init(module: nn.Module, init: DictConfig | dict | None, generator_cfg: DictConfig) -> None:
    """Loads ``init.path`` into ``module`` (a VocoderGAN). ``init.weights``: generator | all."""
    init = OmegaConf.to_container(init, resolve=True) if isinstance(init, DictConfig) else dict(init or {})
    if not init.get("path"):
        return
    path = Path(init["path"]).expanduser()
    if not path.exists():
        raise InitError(f"init.path={path}: no such vocos folder or checkpoint")
    weights = init.get("weights", "generator")
    if weights not in ("generator", "all"):
        raise InitError(f"init.weights={weights!r}: choose generator or all")
    gen_state, disc_state, pre_cfg = _load_pretrained(path, bool(init.get("ema", False)))
    ours: Any = OmegaConf.to_container(generator_cfg, resolve=True)
    diffs = _frontend_differences(ours, pre_cfg)
    if diffs:
        raise InitError(
            f"init.path={path}: front end or head differs from the config:\n  " + "\n  ".join(diffs)
        )
    sizes = backbone_problems(
        OmegaConf.create({"model": {"generator": ours}}), pre_cfg.get("backbone", {}), f"init.path={path}"
    )
    if sizes:
        raise InitError(sizes[0])
    _load_into(module.generator, gen_state, "generator", path)
    if weights == "all":
        if not disc_state:
            raise InitError(
                f"init.path={path}: has no discriminator weights (a vocos folder never does); use "
                "init.weights=generator"
            )
        _load_into(module.adversary, disc_state, "discriminators", path)
    log.info(
        "initialized %s from %s", "generator + discriminators" if weights == "all" else "generator", path
    )
