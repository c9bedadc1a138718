"""vocoder-evaluate's protocols, the provenance its reports record, and models with inference-time add-ons
(the network alone beside the model as shipped, Griffin-Lim with the same mel projection), on tiny
untrained models and generated files in tmp_path."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from tests.helpers.audio import tone
from tests.helpers.vocos_folder import write_tiny_vocos_folder


def _wavs(folder: Path, sample_rate: int, seconds: float = 0.6) -> Path:
    from vocoder_train.io.audio import save_audio

    for i, f0 in enumerate((130.0, 190.0)):
        t = torch.arange(int(sample_rate * seconds)) / sample_rate
        burst = torch.sin(2 * math.pi * 2.5 * t).clamp(min=0) + 0.05  # syllable-like, for PESQ
        save_audio(folder / f"w{i}.wav", tone(sample_rate, seconds, f0, seed=i) * burst, sample_rate)
    return folder


def _run(*args: str) -> int:
    from vocoder_train.cli.evaluate import main

    return main([*args, "--plots", "1", "--no-progress", "--bootstrap", "100"])


def test_addons_are_reported_beside_the_network_alone_and_griffin_lim_gets_the_projection(tmp_path):
    from vocoder_train.dsp import mel_projection
    from vocoder_train.evaluation.baselines import GriffinLimBaseline
    from vocoder_train.io.audio import load_audio
    from vocoder_train.metrics import mel_l1_distance
    from vocoder_train.models.vocoder import load_vocoder

    sr = 16000
    model = write_tiny_vocos_folder(
        tmp_path / "model",
        sr,
        head="vocoder_train.models.heads.ConsistencyISTFTHead",
        head_args={"refine_iters": 4},
        mel_passes=2,
    )
    wavs = _wavs(tmp_path / "wavs", sr)
    out = tmp_path / "eval"
    assert _run(str(model), "--data", str(wavs), "-o", str(out), "--metrics", "mel_l1,si_sdr") == 0
    doc = json.loads((out / "metrics.json").read_text())
    systems = {s["label"]: s for s in doc["systems"]}
    assert list(systems) == ["A", "A_network", "griffin_lim"]
    assert (
        "network only: refine_iters=0 (shipped: 4), mel_passes=0 (shipped: 2)"
        in systems["A_network"]["engine"]
    )
    assert "mel projection (2 passes)" in systems["griffin_lim"]["model"]

    # each column is what its definition gives, computed here directly
    shipped = load_vocoder(model)
    alone = load_vocoder(model)
    alone.generator.mel_passes, alone.generator.head.refine_iters = 0, 0
    gl = GriffinLimBaseline(shipped)
    for row in doc["files"]:
        ref, _ = load_audio(row["path"], sr)
        log_mel = shipped.features(ref)
        gl_audio = mel_projection(gl.copy_synthesis(ref), log_mel, shipped.feature_extractor.mel_spec, 2)
        expected = {
            "A": shipped.copy_synthesis(ref),
            "A_network": alone.copy_synthesis(ref),
            "griffin_lim": gl_audio[..., : ref.shape[-1]],
        }
        for label, audio in expected.items():
            value = mel_l1_distance(ref[0], audio[0], sr)
            assert row["systems"][label]["mel_l1"] == pytest.approx(value, rel=1e-4), label
        assert row["systems"]["A"]["mel_l1"] != pytest.approx(row["systems"]["A_network"]["mel_l1"], rel=1e-3)
    for name in ("report.md", "report.html"):
        text = (out / name).read_text()
        assert "A_network" in text and "mel projection (2 passes)" in text


def test_bigvgan_protocol_reports_record_protocol_pooling_tracker_and_versions(tmp_path, capsys):
    sr = 24000
    model = write_tiny_vocos_folder(tmp_path / "model", sr)
    wavs = _wavs(tmp_path / "wavs", sr)
    out = tmp_path / "eval"
    assert _run(str(model), "--data", str(wavs), "-o", str(out), "--protocol", "bigvgan") == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["protocol"] == "bigvgan"
    assert doc["metrics"] == [
        "mstft_bigvgan",
        "pesq_bigvgan",
        "mcd_bigvgan",
        "periodicity_bigvgan",
        "vuv_f1_bigvgan",
    ]
    packages = {"torch", "torchaudio", "torchcrepe", "pesq", "speechmos", "auraloss", "pysptk", "fastdtw"}
    assert packages <= set(doc["versions"]) and "pystoi" not in doc["versions"]  # no STOI here
    for name in ("mcd_bigvgan", "periodicity_bigvgan", "vuv_f1_bigvgan"):
        assert math.isfinite(doc["aggregate"][name]["pooled"])
    assert "pooled" not in doc["aggregate"]["pesq_bigvgan"]
    frames = [f["mcd_frames"] for f in doc["files"]]
    values = [f["mcd_bigvgan"] for f in doc["files"]]
    assert doc["aggregate"]["mcd_bigvgan"]["pooled"] == pytest.approx(
        sum(v * n for v, n in zip(values, frames)) / sum(frames)
    )
    for name in ("report.md", "report.html"):
        text = (out / name).read_text()
        assert "protocol bigvgan" in text and "pooled (the protocol&#x27;s figure)" in text.replace(
            "'", "&#x27;"
        )
        assert "torchcrepe model tiny (the CPU default" in text and "pysptk 1.0" in text
    assert "pooled" in capsys.readouterr().out


def test_protocol_errors_name_the_model_rate_and_what_to_do(tmp_path, capsys):
    model = write_tiny_vocos_folder(tmp_path / "model", 16000)
    wavs = _wavs(tmp_path / "wavs", 16000, 0.3)
    assert _run(str(model), "--data", str(wavs), "-o", str(tmp_path / "e"), "--protocol", "bigvgan") == 1
    err = capsys.readouterr().err
    assert str(model) in err and "16000 Hz" in err and "--protocol vocos" in err
    with pytest.raises(SystemExit):
        _run(str(model), "--data", str(wavs), "-o", str(tmp_path / "e"), "--protocol", "hifigan")
    assert "invalid choice: 'hifigan'" in capsys.readouterr().err
