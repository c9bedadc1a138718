"""Teacher-forced (audio, mel) pairs: frame counts, alignment, reconciliation, rejection, training."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from vocos.feature_extractors import MelSpectrogramFeatures

from tests.helpers.audio import tone
from vocoder_train.data.loaders import VocoderData
from vocoder_train.data.options import Crops, Loaders, Loading, MelPairs
from vocoder_train.data.pair_dataset import MelPairDataset, PairMismatchError, load_features
from vocoder_train.dsp import expected_frames
from vocoder_train.io.audio import load_audio, save_audio

SR, HOP, N_FFT, N_MELS = 16000, 64, 256, 32  # the tiny experiment's front-end


def _features(audio: torch.Tensor) -> np.ndarray:
    fe = MelSpectrogramFeatures(SR, N_FFT, HOP, N_MELS, padding="center")
    with torch.no_grad():
        return fe(audio.unsqueeze(0))[0].numpy()


def make_pairs(root: Path, specs: dict[str, tuple[float, int]], noise: float = 0.05) -> list[dict]:
    """Writes root/<name>.wav and root/mels/<name>.npy: mel of the audio + noise, with ``extra`` frames
    (negative: fewer). spec: name -> (seconds, extra frames)."""
    items = []
    for i, (name, (seconds, extra)) in enumerate(specs.items()):
        wav = root / f"{name}.wav"
        save_audio(wav, tone(SR, seconds, 150.0 + 30 * i, seed=i), SR)
        audio = load_audio(wav)[0][0]
        mel = _features(audio)
        mel = mel + noise * np.random.default_rng(i).standard_normal(mel.shape).astype(np.float32)
        mel = (
            mel[:, : mel.shape[1] + extra]
            if extra < 0
            else np.concatenate([mel, mel[:, -extra:]], 1)
            if extra
            else mel
        )
        (root / "mels").mkdir(exist_ok=True, parents=True)
        np.save(root / "mels" / f"{name}.npy", mel[None] if i % 2 else mel)  # both accepted shapes
        items.append({"path": str(wav), "mel": str(root / "mels" / f"{name}.npy")})
    return items


def write_jsonl(path: Path, items: list[dict]) -> str:
    path.write_text("".join(json.dumps(x) + "\n" for x in items))
    return str(path)


@pytest.mark.parametrize("padding", ["center", "same"])
def test_expected_frames_matches_the_feature_extractor(padding):
    fe = MelSpectrogramFeatures(SR, N_FFT, HOP, N_MELS, padding=padding)
    for n in (N_FFT, 1000, 4096, 4097, 4159, 7777):
        assert fe(torch.zeros(1, n)).shape[-1] == expected_frames(n, HOP, N_FFT, padding), n


def test_training_crops_are_frame_aligned_with_their_mel(tmp_path):
    items = make_pairs(tmp_path, {"a": (0.6, 0)}, noise=0.0)
    ds = MelPairDataset(items, SR, 16, HOP, N_MELS, n_fft=N_FFT, train=True)
    full_audio = load_audio(items[0]["path"])[0][0]
    full_mel = load_features(items[0]["mel"])
    starts = set()
    for seed in range(6):
        item = ds[(0, seed)]
        assert item["audio"].shape == (16 * HOP,) and item["features"].shape == (N_MELS, 16)
        assert item["frames_fixed"] == 0 and item["skipped"] == 0
        # where the crop is in the file: a multiple of the hop, and the mel is that frame range
        pos = [
            s
            for s in range(0, full_audio.numel() - 16 * HOP + 1, HOP)
            if torch.equal(full_audio[s : s + 16 * HOP], item["audio"])
        ]
        assert len(pos) == 1
        frames = full_mel[:, pos[0] // HOP : pos[0] // HOP + 16]
        np.testing.assert_array_equal(item["features"].numpy(), frames)
        starts.add(pos[0])
    assert len(starts) > 1  # random crops
    assert torch.equal(ds[(0, 3)]["audio"], ds[(0, 3)]["audio"])  # seeded
    # no gain change: the audio is the file's own level
    assert item["audio"].abs().max() <= full_audio.abs().max() + 1e-6


def test_validation_item_is_the_first_segment_and_short_files_repeat(tmp_path):
    items = make_pairs(tmp_path, {"a": (0.6, 0), "short": (0.05, 0)}, noise=0.0)
    ds = MelPairDataset(items, SR, 32, HOP, N_MELS, n_fft=N_FFT, train=False)
    item = ds[0]
    np.testing.assert_array_equal(item["features"].numpy(), load_features(items[0]["mel"])[:, :32])
    torch.testing.assert_close(item["audio"], load_audio(items[0]["path"])[0][0][: 32 * HOP])
    short = ds[1]  # 800 samples = 12 whole frames, repeated to 32
    assert short["audio"].shape == (32 * HOP,) and short["features"].shape == (N_MELS, 32)
    np.testing.assert_array_equal(short["features"][:, 12:24].numpy(), short["features"][:, :12].numpy())


def test_off_by_one_frame_is_reconciled_with_one_counted_warning(tmp_path, caplog):
    items = make_pairs(tmp_path, {"fewer": (0.5, -1), "more": (0.5, 1)})
    ds = MelPairDataset(
        items, SR, 8, HOP, N_MELS, n_fft=N_FFT, train=False
    )  # first 8 frames: no padding visible
    with caplog.at_level(logging.WARNING, logger="vocoder_train.data.pair_dataset"):
        for _ in range(3):
            assert ds[0]["frames_fixed"] == 1 and ds[1]["frames_fixed"] == 1
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2  # once per file, not per read
    assert "fewer.npy" in warnings[0] and "padded 1" in warnings[0]
    assert "more.npy" in warnings[1] and "trimmed 1" in warnings[1]
    assert ds.fixed_files == {items[0]["path"]: -1, items[1]["path"]: 1}
    # the padded file's last frame is repeated: a crop at the very end still has a whole mel
    long_ds = MelPairDataset(
        items, SR, 125, HOP, N_MELS, n_fft=N_FFT, train=True
    )  # 8000 samples -> 125 whole frames
    m = long_ds[(0, 0)]["features"].numpy()
    assert m.shape == (N_MELS, 125) and np.isfinite(m).all()


def test_off_by_ten_frames_is_skipped_naming_the_file(tmp_path):
    items = make_pairs(tmp_path, {"good": (0.5, 0), "bad": (0.5, -10)})
    ds = MelPairDataset(items, SR, 8, HOP, N_MELS, n_fft=N_FFT, train=True)
    with pytest.raises(PairMismatchError, match=r"bad\.npy: 116 mel frames, but .*bad\.wav gives 126 frames"):
        ds._load(items[1], __import__("random").Random(0))
    item = ds[(1, 0)]
    assert item["skipped"] == 1 and item["skipped_path"] == items[1]["path"] and item["index"] == 0
    assert item["features"].shape == (N_MELS, 8)


def test_wrong_bins_and_missing_mel_are_skipped(tmp_path):
    items = make_pairs(tmp_path, {"good": (0.5, 0), "bins": (0.5, 0), "gone": (0.5, 0)})
    np.save(items[1]["mel"], np.zeros((N_MELS + 1, 126), np.float32))
    Path(items[2]["mel"]).unlink()
    ds = MelPairDataset(items, SR, 8, HOP, N_MELS, n_fft=N_FFT, train=True)
    for i in (1, 2):
        assert ds[(i, 0)]["skipped"] == 1 and ds[(i, 0)]["index"] == 0


def test_datamodule_counts_reconciled_items_and_batches_carry_mels(tmp_path):
    items = make_pairs(tmp_path, {"a": (0.5, 1), "b": (0.6, 0), "c": (0.4, 0)})
    manifest = write_jsonl(tmp_path / "pairs.jsonl", items)
    dm = VocoderData(
        manifest,
        manifest,
        Loading(SR),
        Crops(16 * HOP, 16 * HOP),
        Loaders(batch_size=3, val_batch_size=3, num_workers=0),
        mels=MelPairs(hop_length=HOP, n_fft=N_FFT, n_mels=N_MELS),
    )
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["audio"].shape == (3, 16 * HOP) and batch["features"].shape == (3, N_MELS, 16)
    assert int(batch["frames_fixed"].sum()) == 1  # counted by vocoder_train.training.callbacks.DataHealth
    with pytest.raises(ValueError, match="not a multiple of data.hop_length"):
        VocoderData(manifest, manifest, Loading(SR), Crops(1000, 16 * HOP), mels=MelPairs(hop_length=HOP))


def test_plain_manifest_is_refused_for_mels(tmp_path):
    from vocoder_train.data.manifest import ManifestError

    items = make_pairs(tmp_path, {"a": (0.5, 0)})
    manifest = write_jsonl(tmp_path / "plain.jsonl", [{"path": items[0]["path"]}])
    dm = VocoderData.from_config(
        train=manifest,
        val=manifest,
        sample_rate=SR,
        segment_length=16 * HOP,
        val_segment_length=16 * HOP,
        mels=True,
        hop_length=HOP,
        n_mels=N_MELS,
    )
    with pytest.raises(ManifestError, match="has no 'mel' key"):
        dm.setup("fit")


def test_tiny_training_run_on_mel_pairs(tmp_path):
    from hydra import compose, initialize_config_dir

    from vocoder_train.config import CONFIG_DIR
    from vocoder_train.training.run import train

    train_items = make_pairs(tmp_path / "train", {f"t{i}": (0.5 + 0.1 * i, (0, 1, -2)[i]) for i in range(3)})
    val_items = make_pairs(tmp_path / "val", {"v0": (0.5, 0), "v1": (0.4, -1)})
    overrides = [
        "experiment=tiny",
        f"data.train={write_jsonl(tmp_path / 'train.jsonl', train_items)}",
        f"data.val={write_jsonl(tmp_path / 'val.jsonl', val_items)}",
        f"paths.runs_dir={tmp_path / 'runs'}",
        "data.mels=true",
        "data.gain_db=[0.0,0.0]",  # = data=mel_pairs on top of data=tiny
        "trainer.max_steps=4",
        "validation.metrics=[]",
    ]
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    assert cfg.data.mel_padding == "center" and cfg.data.hop_length == HOP and cfg.data.n_mels == N_MELS
    import pytorch_lightning as pl

    seen = []

    class Spy(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen.append(tuple(batch["features"].shape))

    metrics = train(cfg, callbacks=[Spy()])
    assert seen and all(s == (2, N_MELS, 4096 // HOP) for s in seen)  # the generator was fed the given mels
    assert np.isfinite(metrics["val/mel_l1"])
    assert (Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt").is_file()


def test_mel_pairs_config_composes():
    from hydra import compose, initialize_config_dir

    from vocoder_train.config import CONFIG_DIR

    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["data=mel_pairs", "data.train=x", "data.val=y"])
    assert cfg.data.mels is True and cfg.data.augment is None and list(cfg.data.gain_db) == [0.0, 0.0]
    assert cfg.data.hop_length == 256 and cfg.data.n_mels == 100 and cfg.data.mel_padding == "center"
