"""Bad data at training time and non-finite losses: counted, logged, bounded."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from vocoder_train.training.callbacks import DataHealth
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
    from vocoder_train.training.stepping import NonFiniteLossError

    monkeypatch.setattr(MelReconstructionLoss, "forward", lambda self, y_hat, y: torch.tensor(float("nan")))
    with pytest.raises(NonFiniteLossError, match="lower model.optim.lr_g"):
        train(tiny_cfg("model.optim.max_nonfinite=2", "model.optim.pretrain_mel_steps=8"))


def test_nonfinite_discriminator_loss_skips_both_optimizers(tiny_cfg, monkeypatch):
    from vocoder_train.losses.adversarial import Adversary
    from vocoder_train.training.stepping import NonFiniteLossError

    monkeypatch.setattr(
        Adversary,
        "discriminator_losses",
        lambda self, real, fake, condition=None: {"d_mpd": torch.tensor(float("inf"))},
    )
    with pytest.raises(NonFiniteLossError, match="discriminator loss in 3 steps"):
        train(tiny_cfg("model.optim.max_nonfinite=2", "model.discriminator.mpd.weights.d=1.0"))


class _Logged:
    """Stands in for the LightningModule and the Trainer: records what a callback logs."""

    def __init__(self, data=None):
        self.values: dict[str, list[float]] = {}
        self.datamodule = None if data is None else type("VocoderDataModule", (), {"data": data})()

    def log(self, name, value, **kwargs):
        self.values.setdefault(name, []).append(float(value))

    def log_dict(self, values, **kwargs):
        for k, v in values.items():
            self.log(k, v)


def _batch(skipped=(0, 0), paths=("", ""), **more) -> dict:
    return {
        "audio": torch.zeros(len(skipped), 8),
        "skipped": torch.tensor(skipped),
        "skipped_path": list(paths),
        **more,
    }


def test_data_health_counts_skips_and_fixed_mel_frames_and_keeps_them_in_checkpoints():
    health, module = DataHealth(max_skipped_files=3, mix_every_n_steps=1), _Logged()
    trainer = _Logged()
    health.on_train_batch_end(trainer, module, {}, _batch((1, 0), ("a.wav", "")), 0)
    health.on_train_batch_end(
        trainer, module, {}, _batch((0, 2), ("", "b.wav"), frames_fixed=torch.tensor([1, 1])), 1
    )
    assert module.values["data/skipped"] == [1.0, 2.0] and module.values["data/mel_frames_fixed"] == [2.0]
    resumed = DataHealth(max_skipped_files=3, mix_every_n_steps=1)
    resumed.load_state_dict(health.state_dict())
    assert resumed.skipped_files == ["a.wav", "b.wav", "b.wav"] and resumed.mel_frames_fixed == 2
    with pytest.raises(RuntimeError, match="max_skipped_files=3") as e:
        resumed.on_train_batch_end(trainer, module, {}, _batch((1, 0), ("c.wav", "")), 2)
    assert "a.wav, b.wav, c.wav" in str(e.value) and "vocoder-prepare" in str(e.value)


def test_data_health_logs_the_mix_of_sources():
    class Data:
        def source_names(self, index):
            return ["a" if int(i) < 2 else "b" for i in index]

    health, module, trainer = (
        DataHealth(max_skipped_files=10, mix_every_n_steps=2),
        _Logged(),
        _Logged(Data()),
    )
    for step, index in enumerate(([0, 1, 2, 3], [0, 0, 0, 3], [1, 1, 1, 1])):
        health.on_train_batch_end(
            trainer, module, {}, _batch((0,) * 4, ("",) * 4, index=torch.tensor(index)), step
        )
    assert health.mix_counts == {"a": 9, "b": 3}
    assert module.values["data/mix_a"] == [0.5, 0.75] and module.values["data/mix_b"] == [
        0.5,
        0.25,
    ]  # steps 0, 2
