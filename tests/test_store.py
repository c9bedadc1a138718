"""The model store: every kind loads to the same vocoder, stored configs are checked and upgraded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from tests.helpers.audio import tone
from vocoder_train.io.checkpoint import load_checkpoint
from vocoder_train.models.export import export
from vocoder_train.models.store import MODEL_FILES, load_generator, model_kind, read_config, read_weights
from vocoder_train.models.stored_config import MOVED_MODULES, ModelError, upgrade_config
from vocoder_train.models.vocoder import load_vocoder

KINDS = ("vocos", "safetensors", "torchscript", "onnx")


@pytest.fixture(scope="module")
def exports(tiny_checkpoint, tmp_path_factory) -> dict[str, Path]:
    """The tiny checkpoint and a vocoder-export folder of it in every format."""
    root = tmp_path_factory.mktemp("exports")
    out = {"checkpoint": tiny_checkpoint}
    for fmt in KINDS:
        export(tiny_checkpoint, root / fmt, fmt)
        out[fmt] = root / fmt
    return out


def _mel(frames: int = 30) -> torch.Tensor:
    return torch.randn(1, 32, frames, generator=torch.Generator().manual_seed(0)) - 3


def test_every_kind_loads_to_the_same_vocoder(exports):
    ref = load_vocoder(exports["checkpoint"])
    audio = tone(16000, 0.4, 180.0)
    want_audio, want_mel = ref.decode(_mel()), ref.features(audio)
    for kind in KINDS:
        v = load_vocoder(exports[kind])
        assert (v.kind, v.sample_rate, v.hop_length, v.n_mels) == (kind, 16000, 64, 32)
        torch.testing.assert_close(
            v.features(audio), want_mel, atol=1e-5, rtol=0
        )  # graph kinds build the front end
        assert (v.decode(_mel()) - want_audio).abs().max() < 1e-4, kind
        assert v.copy_synthesis(audio).shape == audio.shape


def test_model_kind_by_name_and_folder(exports, tmp_path):
    for kind in KINDS:
        assert model_kind(exports[kind]) == (kind, exports[kind] / MODEL_FILES[kind])
        assert model_kind(exports[kind] / MODEL_FILES[kind])[0] == kind
    assert model_kind(exports["checkpoint"])[0] == "checkpoint"
    with pytest.raises(FileNotFoundError, match="no model in this folder"):
        model_kind(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such model file"):
        model_kind(tmp_path / "nope.ckpt")


def test_safetensors_file_alone_carries_its_config(exports, tmp_path):
    alone = tmp_path / "g.safetensors"
    shutil.copy(exports["safetensors"] / MODEL_FILES["safetensors"], alone)
    v = load_vocoder(alone)
    assert v.sample_rate == 16000 and v.kind == "safetensors"
    assert read_config(alone) == read_config(exports["vocos"])


def test_weights_generator_and_ema(exports):
    weights = read_weights(exports["checkpoint"])
    assert weights.kind == "checkpoint" and weights.discriminators and weights.ema_generator
    gen, sr = load_generator(exports["checkpoint"], ema=True)
    assert sr == 16000
    assert all(torch.equal(gen.state_dict()[k], v) for k, v in weights.ema_generator.items())
    ema, raw = load_vocoder(exports["checkpoint"], ema=True), load_vocoder(exports["checkpoint"])
    assert not torch.equal(ema.decode(_mel()), raw.decode(_mel()))
    for kind in ("vocos", "onnx"):
        with pytest.raises(ModelError, match="EMA weights come from a training checkpoint"):
            load_vocoder(exports[kind], ema=True)
    with pytest.raises(ModelError, match="traced graph without PyTorch weights"):
        read_weights(exports["torchscript"])


def _with_generator_target(ckpt_path: Path, tmp_path: Path, part: str, target: str) -> Path:
    ckpt = load_checkpoint(ckpt_path)
    ckpt["vocoder_train"]["config"]["model"]["generator"][part]["_target_"] = target
    out = tmp_path / "edited.ckpt"
    torch.save(ckpt, out)
    return out


def test_moved_modules_are_read_through_the_alias_map(exports, tmp_path, monkeypatch):
    # a checkpoint naming a head by a module that moved loads the class from its new module
    old = _with_generator_target(
        exports["checkpoint"], tmp_path, "head", "vocoder_train.models.old_heads.ISTFTHead"
    )
    with pytest.raises(
        ModelError,
        match=r"model\.generator\.head\._target_=vocoder_train\.models\.old_heads\.ISTFTHead "
        r"cannot be imported.*MOVED_MODULES",
    ):
        load_vocoder(old)
    monkeypatch.setitem(MOVED_MODULES, "vocoder_train.models.old_heads", "vocos.heads")
    stored = {
        "callbacks": {"ema": {"_target_": "vocoder_train.training.callbacks.GeneratorEMA"}},
        "model": {
            "generator": {"head": {"class_path": "vocoder_train.models.old_heads.ISTFTHead", "n_fft": 256}},
        },
    }
    up = upgrade_config(stored)
    assert up["callbacks"] == stored["callbacks"]
    assert up["model"]["generator"]["head"] == {"class_path": "vocos.heads.ISTFTHead", "n_fft": 256}
    assert (
        load_vocoder(old).decode(_mel()) - load_vocoder(exports["checkpoint"]).decode(_mel())
    ).abs().max() == 0


def test_a_stored_config_cannot_call_arbitrary_functions(exports, tmp_path):
    evil = _with_generator_target(exports["checkpoint"], tmp_path, "head", "os.system")
    with pytest.raises(
        ModelError, match=r"model\.generator\.head\._target_='os\.system' is not a class of vocos"
    ):
        load_vocoder(evil)
    folder = tmp_path / "evil_vocos"
    shutil.copytree(exports["vocos"], folder)
    text = (
        (folder / "config.yaml")
        .read_text()
        .replace("vocos.heads.ISTFTHead", "vocoder_train.io.audio.save_audio")
    )
    (folder / "config.yaml").write_text(text)
    with pytest.raises(
        ModelError, match=r"head\.class_path=vocoder_train\.io\.audio\.save_audio is not a torch\.nn\.Module"
    ):
        load_vocoder(folder)


def test_not_a_vocoder_train_checkpoint_is_named(tmp_path):
    p = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}}, p)
    with pytest.raises(ModelError, match="other.ckpt: not a vocoder_train checkpoint"):
        load_vocoder(p)
