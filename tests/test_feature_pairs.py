"""Precomputed features: vocoder-prepare --features, training with experiment=features (data=feature_pairs,
model/generator=features), resuming, export and synthesis from .npy; the config checks that refuse what
does not fit. One tiny training run, shared by the tests through module-scoped fixtures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers.audio import tone
from vocoder_train.cli import export as export_cli
from vocoder_train.cli import prepare as prepare_cli
from vocoder_train.cli import synthesize as synthesize_cli
from vocoder_train.data.manifest import read_manifest
from vocoder_train.io.audio import save_audio

SR, RATE, HOP, C = 16000, 50, 320, 24  # 50 Hz features at 16 kHz: a hop of 320 samples
# A fixed random projection of a log spectrogram (one frame per hop): features that carry the audio
PROJECTION = torch.randn(HOP // 2 + 1, C, generator=torch.Generator().manual_seed(0)) / math.sqrt(HOP // 2)


def features_of(audio: torch.Tensor) -> np.ndarray:
    """(C, T // HOP): frame f from the samples [f * HOP, (f + 1) * HOP)."""
    frames = audio[: audio.numel() // HOP * HOP].reshape(-1, HOP) * torch.hann_window(HOP)
    return (torch.log(torch.fft.rfft(frames).abs() + 1e-4) @ PROJECTION).T.contiguous().numpy()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> dict:
    """A 16 kHz corpus with 50 Hz features (one with 25 channels, one a frame short), through
    vocoder-prepare --features."""
    root = tmp_path_factory.mktemp("feature_pairs")
    corpus, feats = root / "corpus", root / "feats"
    feats.mkdir()
    for i, (name, seconds) in enumerate({"a": 1.2, "b": 1.0, "c": 1.4, "d": 0.9, "wide": 1.0}.items()):
        audio = tone(SR, seconds, 120.0 + 35 * i, seed=i)
        save_audio(corpus / f"{name}.wav", audio, SR)
        x = features_of(audio[0])
        if name == "c":
            x = x[:, :-1]  # off by one: within data.max_frame_mismatch
        if name == "wide":
            x = np.concatenate([x, x[:1]])  # 25 channels
        np.save(feats / f"{name}.npy", x)
    out = root / "data"
    argv = [str(corpus), "--features", str(feats), "--frame-rate", str(RATE), "--sample-rate", str(SR)]
    code = prepare_cli.main([*argv, "-o", str(out), "--val-fraction", "0.25", "--no-progress"])
    return dict(root=root, corpus=corpus, feats=feats, out=out, argv=argv, code=code)


def test_prepare_pairs_features_and_rejects_another_channel_count(prepared, capsys):
    out = prepared["out"]
    assert prepared["code"] == 0
    items = {Path(x["path"]).stem: x for s in ("train", "val") for x in read_manifest(out / f"{s}.jsonl")}
    assert set(items) == {"a", "b", "c", "d"}
    assert items["a"]["features"] == str((prepared["feats"] / "a.npy").resolve())
    assert items["a"]["frame_rate"] == RATE and items["a"]["features_frames"] == int(1.2 * SR) // HOP
    assert items["c"]["features_frames"] == int(1.4 * SR) // HOP - 1  # off by one: accepted
    (wide,) = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    assert wide["reason"] == "features_channels" and wide["features"].endswith("wide.npy")
    assert "25 feature channels, the other feature files have 24" in wide["message"]
    settings = json.loads((out / "report.json").read_text())["settings"]
    assert settings["channels"] == C and settings["hop_length"] == HOP and settings["frame_rate"] == RATE
    # a frame rate that is not a whole hop at the sample rate: one line with both numbers, nothing written
    bad = prepared["argv"][:4] + ["75", *prepared["argv"][5:]]
    assert prepare_cli.main([*bad, "-o", str(prepared["root"] / "bad"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--frame-rate 75 / --sample-rate 16000" in err and "213.333" in err
    assert "80 Hz (hop 200)" in err and not (prepared["root"] / "bad").exists()


def _compose(prepared: dict, *extra: str):
    from hydra import compose, initialize_config_dir

    from vocoder_train.config import CONFIG_DIR

    out = prepared["out"]
    overrides = [
        "experiment=features",
        f"audio.sample_rate={SR}",
        f"data.frame_rate={RATE}",
        f"data.channels={C}",
        f"data.train={out / 'train.jsonl'}",
        f"data.val={out / 'val.jsonl'}",
        f"paths.runs_dir={prepared['root'] / 'runs'}",
        # the tiny experiment's sizes: a dim-32 generator, narrow discriminators, short crops, no workers
        "audio.n_mels=32",
        f"audio.segment_length={16 * HOP}",
        f"data.val_segment_length={16 * HOP}",
        "model.generator.backbone.dim=32",
        "model.generator.backbone.intermediate_dim=64",
        "model.generator.backbone.num_layers=2",
        "model/discriminator=tiny",
        "trainer=tiny",
        "data.batch_size=2",
        "data.val_batch_size=2",
        "data.num_workers=0",
        "data.persistent_workers=false",
        "validation.metrics=[]",
        "callbacks.progress_bar=null",
        *extra,
    ]
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=overrides)


@pytest.fixture(scope="module")
def trained(prepared) -> dict:
    """4 optimizer steps of experiment=features, then the same command to 6 steps (a resume)."""
    import pytorch_lightning as pl

    from vocoder_train.training.run import train

    class Spy(pl.Callback):
        def __init__(self):
            self.shapes, self.steps = [], []

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.shapes.append(tuple(batch["features"].shape))
            self.steps.append(trainer.global_step)

    first, second = Spy(), Spy()
    cfg = _compose(prepared, "trainer.max_steps=4")
    metrics = train(cfg, callbacks=[first])
    resumed = train(_compose(prepared, "trainer.max_steps=6"), callbacks=[second])
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    return dict(cfg=cfg, metrics=metrics, resumed=resumed, first=first, second=second, ckpt=ckpt)


def test_training_synthesizes_from_the_batches_features_and_resumes(trained):
    cfg = trained["cfg"]
    assert cfg.audio.hop_length == HOP and cfg.model.generator.head.n_fft == 4 * HOP
    assert cfg.model.generator.backbone.input_channels == C and cfg.data.features is True
    assert trained["first"].shapes and set(trained["first"].shapes) == {(2, C, 16)}
    assert np.isfinite(trained["metrics"]["val/mel_l1"])
    assert trained["second"].steps[0] == 4 and max(trained["second"].steps) < 6  # went on from last.ckpt
    assert torch.load(trained["ckpt"], weights_only=True)["global_step"] == 6


def test_config_checks_refuse_what_does_not_fit(prepared):
    from vocoder_train.config.checks import ConfigError
    from vocoder_train.training.run import check_run_config

    def problems(*extra: str) -> list[str]:
        with pytest.raises(ConfigError) as e:
            check_run_config(_compose(prepared, *extra))
        return e.value.problems

    hop, manifest = problems("data.frame_rate=75")  # not a whole hop, and the manifests say 50 Hz
    assert hop.startswith("audio.hop_length=${frame_hop:") and "213.333 samples per frame" in hop
    assert manifest.startswith("data.frame_rate=75, but ") and "prepared with --frame-rate 50" in manifest
    (line,) = problems("data.channels=32", "model.generator.backbone.input_channels=32")
    assert "24 feature channels, data.channels is 32 (the first file of data.val)" in line
    (line,) = problems("model.generator.head.hop_length=256")
    assert line.startswith("model.generator.head hop 256 != feature_extractor.hop_length=320")
    (line,) = problems("audio.hop_length=160")
    assert "data.frame_rate=50 Hz is a hop of 320 samples" in line and "set audio.hop_length=320" in line
    (line,) = problems("data.features=false")
    assert "PrecomputedFeatures synthesizes from features that come with the data" in line


@pytest.mark.parametrize("fmt", ["vocos", "safetensors", "onnx"])
def test_export_takes_features_and_matches_the_training_model(trained, tmp_path, fmt, capsys):
    from vocoder_train.models.store import load_generator
    from vocoder_train.models.vocoder import load_vocoder

    out = tmp_path / fmt
    assert export_cli.main([str(trained["ckpt"]), "-o", str(out), "-f", fmt]) == 0
    assert "max abs diff" in capsys.readouterr().out
    gen, _ = load_generator(trained["ckpt"])
    loaded = load_vocoder(out, engine="eager")
    assert not loaded.takes_audio and loaded.n_mels == C and loaded.hop_length == HOP
    if fmt == "onnx":
        assert loaded.session.get_inputs()[0].name == "features"
    x = torch.randn(1, C, 41, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        ref = gen.synthesize(x)
    got = loaded.decode(x)
    assert got.shape == ref.shape == (1, 41 * HOP) and (got - ref).abs().max().item() <= 1e-4


def test_synthesize_from_npy_checks_the_channel_count(trained, prepared, tmp_path, capsys):
    src = prepared["feats"]
    out = tmp_path / "out"
    inputs = [src / "a.npy", src / "wide.npy", prepared["corpus"] / "b.wav"]
    code = synthesize_cli.main([str(trained["ckpt"]), *map(str, inputs), "-o", str(out), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1 and "24-channel features (.npy)" in captured.out
    assert "wide.npy: 25 feature channels, the model takes 24" in captured.err
    assert "b.wav: this model synthesizes from precomputed features" in captured.err
    from vocoder_train.io.audio import load_audio

    audio, sr = load_audio(out / "a.wav")
    assert sr == SR and audio.shape[-1] == np.load(src / "a.npy").shape[1] * HOP
    assert not (out / "wide.wav").exists() and not (out / "b.wav").exists()


def test_the_front_end_computes_nothing_from_audio():
    from vocoder_train.models.frontends import FeaturesComeWithTheInput, PrecomputedFeatures

    fe = PrecomputedFeatures(C, HOP)
    assert PrecomputedFeatures.frame_layout({"hop_length": HOP, "channels": C}) == (HOP, C)
    with pytest.raises(FeaturesComeWithTheInput, match="come with the data .* or the input"):
        fe(torch.zeros(1, SR))
    assert fe.example(7).shape == (1, C, 7) and not list(fe.parameters())
