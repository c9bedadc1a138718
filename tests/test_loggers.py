"""logger=tensorboard|csv|wandb, alone or as a list: every one gets the scalars and the media."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from vocoder_train.training.run import train

FAST = ("trainer.max_steps=4", "trainer.val_check_interval=1", "validation.metrics=[]")  # 2 validations
SCALARS = ("train/g_mel", "train/d_mpd", "train/lr_g", "val/mel_l1", "perf/samples_per_s")


def test_logger_groups_compose_alone_and_as_a_list(tiny_cfg):
    assert list(tiny_cfg("logger=csv").logger) == ["csv"]
    assert list(tiny_cfg("logger=wandb").logger) == ["wandb"]
    assert list(tiny_cfg("logger=[tensorboard,csv]").logger) == ["tensorboard", "csv"]


def test_tensorboard_and_csv_together_get_scalars_and_media(tiny_cfg):
    cfg = tiny_cfg("logger=[tensorboard,csv]", *FAST)
    train(cfg)
    run = Path(cfg.paths.output_dir)

    with open(run / "csv" / "version_0" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for name in SCALARS:
        assert any(r.get(name) for r in rows), name
    media = run / "csv" / "version_0" / "media" / "val"
    for tag in ("audio_0/target", "audio_0/prediction", "audio_1/prediction"):
        assert list((media / tag).glob("step_*.wav")), tag
    assert len(list((media / "audio_0" / "prediction").glob("step_*.wav"))) == 2  # each validation
    assert len(list((media / "audio_0" / "target").glob("step_*.wav"))) == 1  # the target once
    assert list((media / "mel_0").glob("step_*.png"))

    ea = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0, "audio": 0, "scalars": 0})
    ea.Reload()
    tags = ea.Tags()
    assert set(SCALARS) <= set(tags["scalars"])
    assert "val/audio_0/prediction" in tags["audio"] and "val/mel_0" in tags["images"]

    # one step axis: optimizer steps (trainer.global_step) for scalars, media and checkpoint names
    val_steps = [e.step for e in ea.Scalars("val/mel_l1")]
    assert val_steps == [e.step for e in ea.Audio("val/audio_0/prediction")]
    assert [e.step for e in ea.Scalars("train/g_mel")][-1] == 4 == val_steps[-1]  # 4 optimizer steps
    assert f"best-step{val_steps[0]:08d}.ckpt" in {
        p.name for p in (run / "checkpoints").iterdir()
    } or f"best-step{val_steps[1]:08d}.ckpt" in {p.name for p in (run / "checkpoints").iterdir()}
    assert "step" not in tags["scalars"]


def test_wandb_offline_gets_scalars_and_media(tiny_cfg, tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    for var, sub in (
        ("WANDB_DIR", "wandb"),
        ("WANDB_CACHE_DIR", "cache"),
        ("WANDB_CONFIG_DIR", "config"),
        ("WANDB_DATA_DIR", "data"),
    ):
        monkeypatch.setenv(var, str(tmp_path / "wandb_home" / sub))
    monkeypatch.setenv(
        "WANDB_MODE", "offline"
    )  # the logger sets it too (offline: true); restored after the test
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = tiny_cfg("logger=wandb", *FAST)
    train(cfg)
    assert wandb.run is None, "the run ends with the fit: the next train() in this process starts its own"

    (run_dir,) = (Path(cfg.paths.output_dir) / "wandb").glob("offline-run-*")
    media = run_dir / "files" / "media"
    audio = list((media / "audio" / "val").rglob("*.wav"))
    images = list((media / "images" / "val").rglob("mel_*.png"))
    assert len(audio) == 2 * 2 + 2 and len(images) == 2 * 2  # 2 validations x 2 items (+ the targets once)
    # W&B's service process writes the run log that `wandb sync` uploads (plain protobuf records) and may
    # still hold the last of it in a buffer after the run ends; teardown waits for it to exit, as the end
    # of a training process does
    wandb.teardown()
    (records,) = run_dir.glob("*.wandb")
    data = records.read_bytes()
    for name in (*SCALARS, "val/audio_0/prediction", "val/mel_0"):
        assert name.encode() in data, name


def test_media_files_for_any_front_end(tiny_cfg, tmp_path):
    """The media need only the mel loss, so a generator without vocos' mel front end logs them too."""
    from types import SimpleNamespace

    import torch
    from pytorch_lightning.loggers import CSVLogger

    from vocoder_train.training.media import MediaLogger
    from vocoder_train.training.run import build_module

    module = build_module(
        tiny_cfg(
            "model/generator=vocos_hifigan_frontend",
            "model.generator.backbone.dim=16",
            "model.generator.backbone.intermediate_dim=32",
            "model.generator.backbone.num_layers=1",
        )
    )
    logger = CSVLogger(tmp_path, name="csv")
    trainer = SimpleNamespace(loggers=[logger], sanity_checking=False, global_step=3)
    audio = 0.1 * torch.randn(3, 4096)
    media = MediaLogger(num_samples=2)
    media.on_validation_epoch_start(trainer, module)
    media.on_validation_batch_end(trainer, module, {"audio": audio, "audio_hat": 0.5 * audio}, {}, 0)
    folder = Path(logger.log_dir) / "media" / "val"
    written = sorted(str(p.relative_to(folder)) for p in folder.rglob("step_*"))
    assert written == [
        "audio_0/prediction/step_00000003.wav",
        "audio_0/target/step_00000003.wav",
        "audio_1/prediction/step_00000003.wav",
        "audio_1/target/step_00000003.wav",
        "mel_0/step_00000003.png",
        "mel_1/step_00000003.png",
    ]
