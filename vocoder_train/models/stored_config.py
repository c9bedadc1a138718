"""Stored configs: the config a model file carries, upgraded and checked before anything is built from it.

A training checkpoint stores its run config (``vocoder_train.config``, Hydra ``_target_`` style); a vocos
folder or an export stores a vocos config (``config.yaml``, or a safetensors file's metadata:
``class_path`` / ``init_args`` per part). Both are untrusted input: every class one names must be a
``torch.nn.Module`` of ``vocos`` or ``vocoder_train`` (:func:`check_classes`, before anything is built),
so a config cannot make the loader call an arbitrary function. Classes named by the module they were in
when the file was written are read through :data:`MOVED_MODULES` (:func:`upgrade_config`).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import torch
import yaml

from vocoder_train.models.generator import to_vocos_config

# Where a class that a model file written by an earlier vocoder_train names now lives, old module -> new
# module: a stored config naming the old module builds the class from the new one, so those files keep
# loading. Only a generator's parts (feature extractor, backbone, head) are built from a stored config,
# so only their modules need an entry; every model file this version reads names them where they are.
MOVED_MODULES: dict[str, str] = {}
TRUSTED_PACKAGES = ("vocos", "vocoder_train")
_TARGET_KEYS = ("_target_", "class_path")


class ModelError(ValueError):
    """A model file or folder cannot be loaded or used as asked. The message names it and what to do."""


def upgrade_config(node: Any) -> Any:
    """A copy of a stored config with every ``_target_`` / ``class_path`` in a moved module renamed."""
    if isinstance(node, dict):
        return {
            k: _renamed(v) if k in _TARGET_KEYS and isinstance(v, str) else upgrade_config(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [upgrade_config(v) for v in node]
    return node


def _renamed(target: str) -> str:
    module, _, name = target.rpartition(".")
    return f"{MOVED_MODULES[module]}.{name}" if module in MOVED_MODULES else target


def check_classes(node: Any, where: str, source: Path) -> None:
    """Raises :class:`ModelError` unless every class ``node`` names is an importable ``nn.Module``
    of a trusted package. ``where`` is the key path of ``node`` for messages, e.g. ``model.generator``."""
    if isinstance(node, list):
        for i, v in enumerate(node):
            check_classes(v, f"{where}[{i}]", source)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        path = f"{where}.{key}" if where else str(key)
        if key in _TARGET_KEYS:
            _check_class(value, path, source)
        else:
            check_classes(value, path, source)


def _check_class(target: Any, key: str, source: Path) -> None:
    if not isinstance(target, str) or target.split(".")[0] not in TRUSTED_PACKAGES:
        raise ModelError(
            f"{source}: {key}={target!r} is not a class of {' or '.join(TRUSTED_PACKAGES)}; "
            "refusing to build it (only load models you trust, as vocoder_train or vocos wrote them)"
        )
    module, _, name = target.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise ModelError(
            f"{source}: {key}={target} cannot be imported ({e}). It was written by another version of "
            f"vocoder_train: add the class's new module to MOVED_MODULES in {__name__}, or load it with "
            "the version that wrote it and re-export it with vocoder-export"
        ) from e
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise ModelError(f"{source}: {key}={target} is not a torch.nn.Module; refusing to build it")


def read_vocos_yaml(path: Path) -> dict:
    """A vocos ``config.yaml`` as stored (not yet upgraded or checked)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; a model folder holds config.yaml next to the model file")
    with open(path, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    if not isinstance(cfg, dict) or not all(
        isinstance(cfg.get(p), dict) for p in ("feature_extractor", "backbone", "head")
    ):
        raise ModelError(
            f"{path}: not a vocos config (needs feature_extractor, backbone and head, each with class_path)"
        )
    return cfg


def checked_vocos_config(config: dict, source: Path, where: str = "") -> dict:
    """The vocos config, upgraded, checked, with a top-level ``sample_rate`` (from the feature
    extractor when absent)."""
    config = upgrade_config(config)
    check_classes(config, where, source)
    sr = config.get("sample_rate") or init_args(config, "feature_extractor").get("sample_rate")
    if not sr:
        raise ModelError(f"{source}: config has no sample_rate; add sample_rate: <Hz> at its top level")
    return {**config, "sample_rate": int(sr)}


def init_args(vocos_config: dict, part: str) -> dict:
    """The ``init_args`` of one part (``feature_extractor``, ``backbone``, ``head``) of a vocos config."""
    return (vocos_config.get(part) or {}).get("init_args") or {}


def checkpoint_config(ckpt: Any, path: Path) -> dict:
    """The vocos config (with ``sample_rate``) of the run config a training checkpoint stores, upgraded
    and checked."""
    try:
        cfg = upgrade_config(ckpt["vocoder_train"]["config"])
        generator, sample_rate = cfg["model"]["generator"], int(cfg["audio"]["sample_rate"])
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(
            f"{path}: not a vocoder_train checkpoint (no vocoder_train.config with model.generator "
            "and audio.sample_rate); give a run's last.ckpt, a vocos folder or an export"
        ) from e
    check_classes(generator, "model.generator", path)
    try:
        return to_vocos_config(generator, sample_rate)
    except (KeyError, TypeError) as e:
        raise ModelError(
            f"{path}: model.generator has no {e} entry with a _target_; not a generator config"
        ) from e
