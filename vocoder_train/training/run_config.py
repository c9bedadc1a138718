"""The rules of a training config, checked before anything runs: keys that training reads, and the
sections without a ``_target_`` (each rule kept by the code that reads its section; the components named
by ``_target_`` declare their own, see :mod:`vocoder_train.config.checks`). Nothing here imports
Lightning, so ``vocoder-train`` reports a mistake in the time it takes to compose the config."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from vocoder_train.config.checks import check_config, select
from vocoder_train.losses.adversarial import loss_problems
from vocoder_train.training.finetune import init_problems
from vocoder_train.training.perf import perf_problems
from vocoder_train.training.schedules import optim_key_problems, optim_problems
from vocoder_train.training.validation import validation_problems

# Root keys that training reads; configs/train.yaml sets each.
REQUIRED_KEYS = (
    "validation.metrics",
    "validation.slow_every",
    "validation.utmos",
    "max_skipped_files",
    "cpu_threads",
    "onednn",
    "resume",
    "ckpt_path",
    "init",
)
MODEL_GROUPS = ("generator", "discriminator", "loss", "optim", "perf")  # what build_module reads of model
_ABSENT = object()


def key_problems(cfg: DictConfig) -> list[str]:
    """Keys that training reads are there; keys under model that nothing reads are named."""
    p = [
        f"{key} is missing: configs/train.yaml sets it; override its value rather than deleting it"
        for key in REQUIRED_KEYS
        if OmegaConf.select(cfg, key, default=_ABSENT) is _ABSENT
    ]
    model = select(cfg, "model") or {}
    p += [
        f"model.{k}: unknown key; model has {', '.join(MODEL_GROUPS)}: remove model.{k}"
        for k in model
        if k not in MODEL_GROUPS
    ]
    if isinstance(model.get("optim"), DictConfig):
        p += optim_key_problems(model.optim)
    return p


# The rules of the config sections without a ``_target_``, each kept by the code that reads the section;
# the components named by ``_target_`` declare their own (see vocoder_train.config.checks).
RUN_RULES = (
    key_problems,
    loss_problems,
    init_problems,
    optim_problems,
    validation_problems,
    perf_problems,
)


def check_run_config(cfg: DictConfig) -> None:
    """Raises :class:`ConfigError` listing every problem of a training config; quiet when none."""
    check_config(cfg, RUN_RULES)
