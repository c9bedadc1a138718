"""Running a few real optimizer steps of the LightningModule on a fixed batch."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from vocoder_train.training.run import build_module


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict, module: torch.nn.Module) -> bool:
    """True when any tensor of ``module``'s state differs from the ``before`` snapshot."""
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items())


def fit(cfg, steps: int, tmp_path) -> pl.LightningModule:
    """Runs ``steps`` optimizer steps through a real Trainer on a fixed batch; the module keeps
    ``_before = (generator snapshot, adversary snapshot)`` from before training."""
    module = build_module(cfg)
    torch.manual_seed(0)
    batch = {"audio": torch.randn(2, cfg.audio.segment_length) * 0.1, "skipped": torch.zeros(2)}
    loader = torch.utils.data.DataLoader([batch] * 8, batch_size=None)
    trainer = pl.Trainer(
        accelerator="cpu", max_steps=steps, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
    )
    module._before = (snapshot(module.generator), snapshot(module.adversary))
    trainer.fit(module, train_dataloaders=loader)
    return module
