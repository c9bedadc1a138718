"""Screening in ``vocoder-prepare``: effective bandwidth, clipping and loudness are measured while each file
is decoded, reported as distributions, and reject files under the thresholds the user sets."""

from __future__ import annotations

import json

import pytest
import torch
import torchaudio.functional as AF

from tests.helpers.audio import tone
from vocoder_train.cli import prepare as cli
from vocoder_train.data import probe
from vocoder_train.data.prepare_options import PrepareError, PrepareOptions, check_options
from vocoder_train.data.screening import Screening
from vocoder_train.io.audio import resample, save_audio

SR = 24000
SPECIAL = {  # file -> the reason its default threshold rejects it for
    "upsampled.wav": "low_bandwidth",
    "clipped.wav": "clipped",
    "quiet.wav": "too_quiet",
}
RELAX = {  # the reason -> the option value that keeps its file
    "low_bandwidth": ["--min-bandwidth", "3000"],
    "clipped": ["--max-clipping", "off"],
    "too_quiet": ["--min-loudness", "-70"],
}


def _upsampled(seconds: float) -> torch.Tensor:
    """A tone with noise recorded at 8 kHz, resampled to 24 kHz: nothing above 4 kHz."""
    return resample(tone(8000, seconds, 180.0, seed=7), 8000, SR)


@pytest.fixture
def corpus(make_corpus):
    normal = make_corpus([(f"normal{i}.wav", SR, 1.0, 1 + i % 2) for i in range(3)])
    folder = normal[0].parent
    save_audio(folder / "upsampled.wav", _upsampled(1.0), SR)
    save_audio(folder / "clipped.wav", 4.0 * tone(SR, 1.0, 150.0, seed=8), SR)  # save_audio clips at 1
    save_audio(folder / "quiet.wav", 10 ** (-45 / 20) * tone(SR, 1.0, 170.0, seed=9), SR)  # peak -51 dBFS
    return folder


def _run(corpus, out, *args: str) -> tuple[dict, dict]:
    """vocoder-prepare on the corpus; (reason of each rejected file name, report.json)."""
    assert cli.main([str(corpus), "--output", str(out), "--no-progress", "--val-fraction", "0.2", *args]) == 0
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    return {x["path"].rsplit("/", 1)[-1]: x for x in rejected}, json.loads((out / "report.json").read_text())


def test_each_measure_rejects_its_file_and_the_report_shows_the_distributions(corpus, tmp_path):
    rejected, report = _run(corpus, tmp_path / "out")
    assert {name: x["reason"] for name, x in rejected.items()} == SPECIAL
    up, clip, quiet = rejected["upsampled.wav"], rejected["clipped.wav"], rejected["quiet.wav"]
    assert 3900 < up["bandwidth_hz"] < 4200 and "--min-bandwidth 6000" in up["message"]
    assert clip["clipped_fraction"] > 0.01 and "--max-clipping 0.001" in clip["message"]
    assert -62 < quiet["loudness_lufs"] < -54 and "--min-loudness -50" in quiet["message"]

    s = report["screening"]
    assert s["files"] == 6 and report["totals"]["good"] == 3
    assert report["settings"]["min_bandwidth"] == SR / 4
    for key, reason in zip(("bandwidth_hz", "clipped_fraction", "loudness_lufs"), SPECIAL.values()):
        assert sum(s[key]["histogram"]) == 6 and s[key]["rejected"] == 1, key
        assert report["rejected"]["by_reason"][reason] == 1
    assert s["bandwidth_hz"]["max"] == SR / 2 and s["bandwidth_hz"]["min"] == up["bandwidth_hz"]
    assert s["clipped_fraction"]["median"] == 0.0
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Screening" in md and "| bandwidth (kHz) |" in md and ">= 6 kHz (--min-bandwidth) | 1 |" in md


@pytest.mark.parametrize("reason", list(RELAX))
def test_relaxing_a_threshold_keeps_its_file(corpus, tmp_path, reason):
    rejected, report = _run(corpus, tmp_path / "out", *RELAX[reason])
    assert {x["reason"] for x in rejected.values()} == set(RELAX) - {reason}
    assert report["totals"]["good"] == 4 and report["screening"]["files"] == 6


def test_loudness_equals_torchaudio_and_chunked_decoding_changes_nothing(tmp_path, monkeypatch):
    audio = tone(SR, 3.0, channels=2)
    whole = Screening(SR)
    whole.update(audio)
    assert whole.loudness() == pytest.approx(float(AF.loudness(audio, SR)), abs=1e-4)
    path = tmp_path / "long.wav"
    save_audio(path, torch.cat([audio, 4.0 * audio[:, : SR // 2]], -1), SR)  # a clipped end
    one = probe.measure(str(path))
    monkeypatch.setattr(probe, "CHUNK_SECONDS", 0.5)  # 7 chunks: the long-file path
    chunked = probe.measure(str(path))
    assert chunked.error is None and chunked.num_frames == one.num_frames
    assert chunked.bandwidth_hz == one.bandwidth_hz == SR / 2
    assert chunked.loudness_lufs == pytest.approx(one.loudness_lufs, abs=1e-4)  # steps and filters carry over
    assert chunked.clipped_fraction == pytest.approx(one.clipped_fraction, rel=0.02)
    assert one.clipped_fraction > 0.01


def test_measures_of_edge_cases():
    silent = Screening(SR)
    silent.update(torch.zeros(1, SR))
    assert silent.bandwidth() is None and silent.loudness() == -70.0 and silent.clipped_fraction() == 0.0
    short = Screening(SR)
    short.update(tone(SR, 0.2))  # under one 400 ms loudness block
    assert short.loudness() is None and short.bandwidth() == SR / 2
    peak = Screening(SR)
    peak.update(
        torch.tensor([[0.0, 1.0, 1.0, 0.0, -1.0, -1.0, -1.0, 0.5]])
    )  # a 2-sample peak, a 3-sample run
    assert peak.clipped_fraction() == 3 / 8


@pytest.mark.parametrize(
    "field, value, option",
    [
        ("max_clipping", 2.0, "--max-clipping"),
        ("min_loudness", -90.0, "--min-loudness"),
        ("min_bandwidth", 13000.0, "--min-bandwidth"),
    ],
)
def test_out_of_range_thresholds_are_refused(field, value, option):
    with pytest.raises(PrepareError, match=option):
        check_options(PrepareOptions(**{field: value}))
