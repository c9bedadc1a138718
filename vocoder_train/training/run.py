"""``train(cfg) -> metrics``: a composed config in, a trained run folder out (the ``vocoder-train`` body)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks.progress.progress_bar import ProgressBar as ProgressBarBase

from vocoder_train import hardware
from vocoder_train.config.checks import ConfigError
from vocoder_train.io.checkpoint import CheckpointError, load_checkpoint
from vocoder_train.io.filekind import WrongFileKind
from vocoder_train.losses.adversarial import Adversary
from vocoder_train.models.generator import build_generator
from vocoder_train.training.callbacks import FinalCheckpoint
from vocoder_train.training.checkpoint_io import AtomicCheckpointIO
from vocoder_train.training.datamodule import VocoderDataModule
from vocoder_train.training.finetune import apply_init
from vocoder_train.training.module import VocoderGAN
from vocoder_train.training.preemption import StopOnSignal
from vocoder_train.training.run_config import check_run_config

log = logging.getLogger("vocoder_train")


def build_module(cfg: DictConfig) -> VocoderGAN:
    """The LightningModule from ``cfg.model`` (generator, discriminator, loss, optim)."""
    m = cfg.model
    adversary = Adversary.from_config(m.discriminator, loss=m.loss.adversarial)
    return VocoderGAN(
        generator=build_generator(m.generator),
        adversary=adversary,
        mel_loss=instantiate(m.loss.mel),
        lambdas={**OmegaConf.to_container(m.loss.lambdas, resolve=True), **adversary.weights},
        optim=OmegaConf.to_container(m.optim, resolve=True),
        sample_rate=cfg.audio.sample_rate,
        config=OmegaConf.to_container(cfg, resolve=True),
        spectral_losses={k: instantiate(v) for k, v in (m.loss.spectral or {}).items() if v is not None},
        val_metrics=list(cfg.validation.metrics or []),
        slow_metrics_every=cfg.validation.slow_every,
        utmos=cfg.validation.utmos,
        crepe_model=OmegaConf.select(cfg, "validation.crepe_model", default="full"),
        perf=OmegaConf.to_container(m.perf, resolve=True) if "perf" in m else None,
    )


def _instantiate_dict(node: DictConfig | None) -> list[Any]:
    return [instantiate(v) for v in (node or {}).values() if v is not None and "_target_" in v]


def resolve_ckpt_path(cfg: DictConfig) -> str | None:
    """``ckpt_path`` if given, else ``last.ckpt`` of the run folder when ``resume=auto``.

    A checkpoint that does not load is reported with the newest one that does, to pass as ``ckpt_path``.
    """
    if cfg.ckpt_path:
        p = Path(cfg.ckpt_path)
        if not p.is_file():
            raise FileNotFoundError(f"ckpt_path={cfg.ckpt_path}: no such checkpoint")
        try:
            _check_loadable(p)
        except WrongFileKind as e:  # not a checkpoint at all: a config mistake, reported as one
            fix = "give a training checkpoint (.ckpt), e.g. <run>/checkpoints/last.ckpt"
            raise ConfigError(f"ckpt_path: {e.line(fix)}") from None
        return str(p)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    if cfg.resume == "auto" and last.is_file():
        _check_loadable(last)
        log.info("resuming from %s (set resume=never or a new run_name to start fresh)", last)
        return str(last)
    return None


def _check_loadable(path: Path) -> None:
    try:
        load_checkpoint(path)
    except (CheckpointError, WrongFileKind) as e:
        others = sorted(
            (p for p in path.parent.glob("*.ckpt") if p != path), key=lambda p: -p.stat().st_mtime
        )
        for other in others:
            try:
                load_checkpoint(other)
            except (CheckpointError, WrongFileKind):
                continue
            raise CheckpointError(
                f"{e}\n  the newest loadable checkpoint is {other}: resume with ckpt_path={other}"
            ) from e
        raise


def _set_cpu_threads(cfg: DictConfig) -> None:
    """Training on CPU: torch (and the numba kernels, which follow it) get the cores that the data
    workers leave free. An OpenMP team that shares its cores with busy worker processes waits at
    every barrier for a descheduled thread, which makes each step many times slower
    (docs/results/2026-11-24-bench.md)."""
    want = cfg.cpu_threads
    if want in (None, "none"):
        return
    workers = int(OmegaConf.select(cfg, "data.num_workers", default=0) or 0)  # a data source may have none
    accelerator = str(cfg.trainer.accelerator)
    if accelerator not in ("cpu", "auto") or (accelerator == "auto" and torch.cuda.is_available()):
        return
    if want == "auto":
        want = max(1, (os.cpu_count() or 1) - workers)
    torch.set_num_threads(int(want))
    log.info(
        "CPU training: %d torch thread(s) (cpu_threads=%s, data.num_workers=%s)",
        int(want),
        cfg.cpu_threads,
        workers,
    )


def resolve_precision(cfg: DictConfig) -> str | None:
    """``trainer.precision: auto`` -> "bf16-mixed" where bf16 matrix products are native on the device
    that will train (AVX512-BF16/AMX CPUs, CUDA compute >= 8.0), else "32-true"; None if not "auto"."""
    if str(cfg.trainer.precision) != "auto":
        return None
    gpu = _trains_on_gpu(cfg)
    precision = "bf16-mixed" if hardware.bf16_matmul_is_fast("cuda" if gpu else "cpu") else "32-true"
    log.info("trainer.precision=auto -> %s (%s)", precision, "GPU" if gpu else "CPU")
    return precision


def _trains_on_gpu(cfg: DictConfig) -> bool:
    accelerator = str(cfg.trainer.accelerator)
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def precision_advice(cfg: DictConfig, precision: str) -> str | None:
    """A warning when ``precision`` does not suit the GPU that will train (bf16 on one without bf16
    units), else None."""
    if (
        precision == "bf16-mixed"
        and _trains_on_gpu(cfg)
        and torch.cuda.is_available()
        and not hardware.bf16_matmul_is_fast("cuda")
    ):
        return (
            "trainer.precision=bf16-mixed: this GPU has no native bf16 (compute capability < 8.0, e.g. T4, "
            "V100), so bf16 runs emulated and slow; use trainer.precision=16-mixed (fp16 with gradient "
            "scaling) or 32-true"
        )
    return None


def train(cfg: DictConfig, callbacks: list[pl.Callback] | None = None) -> dict[str, float]:
    """Trains from a composed config; returns the final callback metrics as floats.

    ``callbacks`` are added to those of ``cfg.callbacks`` (for programmatic use and tests).
    """
    from vocoder_train.config.runtime import setup

    setup()
    check_run_config(cfg)
    pl.seed_everything(cfg.seed, workers=True)
    _set_cpu_threads(cfg)
    if not cfg.onednn:
        torch.backends.mkldnn.enabled = False  # bitwise-reproducible CPU convs (slower)
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    datamodule = VocoderDataModule(instantiate(cfg.data, _convert_="all"))
    module = build_module(cfg)
    ckpt_path = resolve_ckpt_path(cfg)
    if ckpt_path is None:  # a resume restores everything; init only seeds a fresh run
        apply_init(module, cfg.init, cfg.model.generator)
    callbacks = (
        _instantiate_dict(cfg.get("callbacks"))
        + [FinalCheckpoint(out / "checkpoints")]
        + list(callbacks or [])
    )
    callbacks.append(StopOnSignal(out / "checkpoints"))  # last: it checkpoints the state the others left
    if cfg.trainer.enable_progress_bar is False:  # trainer.enable_progress_bar=false wins over the callback
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBarBase)]
    loggers = _instantiate_dict(cfg.get("logger"))
    precision = resolve_precision(cfg)
    advice = precision_advice(cfg, precision or str(cfg.trainer.precision))
    if advice:
        log.warning(advice)
    trainer: pl.Trainer = instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=loggers or False,
        plugins=[AtomicCheckpointIO()],
        **({"precision": precision} if precision else {}),
    )
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    log.info("run folder: %s", out.resolve())
    return metrics
