"""train(cfg) end to end on the tiny config: run folder, TensorBoard content, checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from vocoder_train.io.checkpoint import load_checkpoint
from vocoder_train.models.store import load_generator
from vocoder_train.training.run import train


def _events(run: Path) -> EventAccumulator:
    ea = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0, "audio": 0, "scalars": 0})
    ea.Reload()
    return ea


def test_train_tiny_writes_a_complete_run_folder(tiny_cfg):
    cfg = tiny_cfg("model.optim.pretrain_mel_steps=2")
    metrics = train(cfg)
    run = Path(cfg.paths.output_dir)
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert list((run / "checkpoints").glob("best-step*.ckpt"))
    assert metrics["val/mel_l1"] > 0 and "train/d_mpd" in metrics and "train/g_fm_mrd" in metrics

    tags = _events(run).Tags()
    for name in (
        "train/g_mel",
        "train/d_mrd",
        "train/g_adv_mpd",
        "train/lr_g",
        "train/lr_d",
        "train/grad_norm_g",
        "train/grad_norm_d",
        "val/mel_l1",
        "perf/samples_per_s",
        "data/skipped",
        "val/mrstft",
        "val/pesq",
        "val/stoi",
        "val/periodicity",
        "val/vuv_f1",
    ):
        assert name in tags["scalars"], name
    assert "val/audio_0/target" in tags["audio"] and "val/audio_0/prediction" in tags["audio"]
    assert "val/mel_0" in tags["images"]

    ckpt = load_checkpoint(run / "checkpoints" / "last.ckpt")
    assert ckpt["global_step"] == 2 + 2 * 3  # 2 mel-only + 3 GAN iterations = max_steps 8
    assert ckpt["vocoder_train"]["config"]["audio"]["sample_rate"] == 16000


def test_checkpoint_generator_reloads_with_the_same_output(tiny_cfg):
    cfg = tiny_cfg("trainer.max_steps=2")
    train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    gen, sr = load_generator(ckpt)
    assert sr == 16000
    state = load_checkpoint(ckpt)["state_dict"]
    gen2, _ = load_generator(ckpt)
    audio = torch.randn(1, 4096) * 0.1
    with torch.no_grad():
        torch.testing.assert_close(gen(audio), gen2(audio))
    assert torch.equal(gen.backbone.embed.weight, state["generator.backbone.embed.weight"])


def test_rerun_resumes_from_last_checkpoint(tiny_cfg):
    train(tiny_cfg("trainer.max_steps=4"))
    cfg = tiny_cfg("trainer.max_steps=8")
    train(cfg)
    ckpt = load_checkpoint(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    assert ckpt["global_step"] == 8
    sched_g = ckpt["lr_schedulers"][0]
    assert sched_g["last_epoch"] == 4  # 2 + 2 iterations, counted across the restart


def test_corrupt_last_checkpoint_names_the_previous_good_one(tiny_cfg):
    import pytest

    from vocoder_train.io.checkpoint import CheckpointError

    cfg = tiny_cfg("trainer.max_steps=4")
    train(cfg)
    ckpts = Path(cfg.paths.output_dir) / "checkpoints"
    best = next(ckpts.glob("best-step*.ckpt"))
    (ckpts / "last.ckpt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match=f"resume with ckpt_path={best}"):
        train(tiny_cfg("trainer.max_steps=8"))


def test_ema_is_validated_checkpointed_and_loadable(tiny_cfg):
    cfg = tiny_cfg("callbacks=ema", "callbacks.ema.decay=0.5", "callbacks.progress_bar=null")
    train(cfg)
    path = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    ckpt = load_checkpoint(path)
    ema = ckpt["vocoder_train"]["ema_generator"]
    raw = {k[len("generator.") :]: v for k, v in ckpt["state_dict"].items() if k.startswith("generator.")}
    assert ema.keys() == raw.keys()
    assert any(not torch.equal(ema[k], raw[k]) for k in raw)  # averaged, not a copy
    gen, _ = load_generator(path, ema=True)
    assert torch.equal(gen.backbone.embed.weight, ema["backbone.embed.weight"])


def test_progress_bar_shows_eta_and_phase(tiny_cfg):
    from vocoder_train.training.callbacks import ProgressBar, format_duration

    bar = ProgressBar(refresh_rate=1)
    seen = {}

    class Spy(pl.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            seen.update(bar.get_metrics(trainer, module))

    train(
        tiny_cfg(
            "model.optim.pretrain_mel_steps=2",
            "callbacks.progress_bar=null",
            "trainer.enable_progress_bar=true",
        ),
        callbacks=[bar, Spy()],
    )
    assert seen["phase"] == "gan" and seen["eta"].endswith("s")
    assert format_duration(3725) == "1h02m" and format_duration(65) == "1m05s"


def test_time_budget_switches_phase_by_time_and_decays_lr(tiny_cfg):
    cfg = tiny_cfg(
        "model.optim.time_budget=true",
        "model.optim.pretrain_mel_fraction=0.4",
        "model.optim.min_lr_ratio=0.0",
        "trainer.max_steps=-1",
        "trainer.max_time=00:00:00:12",
        "trainer.val_check_interval=20",
        "validation.metrics=[]",
    )
    phases, lrs = [], []

    class Spy(pl.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            phases.append("d_total" in outputs)
            lrs.append(module.optimizers()[0].param_groups[0]["lr"])

    train(cfg, callbacks=[Spy()])
    assert phases[0] is False and phases[-1] is True  # mel-only first, GAN at the end
    first_gan = phases.index(True)
    assert all(phases[first_gan:])  # the switch is latched
    assert lrs[-1] < 0.5 * max(lrs)  # cosine over the time budget
    ckpt = load_checkpoint(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    assert ckpt["vocoder_train"]["mel_end_iteration"] == first_gan


def test_time_budget_too_short_for_gan_stays_mel_only(tiny_cfg):
    cfg = tiny_cfg(
        "model.optim.time_budget=true",
        "model.optim.pretrain_mel_fraction=0.3",
        "model.optim.min_gan_seconds=3600",
        "trainer.max_steps=-1",
        "trainer.max_time=00:00:00:06",
        "trainer.val_check_interval=20",
        "validation.metrics=[]",
    )
    phases = []

    class Spy(pl.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            phases.append(module.phase())

    train(cfg, callbacks=[Spy()])
    assert len(phases) > 3 and set(phases) == {"mel"}
    ckpt = load_checkpoint(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    assert ckpt["vocoder_train"]["mel_end_iteration"] is None


def test_val_utmos_from_local_weights(tiny_cfg, tmp_path):
    class FakeMOS(torch.nn.Module):
        def forward(self, wav: torch.Tensor) -> torch.Tensor:
            return 1.0 + 4.0 * wav.abs().mean(dim=-1) / (wav.abs().amax(dim=-1) + 1e-9)

    path = tmp_path / "utmos.pt"
    torch.jit.script(FakeMOS()).save(str(path))
    metrics = train(
        tiny_cfg(
            f"validation.utmos={path}",
            "trainer.max_steps=4",
            "callbacks.model_checkpoint.monitor=val/utmos",
            "callbacks.model_checkpoint.mode=max",
        )
    )
    assert 1.0 < metrics["val/utmos"] < 5.0


def test_precision_auto_follows_native_bf16(tiny_cfg, monkeypatch):
    import vocoder_train.hardware as hardware
    from vocoder_train.training.run import resolve_precision

    assert resolve_precision(tiny_cfg()) is None  # an explicit precision is left alone
    cfg = tiny_cfg("trainer.precision=auto")
    monkeypatch.setattr(hardware, "bf16_matmul_is_fast", lambda device="cpu": False)
    assert resolve_precision(cfg) == "32-true"
    monkeypatch.setattr(hardware, "bf16_matmul_is_fast", lambda device="cpu": True)
    assert resolve_precision(cfg) == "bf16-mixed"
    seen = []

    class Spy(pl.Callback):
        def on_train_start(self, trainer, module):
            seen.append(trainer.precision)

    train(
        tiny_cfg("trainer.precision=auto", "trainer.max_steps=2", "validation.metrics=[]"), callbacks=[Spy()]
    )
    assert seen == ["bf16-mixed"]
