"""benchmarks/quality.py end to end on a tiny corpus (slow: trains twice for a few seconds)."""

from __future__ import annotations

import json

import pytest

from tests.helpers.audio import tone
from vocoder_train.io.audio import save_audio


@pytest.mark.slow
def test_quality_benchmark_two_budgets(tmp_path, capsys):
    from benchmarks import quality

    corpus = tmp_path / "corpus"
    for i in range(6):
        save_audio(corpus / f"spk{i % 2}_{i:02d}.wav", tone(16000, 1.0, 110.0 + 30 * i, seed=i), 16000)
    (corpus / "heldout.txt").write_text("spk0_04.wav\nspk1_05.wav\n")
    out = tmp_path / "out"
    # the tiny recipe with cpu_budget's inference-time steps (phase refinement, mel projection)
    consistency = [
        "model.generator.head._target_=vocoder_train.models.heads.ConsistencyISTFTHead",
        "+model.generator.head.refine_iters=4",
        "+model.generator.mel_passes=2",
        "+model.loss.spectral.g_headmag._target_=vocoder_train.losses.spectral.HeadMagnitudeLoss",
        "+model.loss.spectral.g_headmag.n_fft=${audio.n_fft}",
        "+model.loss.spectral.g_headmag.hop_length=${audio.hop_length}",
        "+model.loss.spectral.g_headmag.sample_rate=${audio.sample_rate}",
        "+model.loss.spectral.g_headmag.n_mels=${audio.n_mels}",
        "+model.loss.spectral.g_headmag.mel_weight=1.0",
        "+model.loss.lambdas.g_headmag=45",
    ]
    rc = quality.main(
        [
            "--budget",
            "4",
            "8",
            "--experiment",
            "tiny",
            "--corpus",
            str(corpus),
            "--output",
            str(out),
            "callbacks.progress_bar=null",
            *consistency,
        ]
    )
    assert rc == 0
    table = json.loads((out / "quality.json").read_text())
    assert [r["budget_s"] for r in table["runs"]] == [4, 8]
    assert table["heldout_files"] == 2
    for r in table["runs"]:
        assert r["iterations"] > 0 and r["mel"] == {"n_fft": 256, "hop_length": 64, "n_mels": 32}
        assert all(v == v for v in r["results"]["ours"].values())  # no NaN
        assert r["mel_passes"] == 2 and r["results"]["network_only"] != r["results"]["ours"]
    gl, gl_proj = table["griffin_lim_32"], table["griffin_lim_32_mel_projection"]
    assert gl["pesq"] > 1.0 and gl["mel_l1"] < 1.0
    assert gl_proj["mel_l1"] < gl["mel_l1"]  # the projection moves the output's mel to the input mel
    printed = capsys.readouterr().out
    assert "| tiny, 4 s |" in printed and "| Griffin-Lim, 32 iterations |" in printed
    assert "| tiny, 8 s, network only" in printed and "+ mel projection (2 passes) |" in printed


def test_quality_benchmark_rejects_bad_arguments(tmp_path):
    from benchmarks import quality

    with pytest.raises(SystemExit):
        quality.main(["--budget", "0", "--corpus", str(tmp_path)])
    with pytest.raises(SystemExit):
        quality.main(["--budget", "5", "--corpus", str(tmp_path)])  # no heldout.txt
