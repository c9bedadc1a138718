"""vocoder-synthesize: wav and .npy inputs, every model kind, chunked == one-shot, errors that name the
file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers.audio import tone
from vocoder_train.cli.synthesize import main
from vocoder_train.io.audio import load_audio, probe, save_audio
from vocoder_train.models.export import export
from vocoder_train.models.generator import build_generator, from_vocos_config
from vocoder_train.models.inference.chunked import receptive_context, synthesize_mel
from vocoder_train.models.store import load_generator
from vocoder_train.models.vocoder import TorchVocoder, load_vocoder

SR, HOP, N_MELS = 16000, 64, 32  # the tiny experiment


def _tone(sr: int, seconds: float, f0: float) -> torch.Tensor:
    return tone(sr, seconds, f0)


@pytest.fixture(scope="module")
def ckpt(tiny_checkpoint) -> Path:
    """The shared tiny checkpoint (tests/conftest.py)."""
    return tiny_checkpoint


@pytest.fixture(scope="module")
def onnx_dir(ckpt, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "model"
    export(ckpt, out, "onnx")
    return out


def _mel(frames: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(1, N_MELS, frames, generator=torch.Generator().manual_seed(seed)) - 3


def test_wav_and_npy_inputs_give_wavs_of_the_right_length_and_rate(ckpt, tmp_path, capsys):
    wav = tmp_path / "in" / "speech.flac"
    save_audio(wav, _tone(22050, 0.7, 180.0), 22050)  # another rate: resampled to the model's 16 kHz
    np.save(tmp_path / "in" / "tts.npy", _mel(50)[0].numpy())  # (n_mels, L)
    np.save(tmp_path / "batch1.npy", _mel(21).numpy())  # (1, n_mels, L)
    out = tmp_path / "out"
    assert (
        main([str(ckpt), str(tmp_path / "in"), str(tmp_path / "batch1.npy"), "-o", str(out), "--no-progress"])
        == 0
    )
    printed, errors = capsys.readouterr()
    assert "synthesize:" not in errors and "file/s" not in errors  # no progress bar
    assert (
        "x real time (audio s / wall s" in printed
        and "first-chunk latency" in printed
        and "total: 3 file(s)" in printed
    )

    resampled = round(0.7 * 22050 * SR / 22050)
    info = {p.name: probe(p) for p in out.iterdir()}
    assert set(info) == {"speech.wav", "tts.wav", "batch1.wav"}
    assert all(i.sample_rate == SR and i.num_channels == 1 for i in info.values())
    assert info["speech.wav"].num_frames == resampled  # copy synthesis: trimmed to the (resampled) input
    assert info["tts.wav"].num_frames == 50 * HOP and info["batch1.wav"].num_frames == 21 * HOP


def test_npy_output_equals_the_training_model(ckpt, tmp_path):
    mel = _mel(40)
    np.save(tmp_path / "m.npy", mel[0].numpy())
    assert main([str(ckpt), str(tmp_path / "m.npy"), "-o", str(tmp_path / "out")]) == 0
    gen, _ = load_generator(ckpt)
    with torch.inference_mode():
        ref = gen.synthesize(mel)
    got, _ = load_audio(tmp_path / "out" / "m.wav")
    assert got.shape == ref.shape
    assert (got - ref.clamp(-1, 1)).abs().max() < 2e-4  # 16-bit PCM quantisation step is 3e-5


@pytest.mark.parametrize("kind", ["checkpoint", "onnx"])
def test_chunked_equals_one_shot(ckpt, onnx_dir, kind):
    vocoder = load_vocoder(ckpt if kind == "checkpoint" else onnx_dir)
    mel = _mel(203, seed=3)
    one, _ = synthesize_mel(vocoder, mel, chunk_frames=0)
    for chunk in (16, 50, 202):
        audio, timing = synthesize_mel(vocoder, mel, chunk_frames=chunk)
        diff = (audio - one).abs().max().item()
        print(
            f"{kind}: chunk {chunk} frames, context {receptive_context(vocoder)}: max abs diff {diff:.2e}, "
            f"{timing.chunks} chunks, first chunk {1e3 * timing.first_chunk_s:.1f} ms"
        )
        assert audio.shape == one.shape and diff < 1e-5
    short_ctx, _ = synthesize_mel(vocoder, mel, chunk_frames=16, context_frames=0)
    assert (short_ctx - one).abs().max() > 1e-4  # the context is what makes it exact


def test_chunked_equals_one_shot_with_a_center_padded_head():
    cfg = {
        "feature_extractor": {
            "class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
            "init_args": {"sample_rate": SR, "n_fft": 256, "hop_length": HOP, "n_mels": N_MELS},
        },
        "backbone": {
            "class_path": "vocos.models.VocosBackbone",
            "init_args": {"input_channels": N_MELS, "dim": 16, "intermediate_dim": 32, "num_layers": 2},
        },
        "head": {
            "class_path": "vocos.heads.ISTFTHead",
            "init_args": {"dim": 16, "n_fft": 256, "hop_length": HOP, "padding": "center"},
        },
        "sample_rate": SR,
    }
    torch.manual_seed(0)
    vocoder = TorchVocoder(build_generator(from_vocos_config(cfg)).eval(), Path("mem"), "test", cfg, SR)
    mel = _mel(77)
    one, _ = synthesize_mel(vocoder, mel, chunk_frames=0)
    chunked, _ = synthesize_mel(vocoder, mel, chunk_frames=10)
    assert one.shape[-1] == 76 * HOP and chunked.shape == one.shape
    assert (chunked - one).abs().max() < 1e-5


def test_onnx_model_synthesizes_from_audio_like_the_checkpoint(ckpt, onnx_dir, tmp_path):
    save_audio(tmp_path / "a.wav", _tone(SR, 0.5, 150.0), SR)
    assert main([str(onnx_dir), str(tmp_path / "a.wav"), "-o", str(tmp_path / "onnx")]) == 0
    assert main([str(ckpt), str(tmp_path / "a.wav"), "-o", str(tmp_path / "ckpt")]) == 0
    a, _ = load_audio(tmp_path / "onnx" / "a.wav")
    b, _ = load_audio(tmp_path / "ckpt" / "a.wav")
    assert a.shape == b.shape and (a - b).abs().max() < 1e-4


def test_bad_inputs_are_named_and_the_rest_still_written(ckpt, tmp_path, capsys):
    (tmp_path / "broken.wav").write_bytes(b"not a wav file at all")
    np.save(tmp_path / "wrong_bins.npy", np.zeros((80, 10), np.float32))
    np.save(tmp_path / "transposed.npy", np.zeros((10, N_MELS), np.float32))
    np.save(tmp_path / "good.npy", _mel(12)[0].numpy())
    inputs = [str(tmp_path / n) for n in ("broken.wav", "wrong_bins.npy", "transposed.npy", "good.npy")]
    assert main([str(ckpt), *inputs, "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'broken.wav'}:" in err
    assert f"{tmp_path / 'wrong_bins.npy'}: 80 mel bins" in err and f"the model takes {N_MELS}" in err
    assert f"{tmp_path / 'transposed.npy'}: 10 mel bins" in err and "save it transposed" in err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["good.wav"]


def test_missing_input_and_model_errors(ckpt, tmp_path, capsys):
    assert main([str(ckpt), str(tmp_path / "nope.wav"), "-o", str(tmp_path / "out")]) == 1
    assert f"{tmp_path / 'nope.wav'}: no such file" in capsys.readouterr().err
    assert main([str(tmp_path), str(tmp_path), "-o", str(tmp_path / "out")]) == 1
    assert "no model in this folder" in capsys.readouterr().err


def test_inputs_from_a_manifest_and_a_filelist(tmp_path, make_corpus):
    import json

    from vocoder_train.api import collect_inputs

    paths = make_corpus([("a.wav", 16000, 0.3, 1), ("b.flac", 16000, 0.3, 1)])
    (tmp_path / "val.jsonl").write_text("".join(json.dumps({"path": str(p)}) + "\n" for p in paths))
    (tmp_path / "list.txt").write_text(f"{paths[1]}\n")
    assert collect_inputs([tmp_path / "val.jsonl", tmp_path / "list.txt"]) == [paths[0], paths[1], paths[1]]
