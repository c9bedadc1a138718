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

from vocoder_train.config import CONFIG_DIR
from vocoder_train.config.checks import select
from vocoder_train.io.buffers import drop_derived
from vocoder_train.io.checkpoint import CheckpointError
from vocoder_train.models.generator import from_vocos_config
from vocoder_train.models.store import read_weights
from vocoder_train.models.stored_config import ModelError

log = logging.getLogger(__name__)


CODEC_PREFIX = "feature_extractor.encodec."  # a frozen codec's weights inside the generator


class InitError(ValueError):
    """Pretrained weights do not fit the configured model. The message says what differs."""


def _frontend_differences(ours: dict, theirs: dict) -> list[str]:
    """Feature extractor / head settings that differ between two generator configs."""
    diffs = []
    for part in ("feature_extractor", "head"):
        a, b = ours.get(part, {}), theirs.get(part, {})
        for key in sorted(set(a) | set(b)):
            # path, codec_config: where the codec comes from (its weights are compared when loaded)
            if key not in ("dim", "path", "codec_config") and a.get(key) != b.get(key):
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
    # a vocos folder of an EnCodec model holds no codec weights (vocos keeps them apart): the configured
    # codec's (codec.path), as vocos' from_pretrained inserts its own
    state = {**{k: v for k, v in own.items() if k.startswith(CODEC_PREFIX) and k not in state}, **state}
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
        OmegaConf.create({"model": {"generator": ours}}),
        pre_cfg.get("backbone", {}),
        f"init.path={path}",
        (pre_cfg.get("feature_extractor") or {}).get("_target_"),
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


def init_problems(cfg: DictConfig) -> list[str]:
    """init.path exists and, for a vocos folder, holds both files and the configured front end."""
    path = select(cfg, "init.path")
    if path in (None, "") and select(cfg, "init.required"):
        return [
            "init.path is not set: this experiment fine-tunes pretrained weights; pass init.path=<a vocos "
            "folder "
            "(config.yaml + pytorch_model.bin), a safetensors export or a .ckpt>, or init.required=false to "
            "start from random weights on purpose"
        ]
    if path in (None, ""):
        return []
    src = Path(str(path)).expanduser()
    if not src.exists():
        return [f"init.path={path}: no such vocos folder or checkpoint"]
    if not src.is_dir():
        return []
    missing = [n for n in ("config.yaml", "pytorch_model.bin") if not (src / n).is_file()]
    if missing:
        return [
            f"init.path={path}: a vocos folder needs config.yaml and pytorch_model.bin ({', '.join(missing)} "
            "missing); "
            "download both from the model's hub page into it"
        ]
    import yaml

    try:
        stored = yaml.safe_load((src / "config.yaml").read_text(encoding="utf-8")) or {}
        fe = stored["feature_extractor"]["init_args"]
        front_end = stored["feature_extractor"].get("class_path")
        bb = {"_target_": stored["backbone"]["class_path"], **stored["backbone"]["init_args"]}
    except (KeyError, TypeError, OSError, yaml.YAMLError):
        return []  # the loader reports a malformed config with more context
    p = []
    for key in ("sample_rate", "n_fft", "hop_length", "n_mels"):
        ours = select(cfg, f"audio.{key}")
        if key in fe and ours is not None and fe[key] != ours:
            p.append(
                f"audio.{key}={ours} but init.path={path} was trained with {key}={fe[key]}: set "
                f"audio.{key}={fe[key]}"
            )
    return p + backbone_problems(cfg, bb, f"init.path={path}", front_end)


BACKBONE_SIZES = ("dim", "intermediate_dim", "num_layers")


def _generator_option(sizes: dict, front_end: str | None = None) -> str | None:
    """The shipped ``model/generator`` option whose backbone has this class (``_target_``) and these
    sizes and, when given, whose feature extractor is ``front_end`` (a ``_target_``), its own file over
    the one it extends; or None."""
    import yaml

    folder = Path(CONFIG_DIR) / "model" / "generator"
    for f in sorted(folder.glob("*.yaml")):
        node = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
        parents = [d for d in node.get("defaults", []) if isinstance(d, str) and d != "_self_"]
        parts: dict[str, dict] = {"backbone": {}, "feature_extractor": {}}
        for source in [yaml.safe_load((folder / f"{p}.yaml").read_text()) or {} for p in parents] + [node]:
            for part, values in parts.items():
                values.update(source.get(part, {}))
        backbone, fe = parts["backbone"], parts["feature_extractor"]
        if all(backbone.get(k) == sizes.get(k) for k in (*BACKBONE_SIZES, "_target_")) and (
            front_end is None or fe.get("_target_") == front_end
        ):
            return f.stem
    return None


def backbone_problems(
    cfg: DictConfig, pretrained: dict, source: str, front_end: str | None = None
) -> list[str]:
    """The configured backbone has the pretrained one's sizes; else one line naming what to pick (a
    shipped option with the pretrained ``front_end`` too, when given)."""
    ours = {k: select(cfg, f"model.generator.backbone.{k}") for k in BACKBONE_SIZES}
    theirs = {k: pretrained.get(k) for k in BACKBONE_SIZES}
    if ours == theirs or None in theirs.values():
        return []
    option = _generator_option({**theirs, "_target_": pretrained.get("_target_")}, front_end)
    pick = (
        f"model/generator={option}"
        if option
        else " ".join(f"model.generator.backbone.{k}={v}" for k, v in theirs.items())
    )
    sizes = ", ".join(
        f"{k} {theirs[k]} (configured {ours[k]})" for k in BACKBONE_SIZES if ours[k] != theirs[k]
    )
    return [f"{source} has a backbone of another size: {sizes}; add {pick}"]
