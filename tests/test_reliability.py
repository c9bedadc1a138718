"""Bad data at training time and non-finite losses: counted, logged, bounded."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from vocoder_train.training.run import train


def _break_corpus(tiny_corpus) -> list[str]:
    """After 'preparation': one file deleted, one overwritten with garbage."""
    paths = Path(tiny_corpus["train"]).read_text().split()
    Path(paths[0]).unlink()
    Path(paths[1]).write_bytes(b"\x00garbage" * 100)
    return paths


def test_corpus_damaged_after_preparation_trains_to_the_end(tiny_cfg, tiny_corpus):
    _break_corpus(tiny_corpus)
    cfg = tiny_cfg()
    metrics = train(cfg)
    assert metrics["val/mel_l1"] > 0
    ea = EventAccumulator(str(Path(cfg.paths.output_dir) / "tensorboard"))
    ea.Reload()
    assert sum(e.value for e in ea.Scalars("data/skipped")) > 0


def test_too_many_skips_stop_the_run_naming_the_files(tiny_cfg, tiny_corpus):
    paths = _break_corpus(tiny_corpus)
    with pytest.raises(RuntimeError, match="max_skipped_files=0") as e:
        train(tiny_cfg("max_skipped_files=0"))
    assert Path(paths[0]).name in str(e.value) or Path(paths[1]).name in str(e.value)


def test_nonfinite_losses_skip_steps_then_stop_with_advice(tiny_cfg, monkeypatch):
    from vocoder_train.losses.spectral import MelReconstructionLoss
    from vocoder_train.training.module import NonFiniteLossError

    monkeypatch.setattr(MelReconstructionLoss, "forward", lambda self, y_hat, y: torch.tensor(float("nan")))
    with pytest.raises(NonFiniteLossError, match="lower model.optim.lr_g"):
        train(tiny_cfg("model.optim.max_nonfinite=2", "model.optim.pretrain_mel_steps=8"))


def test_nonfinite_discriminator_loss_skips_both_optimizers(tiny_cfg, monkeypatch):
    from vocoder_train.losses.adversarial import Adversary
    from vocoder_train.training.module import NonFiniteLossError

    monkeypatch.setattr(
        Adversary, "discriminator_losses", lambda self, real, fake, concat=False: {"d_mpd": torch.tensor(float("inf"))}
    )
    with pytest.raises(NonFiniteLossError, match="discriminator loss in 3 steps"):
        train(tiny_cfg("model.optim.max_nonfinite=2", "model.loss.lambdas.d_mpd=1.0"))
