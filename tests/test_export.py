"""vocoder-export: every format reloads and matches the training model; the real-op ISTFT equals vocos'."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import yaml
from vocos.spectral_ops import ISTFT

from tests.helpers.audio import tone
from vocoder_train.cli.export import main
from vocoder_train.io.checkpoint import load_checkpoint, safetensors_metadata
from vocoder_train.models.export import export
from vocoder_train.models.inference.exportable import ExportableVocos, RealISTFT, UnsupportedForExport
from vocoder_train.models.store import load_generator
from vocoder_train.models.vocoder import load_vocoder

TOL = 1e-4


def _tone(sr: int, seconds: float, f0: float) -> torch.Tensor:
    return tone(sr, seconds, f0)


@pytest.fixture(scope="module")
def trained(tiny_checkpoint) -> Path:
    """The shared tiny checkpoint (tests/conftest.py)."""
    return tiny_checkpoint


def _mel(gen, frames: int = 23) -> torch.Tensor:
    return (
        torch.randn(1, gen.backbone.embed.in_channels, frames, generator=torch.Generator().manual_seed(1)) - 3
    )


@pytest.mark.parametrize("fmt", ["vocos", "safetensors", "torchscript", "onnx"])
def test_export_reloads_and_matches_the_training_model(trained, tmp_path, fmt, capsys):
    out = tmp_path / fmt
    assert main([str(trained), "--output", str(out), "--format", fmt]) == 0
    printed = capsys.readouterr().out
    assert "max abs diff" in printed and "parameters" in printed and "16000 Hz" in printed
    assert (out / "config.yaml").is_file() and (out / "README.md").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temp folder left behind"

    gen, _ = load_generator(trained)
    loaded = load_vocoder(out)
    for frames in (23, 64):  # the graph formats were traced at another length: the time axis is dynamic
        mel = _mel(gen, frames)
        with torch.inference_mode():
            ref = gen.synthesize(mel)
        got = loaded.decode(mel)
        diff = (got - ref).abs().max().item()
        print(f"{fmt}: {frames} frames, max abs diff {diff:.3e}")
        assert got.shape == ref.shape and diff <= TOL


def test_vocos_export_loads_with_upstream_vocos(trained, tmp_path):
    from vocos import Vocos

    out = tmp_path / "vocos"
    export(trained, out, "vocos")
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["sample_rate"] == 16000 and cfg["head"]["class_path"] == "vocos.heads.ISTFTHead"
    model = Vocos.from_hparams(str(out / "config.yaml"))
    model.load_state_dict(load_checkpoint(out / "pytorch_model.bin"))  # strict: same keys
    model.eval()
    gen, _ = load_generator(trained)
    audio = _tone(16000, 0.5, 200.0)
    with torch.inference_mode():
        torch.testing.assert_close(
            model.decode(gen.features(audio)), gen.synthesize(gen.features(audio)), atol=1e-6, rtol=0
        )
        torch.testing.assert_close(model(audio), gen.synthesize(gen.features(audio)), atol=1e-6, rtol=0)


def test_safetensors_export_carries_its_config(trained, tmp_path):
    out = tmp_path / "st"
    r = export(trained, out, "safetensors")
    meta = safetensors_metadata(out / "generator.safetensors")
    assert meta["sample_rate"] == "16000" and '"backbone"' in meta["config"]
    assert r.parameters == sum(p.numel() for p in load_generator(trained)[0].parameters())


def test_ema_export_uses_the_ema_weights(trained, tmp_path):
    export(trained, tmp_path / "ema", "safetensors", ema=True)
    ema = load_checkpoint(trained)["vocoder_train"]["ema_generator"]
    got = load_checkpoint(tmp_path / "ema" / "generator.safetensors")
    assert all(torch.equal(got[k], ema[k]) for k in ema)
    assert {k.rsplit(".", 1)[-1] for k in set(got) - set(ema)} == {
        "window",
        "fb",
    }  # the buffers upstream Vocos expects
    raw = load_checkpoint(trained)["state_dict"]["generator.backbone.embed.weight"]
    assert not torch.equal(
        got["backbone.embed.weight"], raw
    )  # 4 steps of training moved the raw weights away


def test_ema_export_without_ema_weights_is_a_clear_error(trained, tmp_path, capsys):
    ckpt = load_checkpoint(trained)
    del ckpt["vocoder_train"]["ema_generator"]
    no_ema = tmp_path / "no_ema.ckpt"
    torch.save(ckpt, no_ema)
    assert main([str(no_ema), "-o", str(tmp_path / "x"), "-f", "vocos", "--ema"]) == 1
    assert "no EMA weights" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_refuses_to_overwrite_without_force(trained, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main([str(trained), "-o", str(out), "-f", "vocos"]) == 1
    assert "--force" in capsys.readouterr().err and (out / "keep.txt").read_text() == "mine"
    assert main([str(trained), "-o", str(out), "-f", "vocos", "--force"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.yaml", "pytorch_model.bin"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temp or old folders left


def test_failed_check_leaves_nothing(trained, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main([str(trained), "-o", str(out), "-f", "onnx", "--tolerance", "0"]) == 1
    )  # rounding alone exceeds 0
    err = capsys.readouterr().err
    assert "max abs diff" in err and "nothing was written" in err
    assert list(tmp_path.iterdir()) == []


def test_export_from_a_vocos_folder_roundtrips(trained, tmp_path):
    export(trained, tmp_path / "a", "vocos")
    r = export(tmp_path / "a", tmp_path / "b", "torchscript")
    assert r.max_abs_diff <= TOL and r.sample_rate == 16000
    with pytest.raises(ValueError, match="EMA weights come from a training checkpoint"):
        export(tmp_path / "a", tmp_path / "c", "vocos", ema=True)


def test_imdct_head_is_refused_for_graph_formats_with_a_hint(monkeypatch):
    import scipy.signal
    from vocos import Vocos
    from vocos.feature_extractors import MelSpectrogramFeatures
    from vocos.heads import IMDCTCosHead
    from vocos.models import VocosBackbone

    # vocos 0.1.0's IMDCT calls scipy.signal.cosine, which newer scipy only has as
    # scipy.signal.windows.cosine.
    monkeypatch.setattr(scipy.signal, "cosine", scipy.signal.windows.cosine, raising=False)
    gen = Vocos(
        MelSpectrogramFeatures(16000, 256, 64, 32), VocosBackbone(32, 16, 32, 1), IMDCTCosHead(16, 128)
    )
    with pytest.raises(UnsupportedForExport, match="the vocos or safetensors format"):
        ExportableVocos(gen)


@pytest.mark.parametrize("n_fft,hop", [(256, 64), (1024, 256), (20, 5)])
@pytest.mark.parametrize("padding", ["same", "center"])
@pytest.mark.parametrize("frames", [2, 7, 33])
def test_real_istft_equals_vocos_istft(n_fft, hop, padding, frames):
    g = torch.Generator().manual_seed(frames)
    spec = torch.polar(
        torch.rand(2, n_fft // 2 + 1, frames, generator=g) * 20,
        torch.rand(2, n_fft // 2 + 1, frames, generator=g) * 2 * math.pi,
    )
    ref = ISTFT(n_fft, hop, n_fft, padding)(spec)
    got = RealISTFT(n_fft, hop, padding)(spec.real.contiguous(), spec.imag.contiguous())
    assert got.shape == ref.shape
    torch.testing.assert_close(got, ref, atol=1e-5 * ref.abs().max().item(), rtol=0)
