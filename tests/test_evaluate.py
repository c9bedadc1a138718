"""vocoder-evaluate on tiny models and generated files in tmp_path: one model, A/B, the Griffin-Lim
baseline."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
import yaml

from tests.helpers.report_html import ReportPage, check_links

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
    names = ["mel_l1", "mrstft", "pesq", "si_sdr", "vuv_f1_yin"]
    with pytest.warns(UserWarning, match="broken.wav"):
        rc = main(
            [
                str(tiny_vocos_folder),
                "--data",
                str(eval_corpus),
                "--output",
                str(out),
                "--metrics",
                *names,
                "--plots",
                "2",
                "--no-progress",
            ]
        )
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
    # report.html: the 2 worst files by mel_l1 (lower is better: the highest first), with players
    page = ReportPage((out / "report.html").read_text())
    mel = {Path(f["path"]).name: f["mel_l1"] for f in doc["files"]}
    assert page.files == sorted(mel, key=mel.get, reverse=True)[:2]
    assert all(len(s["audio"]) == 2 and len(s["img"]) == 1 for s in page.sections)
    check_links(out, page)
    assert page.sortable == 2 and "## How these numbers were made" in report and "n_fft 1024" in report


def test_evaluate_max_files_and_bad_arguments(tiny_vocos_folder, eval_corpus, tmp_path, capsys):
    from vocoder_train.cli.evaluate import main

    out = tmp_path / "eval2"
    assert (
        main(
            [
                str(tiny_vocos_folder),
                "--data",
                str(eval_corpus),
                "--output",
                str(out),
                "--metrics",
                "mel_l1,si_sdr",
                "--max-files",
                "1",
                "--plots",
                "0",
                "--save-audio",
                "--no-progress",
            ]
        )
        == 0
    )
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["num_files"] == 1 and doc["metrics"] == ["mel_l1", "si_sdr"]
    assert [p.name for p in (out / "audio").iterdir()] == ["0000_f0.wav"]
    with pytest.raises(SystemExit):
        main([str(tiny_vocos_folder), "--data", str(eval_corpus), "--output", str(out), "--metrics", "bogus"])
    assert "bogus" in capsys.readouterr().err
    for wrong, message in (
        (["--order-by", "pesq"], "not among the metrics"),
        (["--bootstrap", "5"], "at least 100"),
    ):
        with pytest.raises(SystemExit):
            main(
                [
                    str(tiny_vocos_folder),
                    "--data",
                    str(eval_corpus),
                    "-o",
                    str(out),
                    "--metrics",
                    "mel_l1",
                    *wrong,
                ]
            )
        assert message in capsys.readouterr().err
    assert main([str(tmp_path / "nope"), "--data", str(eval_corpus), "--output", str(out)]) == 1
    assert "nope" in capsys.readouterr().err


def test_help_lists_options(capsys):
    from vocoder_train.cli.evaluate import main

    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for word in (
        "--data",
        "-o OUTPUT, --output OUTPUT",
        "--metrics",
        "--max-files",
        "--device",
        "--order-by",
        "--bootstrap",
        "--seed",
        "pesq",
        "vocos folder",
        "ONNX",
    ):
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
        assert (
            main(
                [
                    str(model),
                    "--data",
                    str(wavs),
                    "-o",
                    str(out),
                    "--metrics",
                    "mel_l1,si_sdr",
                    "--plots",
                    "0",
                    "--no-progress",
                ]
            )
            == 0
        ), kind
        doc = json.loads((out / "metrics.json").read_text())
        assert doc["num_files"] == 2 and doc["sample_rate"] == SR
        scores[kind] = doc["aggregate"]["mel_l1"]["mean"]
    # the same weights give the same copy synthesis, whatever the file format
    assert max(scores.values()) - min(scores.values()) < 1e-3, scores


# -- reference DNSMOS, A/B, Griffin-Lim -------------------------------------------------------------


@pytest.fixture
def short_wavs(tmp_path: Path) -> Path:
    """Two 1.15 s files: DNSMOS repeats a clip to 9.2 s and scores one window (its cheapest length)."""
    from vocoder_train.io.audio import save_audio

    folder = tmp_path / "short"
    for i, f0 in enumerate((140.0, 200.0)):
        save_audio(folder / f"s{i}.wav", _tone(SR, f0, 1.15, seed=i), SR)
    return folder


def test_default_metrics_are_crepe_and_dnsmos_with_the_reference_beside(
    tiny_checkpoint, short_wavs, tmp_path, capsys
):
    from vocoder_train.cli.evaluate import main
    from vocoder_train.metrics import EVALUATE_METRICS

    out = tmp_path / "eval_default"
    assert (
        main(
            [
                str(tiny_checkpoint),
                "--data",
                str(short_wavs),
                "-o",
                str(out),
                "--crepe-model",
                "tiny",
                "--plots",
                "0",
                "--no-progress",
            ]
        )
        == 0
    )
    doc = json.loads((out / "metrics.json").read_text())
    refs = ["ref_dnsmos_sig", "ref_dnsmos_bak", "ref_dnsmos_ovrl", "ref_dnsmos_p808"]
    assert doc["metrics"] == list(EVALUATE_METRICS) and doc["reference_columns"] == refs
    assert {"periodicity", "vuv_f1", "dnsmos_ovrl", "dnsmos_p808", *refs} <= set(doc["aggregate"])
    for f in doc["files"]:
        assert 0 <= f["periodicity"] <= 1 and 0 <= f["vuv_f1"] <= 1
        assert all(1 <= f[k] <= 5 for k in ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808", *refs))
    with open(out / "metrics.csv", newline="") as f:
        assert {"dnsmos_ovrl", "ref_dnsmos_ovrl"} <= set(csv.DictReader(f).fieldnames)
    report = (out / "report.md").read_text()
    ovrl = next(line for line in report.splitlines() if line.startswith("| dnsmos_ovrl |"))
    assert ovrl.rstrip(" |").rsplit("|", 1)[-1].strip() != "-"  # the reference mean beside it
    for text in (report, (out / "report.html").read_text()):
        assert "torchcrepe model tiny (not comparable with published figures)" in text
    assert "reference" in capsys.readouterr().out


def test_ab_report_with_griffin_lim_on_the_same_files(
    tiny_checkpoint, tiny_vocos_folder, short_wavs, tmp_path, capsys
):
    from vocoder_train.cli.evaluate import main

    out = tmp_path / "ab"
    names = ["mel_l1", "si_sdr", "dnsmos_ovrl"]
    assert (
        main(
            [
                str(tiny_checkpoint),
                str(tiny_vocos_folder),
                "--data",
                str(short_wavs),
                "-o",
                str(out),
                "--metrics",
                ",".join(names),
                "--plots",
                "1",
                "--save-audio",
                "--no-progress",
            ]
        )
        == 0
    )
    doc = json.loads((out / "metrics.json").read_text())
    assert [s["label"] for s in doc["systems"]] == ["A", "B", "griffin_lim"] and doc["baseline"] == "A"
    assert doc["systems"][0]["model"] == str(tiny_checkpoint) and doc["num_files"] == 2
    assert all(doc["systems"][i]["rtf"] > 0 for i in range(3))
    for lab in ("A", "B", "griffin_lim"):
        assert set(doc["aggregate"][lab]) == set(names)
    assert set(doc["aggregate"]["reference"]) == {"ref_dnsmos_ovrl"} and set(doc["deltas"]) == {
        "B",
        "griffin_lim",
    }
    # the mean delta is the difference of the means (same files for every system)
    a, b = doc["aggregate"]["A"]["mel_l1"]["mean"], doc["aggregate"]["B"]["mel_l1"]["mean"]
    assert (
        doc["deltas"]["B"]["mel_l1"]["mean"] == pytest.approx(b - a)
        and doc["deltas"]["B"]["mel_l1"]["n"] == 2
    )
    # Griffin-Lim from the exact mel beats an untrained network at matching it
    assert doc["aggregate"]["griffin_lim"]["mel_l1"]["mean"] < a
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["system"] for r in rows] == ["A", "B", "griffin_lim"] * 2 and rows[0]["delta_mel_l1"] == ""
    assert float(rows[1]["delta_mel_l1"]) == pytest.approx(
        float(rows[1]["mel_l1"]) - float(rows[0]["mel_l1"])
    )
    report = (out / "report.md").read_text()
    for heading in ("## Means", "## Deltas against A", "## Per file: B - A", "## Per file: griffin_lim - A"):
        assert heading in report
    assert (out / "comparison_000.png").stat().st_size > 1000 and "](comparison_000.png)" in report
    # --save-audio: every file of every system; the reference of the one file shown in full (--plots 1)
    assert sorted(p.parent.name for p in (out / "audio").rglob("*.wav")) == [
        "A",
        "A",
        "B",
        "B",
        "griffin_lim",
        "griffin_lim",
        "reference",
    ]
    printed = capsys.readouterr().out
    assert "griffin_lim" in printed and "reference" in printed
    # without the baseline: the two models only
    out2 = tmp_path / "ab2"
    assert (
        main(
            [
                str(tiny_vocos_folder),
                str(tiny_checkpoint),
                "--data",
                str(short_wavs),
                "-o",
                str(out2),
                "--metrics",
                "mel_l1",
                "--plots",
                "0",
                "--no-griffin-lim",
                "--no-progress",
            ]
        )
        == 0
    )
    assert [s["label"] for s in json.loads((out2 / "metrics.json").read_text())["systems"]] == ["A", "B"]


class _MelVocoder:
    """The part of a Vocoder the Griffin-Lim baseline uses: a feature extractor and its features."""

    def __init__(self, feature_extractor: torch.nn.Module, sample_rate: int = SR):
        self.feature_extractor, self.sample_rate, self.source = feature_extractor, sample_rate, "test"

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.feature_extractor(audio)


@pytest.mark.parametrize("front", ["vocos_center", "vocos_same", "hifigan"])
def test_griffin_lim_baseline_inverts_each_mel_front_end(front):
    from vocos.feature_extractors import MelSpectrogramFeatures

    from vocoder_train.evaluation.baselines import GriffinLimBaseline
    from vocoder_train.metrics import mel_l1_distance
    from vocoder_train.models.frontends import HifiganMelFeatures

    fe = {
        "vocos_center": lambda: MelSpectrogramFeatures(SR, 512, 128, 64, padding="center"),
        "vocos_same": lambda: MelSpectrogramFeatures(SR, 512, 128, 64, padding="same"),
        "hifigan": lambda: HifiganMelFeatures(SR, 512, 128, 384, 64, fmax=None),
    }[front]()
    vocoder = _MelVocoder(fe)
    audio = _tone(SR, 160.0, 1.0)
    baseline = GriffinLimBaseline(vocoder)
    out = baseline.copy_synthesis(audio)
    assert out.shape == audio.shape and torch.equal(out, baseline.copy_synthesis(audio))  # seeded phase
    feats = vocoder.features(audio)
    # its own mel comes back close to the input mel: ~0.06-0.1 here, ~0.2 on a frame grid half a hop off
    assert torch.nn.functional.l1_loss(vocoder.features(out), feats) < 0.15
    assert mel_l1_distance(audio[0], out[0], SR) < 0.5


def test_griffin_lim_baseline_refuses_a_non_mel_front_end():
    from vocoder_train.evaluation.baselines import GriffinLimBaseline, mel_front_end

    assert mel_front_end(torch.nn.Identity()) is None
    with pytest.raises(ValueError, match="Identity is not a mel front end"):
        GriffinLimBaseline(_MelVocoder(torch.nn.Identity()))


# -- report.html and the statistics of an A/B report -------------------------------------------------


def test_ab_report_html_statistics_and_worst_first_order(tiny_checkpoint, tiny_vocos_folder, tmp_path):
    """A/B on 3 files (one named with characters HTML must escape): report.html with a player per file
    and system, sortable tables, files worst first by a higher-is-better metric; intervals and
    p-values (n/a: too few files) in report.md, metrics.json and statistics.csv."""
    from vocoder_train.cli.evaluate import main
    from vocoder_train.io.audio import save_audio

    wavs = tmp_path / "three"
    names = ["t0.wav", "t1.wav", "z&b <c>.wav"]
    for i, (name, f0) in enumerate(zip(names, (120.0, 170.0, 230.0))):
        save_audio(wavs / name, _tone(SR, f0, 0.5, seed=i), SR)
    out = tmp_path / "ab_html"
    args = [str(tiny_checkpoint), str(tiny_vocos_folder), "--data", str(wavs), "-o", str(out)]
    args += ["--metrics", "mel_l1,si_sdr", "--order-by", "si_sdr", "--plots", "3", "--bootstrap", "500"]
    assert main([*args, "--seed", "3", "--no-progress"]) == 0
    doc = json.loads((out / "metrics.json").read_text())
    labels = ["A", "B", "griffin_lim"]
    assert doc["statistics"]["bootstrap_resamples"] == 500 and doc["statistics"]["seed"] == 3
    for lab in labels:
        a = doc["aggregate"][lab]["si_sdr"]
        assert a["ci_low"] <= a["mean"] <= a["ci_high"]
    d = doc["deltas"]["B"]["mel_l1"]
    assert d["ci_low"] <= d["mean"] <= d["ci_high"] and d["p"] is None
    assert d["p_note"] == "3 non-zero differences, the test needs 6"
    assert d["verdict"] in ("better", "worse", "no difference shown")
    assert all("engine" in s for s in doc["systems"]) and any("n_fft 1024" in m for m in doc["method"])
    with open(out / "statistics.csv", newline="") as f:
        stats = list(csv.DictReader(f))
    assert [(r["system"], r["metric"]) for r in stats] == [
        (lab, m) for lab in labels for m in ("mel_l1", "si_sdr")
    ]
    assert (
        stats[0]["delta_mean"] == "" and stats[2]["p_note"] == d["p_note"] and stats[2]["resamples"] == "500"
    )
    report = (out / "report.md").read_text()
    for text in ("## How these numbers were made", "500 resamples, seed 3", "Wilcoxon", "n/a (3 non-zero"):
        assert text in report
    means = next(line for line in report.splitlines() if line.startswith("| si_sdr | higher |"))
    assert means.count("[") == 3  # an interval beside each system's mean

    text = (out / "report.html").read_text()
    page = ReportPage(text)
    assert page.sortable >= 4 and any("sortable" in s and "addEventListener" in s for s in page.scripts)
    assert "z&amp;b &lt;c&gt;.wav" in text and "<c>" not in text
    si_sdr = {Path(f["path"]).name: f["systems"]["A"]["si_sdr"] for f in doc["files"]}
    assert page.files == sorted(si_sdr, key=si_sdr.get)  # the lowest si_sdr (the worst) first
    assert page.files != sorted(names)  # these files score in another order than they are read
    for s in page.sections:
        assert len(s["audio"]) == 1 + len(labels) and len(s["img"]) == 1
    assert sorted(p.parent.name for p in (out / "audio").rglob("*.wav")) == sorted(["reference", *labels] * 3)
    check_links(out, page)
    assert "://" not in text  # nothing from the network
    for text_ in ("torchcrepe", "n_fft 1024"):
        assert (text_ in text) == (text_ in report)
