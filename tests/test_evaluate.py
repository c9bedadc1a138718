"""vocoder-evaluate on a tiny vocos folder and three generated files in tmp_path."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
import yaml

SR = 16000


def _tone(sr: int, f0: float, seconds: float = 1.0, seed: int = 0) -> torch.Tensor:
    """A harmonic tone with syllable-like bursts and a little noise: (1, T)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(sr * seconds)) / sr
    env = torch.sin(2 * math.pi * 2 * t).clamp(min=0)
    x = env * sum(0.3 / k * torch.sin(2 * math.pi * k * f0 * t) for k in range(1, 6))
    return (x + 0.003 * torch.randn(t.shape, generator=g))[None]


@pytest.fixture
def tiny_vocos_folder(tmp_path: Path) -> Path:
    """A vocos-format folder (config.yaml + pytorch_model.bin) of an untrained tiny mel Vocos."""
    from vocos import Vocos
    from vocos.feature_extractors import MelSpectrogramFeatures
    from vocos.heads import ISTFTHead
    from vocos.models import VocosBackbone

    torch.manual_seed(0)
    fe = dict(sample_rate=SR, n_fft=256, hop_length=64, n_mels=32)
    bb = dict(input_channels=32, dim=32, intermediate_dim=64, num_layers=1)
    hd = dict(dim=32, n_fft=256, hop_length=64)
    model = Vocos(MelSpectrogramFeatures(**fe), VocosBackbone(**bb), ISTFTHead(**hd))
    folder = tmp_path / "model"
    folder.mkdir()
    cfg = {
        "sample_rate": SR,
        "feature_extractor": {
            "class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
            "init_args": fe,
        },
        "backbone": {"class_path": "vocos.models.VocosBackbone", "init_args": bb},
        "head": {"class_path": "vocos.heads.ISTFTHead", "init_args": hd},
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder


@pytest.fixture
def eval_corpus(tmp_path: Path) -> Path:
    from vocoder_train.io.audio import save_audio

    folder = tmp_path / "wavs"
    for i, (f0, sr) in enumerate([(120.0, SR), (180.0, SR), (240.0, 22050)]):
        save_audio(folder / f"f{i}.wav", _tone(sr, f0, seed=i), sr)
    return folder


def test_evaluate_writes_json_csv_report_and_plots(tiny_vocos_folder, eval_corpus, tmp_path, capsys):
    from vocoder_train.cli.evaluate import main

    (eval_corpus / "broken.wav").write_bytes(b"RIFF not really a wav file")
    out = tmp_path / "eval"
    names = ["mel_l1", "mrstft", "pesq", "si_sdr", "vuv_f1"]
    with pytest.warns(UserWarning, match="broken.wav"):
        rc = main([str(tiny_vocos_folder), "--data", str(eval_corpus), "--output", str(out),
                   "--metrics", *names, "--plots", "2", "--no-progress"])  # fmt: skip
    assert rc == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert (
        doc["num_files"] == 3 and doc["num_skipped"] == 1 and doc["skipped"][0]["path"].endswith("broken.wav")
    )
    assert doc["sample_rate"] == SR and list(doc["aggregate"]) == names
    assert doc["aggregate"]["mel_l1"]["mean"] > 0 and doc["speed"]["rtf"] > 0
    assert doc["higher_is_better"]["pesq"] is True and doc["higher_is_better"]["mel_l1"] is False
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [Path(r["path"]).name for r in rows] == ["f0.wav", "f1.wav", "f2.wav"]
    assert set(names) <= set(rows[0]) and float(rows[0]["duration_s"]) == pytest.approx(1.0, abs=1e-3)
    report = (out / "report.md").read_text()
    assert "## Aggregate" in report and "real-time factor" in report and "broken.wav" in report
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["histograms.png", "spectrogram_000.png", "spectrogram_001.png"]
    assert all((out / p).stat().st_size > 1000 and f"]({p})" in report for p in pngs)
    printed = capsys.readouterr().out
    assert "mel_l1" in printed and "real-time factor" in printed


def test_evaluate_max_files_and_bad_arguments(tiny_vocos_folder, eval_corpus, tmp_path, capsys):
    from vocoder_train.cli.evaluate import main

    out = tmp_path / "eval2"
    assert main([str(tiny_vocos_folder), "--data", str(eval_corpus), "--output", str(out),
                 "--metrics", "mel_l1,si_sdr", "--max-files", "1", "--plots", "0", "--save-audio", "--no-progress"]) == 0  # fmt: skip
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["num_files"] == 1 and doc["metrics"] == ["mel_l1", "si_sdr"]
    assert [p.name for p in (out / "audio").iterdir()] == ["0000_f0.wav"]
    with pytest.raises(SystemExit):
        main([str(tiny_vocos_folder), "--data", str(eval_corpus), "--output", str(out), "--metrics", "bogus"])
    assert "bogus" in capsys.readouterr().err
    assert main([str(tmp_path / "nope"), "--data", str(eval_corpus), "--output", str(out)]) == 1
    assert "nope" in capsys.readouterr().err


def test_help_lists_options(capsys):
    from vocoder_train.cli.evaluate import main

    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for word in ("--data", "-o OUTPUT, --output OUTPUT", "--metrics", "--max-files", "--device", "pesq", "vocos folder", "ONNX"):
        assert word in text


@pytest.fixture(scope="module")
def tiny_exports(tiny_checkpoint, tmp_path_factory) -> dict[str, Path]:
    """The shared tiny checkpoint and a vocoder-export of it in every format."""
    from vocoder_train.models.export import export

    root = tmp_path_factory.mktemp("eval_exports")
    out = {"checkpoint": tiny_checkpoint}
    for fmt in ("vocos", "safetensors", "torchscript", "onnx"):
        export(tiny_checkpoint, root / fmt, fmt)
        out[fmt] = root / fmt
    return out


def test_evaluate_takes_every_model_kind_with_short_output_option(tiny_exports, tmp_path):
    from vocoder_train.cli.evaluate import main
    from vocoder_train.io.audio import save_audio

    wavs = tmp_path / "wavs"
    for i, f0 in enumerate((130.0, 210.0)):
        save_audio(wavs / f"t{i}.wav", _tone(SR, f0, 0.6, seed=i), SR)
    scores = {}
    for kind, model in tiny_exports.items():
        out = tmp_path / kind
        assert main([str(model), "--data", str(wavs), "-o", str(out), "--metrics", "mel_l1,si_sdr",
                     "--plots", "0", "--no-progress"]) == 0, kind  # fmt: skip
        doc = json.loads((out / "metrics.json").read_text())
        assert doc["num_files"] == 2 and doc["sample_rate"] == SR
        scores[kind] = doc["aggregate"]["mel_l1"]["mean"]
    # the same weights give the same copy synthesis, whatever the file format
    assert max(scores.values()) - min(scores.values()) < 1e-3, scores
