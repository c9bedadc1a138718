"""Running a few real optimizer steps of the LightningModule on a fixed batch, and training the
tiny experiment into a run folder."""

from __future__ import annotations

import math
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig

from tests.helpers.audio import tone
from vocoder_train.training.module import VocoderGAN
from vocoder_train.training.run import build_module


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict, module: torch.nn.Module) -> bool:
    """True when any tensor of ``module``'s state differs from the ``before`` snapshot."""
    return any(not torch.equal(before[k], v.cpu()) for k, v in module.state_dict().items())


class StepOutputs(pl.Callback):
    """Each training iteration's scalar outputs (losses, gradient norms) as floats, in ``steps``."""

    def __init__(self):
        self.steps: list[dict[str, float]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.steps.append({k: float(v) for k, v in outputs.items() if v.numel() == 1})


def fit(cfg, steps: int, tmp_path, module: VocoderGAN | None = None, **trainer_kwargs) -> VocoderGAN:
    """Runs ``steps`` optimizer steps through a real Trainer on a fixed batch; the module keeps
    ``_before = (generator snapshot, adversary snapshot)`` from before training and ``_outputs``
    (:class:`StepOutputs`). ``module``: one built from ``cfg`` if None; ``trainer_kwargs`` replace
    the Trainer's arguments (CPU, no logger, no checkpoints), e.g. ``accelerator``, ``precision``."""
    module = build_module(cfg) if module is None else module
    torch.manual_seed(0)
    batch = {"audio": torch.randn(2, cfg.audio.segment_length) * 0.1, "skipped": torch.zeros(2)}
    loader = torch.utils.data.DataLoader([batch] * 8, batch_size=None)
    outputs = StepOutputs()
    options = dict(
        accelerator="cpu",
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=[outputs],
    )
    trainer = pl.Trainer(**{**options, **trainer_kwargs})
    module._before = (snapshot(module.generator), snapshot(module.adversary))
    module._outputs = outputs.steps
    trainer.fit(module, train_dataloaders=loader)
    return module


def assert_trained(module: VocoderGAN, scaled: bool) -> None:
    """After :func:`fit` of GAN iterations: finite losses at every iteration and finite gradients at the
    last, both the
    generator and the discriminators changed, fp32 parameters; ``scaled`` (16-mixed): a GradScaler,
    whose skipped steps (inf/NaN gradients) are the ones counted in ``nonfinite_skips``."""
    steps = module._outputs  # an iteration whose D step was skipped has no G terms
    assert steps and all(
        math.isfinite(v) for s in steps for k, v in s.items() if not k.startswith("grad_norm")
    ), steps
    assert math.isfinite(steps[-1]["grad_norm_d"]) and math.isfinite(steps[-1]["grad_norm_g"]), steps[-1]
    g0, d0 = module._before
    assert changed(g0, module.generator) and changed(d0, module.adversary)
    assert all(p.dtype == torch.float32 for p in module.parameters())
    scaler = getattr(module.trainer.precision_plugin, "scaler", None)
    assert (scaler is not None) == scaled
    if scaled:
        assert 0 < scaler.get_scale() <= 2.0**16
        skipped = sum(not math.isfinite(s.get(k, 0.0)) for s in steps for k in ("grad_norm_d", "grad_norm_g"))
        assert module.nonfinite_skips == skipped


def compose_train(overrides) -> DictConfig:
    """configs/train.yaml composed with ``overrides``, as ``vocoder-train`` composes it."""
    from hydra import compose, initialize_config_dir

    from vocoder_train.config import CONFIG_DIR

    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=list(overrides))


def train_tiny(folder: Path, *overrides: str) -> Path:
    """Trains the tiny experiment (3 train files, 1 val file, written into ``folder``) with ``overrides``
    added; returns the run's ``last.ckpt``."""
    from vocoder_train.io.audio import save_audio
    from vocoder_train.training.run import train

    lists = {}
    for split, n in (("train", 3), ("val", 1)):
        paths = [folder / split / f"{split}{i}.wav" for i in range(n)]
        for i, p in enumerate(paths):
            save_audio(p, tone(16000, 1.0, 110.0 + 50 * i, seed=i), 16000)
        (folder / f"{split}.txt").write_text("\n".join(map(str, paths)) + "\n")
        lists[split] = folder / f"{split}.txt"
    base = [
        "experiment=tiny",
        f"data.train={lists['train']}",
        f"data.val={lists['val']}",
        f"paths.runs_dir={folder / 'runs'}",
        "callbacks.progress_bar=null",
    ]
    cfg = compose_train(base + list(overrides))
    train(cfg)
    return Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
