"""vocoder_train.metrics: ideal values, degradations, reference packages, YIN, DDP reduction.

The pitch metrics here are the YIN ones (milliseconds); the CREPE ones: tests/test_pitch_crepe.py."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch

from vocoder_train.io.audio import resample
from vocoder_train.metrics import (
    HIGHER_IS_BETTER,
    MetricAccumulator,
    compute_metrics,
    mel_l1_distance,
    metric_mode,
    pesq_wb,
    si_sdr,
    stoi,
    yin,
)
from vocoder_train.metrics.perceptual import SI_SDR_MAX_DB

SR = 16000
ALL = ("mel_l1", "mrstft", "pesq", "stoi", "si_sdr", "periodicity_yin", "vuv_f1_yin", "pitch_cents_yin")


@functools.lru_cache(maxsize=4)
def _speechlike(sr: int = SR, seconds: float = 1.5) -> np.ndarray:
    """Syllable-like bursts of a harmonic tone with gliding f0 over a -60 dB noise floor."""
    rng = np.random.default_rng(0)
    t = np.arange(int(sr * seconds)) / sr
    f0 = 180 + 40 * np.sin(2 * np.pi * 1.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    env = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None) ** 0.7
    x = env * sum(0.25 / k * np.sin(k * phase) for k in range(1, 30) if k * 220 < 0.49 * sr)
    return x + 1e-3 * rng.standard_normal(t.shape)


def _add_noise(x: np.ndarray, snr_db: float, seed: int = 1) -> np.ndarray:
    n = np.random.default_rng(seed).standard_normal(x.shape)
    n *= math.sqrt(np.mean(x**2) / np.mean(n**2) / 10 ** (snr_db / 10))
    return x + n


def _lowpass(x: np.ndarray, cutoff: float) -> np.ndarray:
    from scipy.signal import butter, sosfiltfilt

    return sosfiltfilt(butter(8, cutoff, fs=SR, output="sos"), x)


def _harmonic(f0: float, sr: int = SR, seconds: float = 1.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return sum(amp / k * np.sin(2 * np.pi * k * f0 * t + k) for k in range(1, 6))


def _worse(name: str, a: float, b: float) -> bool:
    """b is strictly worse than a for metric ``name``."""
    return b < a if HIGHER_IS_BETTER[name] else b > a


# -- ideal values and directions -------------------------------------------------------------------


def test_identity_gives_ideal_values():
    x = _speechlike()
    m = compute_metrics(x, x, SR, names=ALL)
    assert m["mel_l1"] == 0.0 and m["mrstft"] == 0.0
    assert m["pesq"] == pytest.approx(4.64, abs=0.01)
    assert m["stoi"] == pytest.approx(1.0, abs=1e-6)
    assert m["si_sdr"] == SI_SDR_MAX_DB
    assert m["periodicity_yin"] == 0.0 and m["vuv_f1_yin"] == 1.0 and m["pitch_cents_yin"] == 0.0


def test_tensors_and_arrays_agree_and_lengths_are_trimmed():
    x = _speechlike()
    y = _add_noise(x, 20)
    a = compute_metrics(x, y, SR, names=("mel_l1", "si_sdr", "vuv_f1_yin"))
    b = compute_metrics(torch.from_numpy(x).float()[None], torch.from_numpy(y).float(), SR, names=a)
    for k in a:
        assert b[k] == pytest.approx(a[k], rel=1e-4, abs=1e-4), k
    # deg one hop longer than ref: trimmed to the shorter, so equal to identity
    assert mel_l1_distance(x, np.concatenate([x, np.zeros(256)]), SR) == 0.0


def test_more_noise_moves_every_metric_further():
    x = _speechlike()
    ideal = compute_metrics(x, x, SR, names=ALL)
    rows = [compute_metrics(x, _add_noise(x, snr), SR, names=ALL) for snr in (30, 15, 5)]
    for name in ALL:
        if name == "pitch_cents_yin":  # ideal is 0, the same "min" direction; may be NaN at 5 dB
            vals = [r[name] for r in rows[:2]]
        else:
            vals = [r[name] for r in rows]
        seq = [ideal[name], *vals]
        if name == "vuv_f1_yin":  # decisions only flip once noise masks the tone
            assert all(not _worse(name, b, a) for a, b in zip(seq, seq[1:])), (name, seq)
            assert _worse(name, seq[0], seq[-1]), (name, seq)
        else:
            assert all(_worse(name, a, b) for a, b in zip(seq, seq[1:])), (name, seq)
    assert rows[0]["si_sdr"] == pytest.approx(30, abs=0.2) and rows[2]["si_sdr"] == pytest.approx(5, abs=0.2)


def test_lower_cutoff_lowpass_moves_spectral_and_perceptual_metrics_further():
    x = _speechlike()
    names = ("mel_l1", "mrstft", "pesq", "stoi", "si_sdr")
    seq = [compute_metrics(x, x, SR, names=names)]
    seq += [compute_metrics(x, _lowpass(x, fc), SR, names=names) for fc in (6000, 3000, 1000)]
    for name in names:
        vals = [r[name] for r in seq]
        assert all(_worse(name, a, b) for a, b in zip(vals, vals[1:])), (name, vals)


def test_metric_directions_and_unknown_names():
    assert metric_mode("val/pesq") == "max" and metric_mode("mel_l1") == "min"
    assert metric_mode("val/periodicity") == "min" and metric_mode("vuv_f1") == "max"
    with pytest.raises(KeyError, match="bogus"):
        compute_metrics(np.zeros(100), np.zeros(100), SR, names=("bogus",))


# -- reference packages ----------------------------------------------------------------------------


def _rs(x: np.ndarray, orig: int, new: int) -> np.ndarray:
    return resample(torch.from_numpy(x.astype(np.float32)), orig, new).numpy().astype(np.float64)


def test_pesq_and_stoi_equal_the_packages():
    import pesq
    import pystoi

    x = _speechlike()
    y = _add_noise(x, 25)
    assert pesq_wb(x, y, SR) == pesq.pesq(SR, x, y, "wb")
    assert stoi(x, y, SR) == pystoi.stoi(_rs(x, SR, 10000), _rs(y, SR, 10000), 10000)
    # pystoi's own resampler gives nearly the same score
    assert stoi(x, y, SR) == pytest.approx(pystoi.stoi(x, y, SR), abs=0.01)
    # other rates go through vocoder_train.io.audio.resample to 16 kHz
    x24, y24 = _speechlike(24000), _add_noise(_speechlike(24000), 25)
    assert pesq_wb(x24, y24, 24000) == pesq.pesq(16000, _rs(x24, 24000, 16000), _rs(y24, 24000, 16000), "wb")


def test_pesq_returns_nan_with_a_warning_when_it_cannot_score():
    with pytest.warns(UserWarning, match="pesq_wb"):
        assert math.isnan(pesq_wb(np.zeros(SR), np.zeros(SR), SR))
    rng = np.random.default_rng(0)
    with pytest.warns(UserWarning, match="pesq_wb"):  # far too short for PESQ
        assert math.isnan(pesq_wb(rng.standard_normal(400), rng.standard_normal(400), SR))


def test_si_sdr_hand_computed():
    rng = np.random.default_rng(3)
    ref = rng.standard_normal(SR)
    ref -= ref.mean()
    noise = rng.standard_normal(SR)
    noise -= noise.mean()
    noise -= noise @ ref / (ref @ ref) * ref  # orthogonal to ref, zero-mean
    noise *= math.sqrt((ref @ ref) / (noise @ noise) / 10 ** (12.0 / 10))  # 12 dB
    assert si_sdr(ref, ref + noise) == pytest.approx(12.0, abs=1e-9)
    assert si_sdr(ref, -3.0 * (ref + noise) + 0.5) == pytest.approx(12.0, abs=1e-9)  # scale/offset invariant
    assert si_sdr(ref, ref) == SI_SDR_MAX_DB
    with pytest.warns(UserWarning, match="silent"):
        assert math.isnan(si_sdr(np.zeros(100), ref[:100]))


# -- pitch -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("f0", [100.0, 150.0, 220.0, 330.0])
def test_yin_finds_f0_of_harmonic_tones(f0):
    track = yin(_harmonic(f0), SR, hop_length=160)
    interior = slice(3, -3)  # edge frames are half zero padding
    v = track.voiced[interior]
    assert v.mean() > 0.95
    assert np.all(np.abs(track.f0[interior][v] / f0 - 1) < 0.01)
    assert np.all(track.f0[~track.voiced] == 0) and np.all(track.periodicity[interior][v] > 0.85)


def test_yin_marks_silence_and_white_noise_unvoiced():
    silent = yin(np.zeros(SR), SR)
    assert not silent.voiced.any() and np.all(silent.periodicity == 0) and np.all(silent.f0 == 0)
    noise = yin(0.1 * np.random.default_rng(0).standard_normal(SR), SR)
    assert noise.voiced.mean() < 0.03 and noise.periodicity.mean() < 0.5
    quiet = yin(_harmonic(220.0, amp=1e-5), SR)  # periodic but below the -60 dB silence gate
    assert not quiet.voiced.any()
    half = yin(np.concatenate([_harmonic(150.0, seconds=0.5), np.zeros(SR // 2)]), SR, hop_length=160)
    assert half.voiced[5:45].all() and not half.voiced[55:].any()


@pytest.mark.parametrize("sr,hop", [(16000, 160), (22050, 256)])
def test_yin_numba_matches_numpy_reference(sr, hop):
    rng = np.random.default_rng(1)
    t = np.arange(int(0.6 * sr)) / sr
    chirp = 0.3 * np.sin(2 * np.pi * (90 * t + 200 * t**2))
    x = np.concatenate(
        [chirp, 0.05 * rng.standard_normal(sr // 5), np.zeros(sr // 10), _harmonic(260.0, sr, 0.3)]
    )
    a = yin(x, sr, hop_length=hop, backend="numba")
    b = yin(x, sr, hop_length=hop, backend="numpy")
    np.testing.assert_array_equal(a.voiced, b.voiced)
    np.testing.assert_allclose(a.f0, b.f0, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(a.periodicity, b.periodicity, rtol=0, atol=1e-9)
    assert a.voiced.any() and not a.voiced.all()


# -- accumulation across ranks ---------------------------------------------------------------------

_VALUES = [
    {"pesq": 1.0 + 0.1 * i, "mel_l1": 0.5 * i, "stoi": float("nan") if i == 3 else 0.9} for i in range(7)
]


def test_accumulator_means_and_skips_non_finite():
    acc = MetricAccumulator()
    for v in _VALUES:
        acc.update(v)
    means = acc.reduce()
    assert means["pesq"] == pytest.approx(np.mean([v["pesq"] for v in _VALUES]))
    assert means["mel_l1"] == pytest.approx(np.mean([v["mel_l1"] for v in _VALUES]))
    assert (
        means["stoi"] == pytest.approx(0.9)
        and acc.global_counts["stoi"] == 6
        and acc.global_skipped["stoi"] == 1
    )


def _ddp_worker(rank: int, world: int, init: str, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        acc = MetricAccumulator()
        for v in _VALUES[rank::world]:  # uneven halves: 4 and 3 items
            acc.update(v)
        if rank == 1:
            acc.update({"only_rank1": 2.0})  # names seen on one rank only are still reduced
        torch.save({"means": acc.reduce(), "counts": acc.global_counts}, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_accumulator_reduces_across_two_gloo_processes(tmp_path):
    import torch.multiprocessing as mp

    init = f"file://{tmp_path / 'pg_init'}"
    mp.spawn(_ddp_worker, args=(2, init, str(tmp_path)), nprocs=2, join=True)
    single = MetricAccumulator()
    for v in _VALUES:
        single.update(v)
    expected = single.reduce()
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        for k, v in expected.items():
            assert got["means"][k] == pytest.approx(v, rel=1e-12), (rank, k)
        assert got["means"]["only_rank1"] == 2.0 and got["counts"]["pesq"] == 7


def test_utmos_from_local_torchscript_weights_and_skip_notice(tmp_path, caplog):
    import logging

    import torch

    from vocoder_train.metrics.utmos import load_utmos

    class FakeMOS(torch.nn.Module):  # stands in for exported UTMOS weights: (B, T) at 16 kHz -> (B,)
        def forward(self, wav: torch.Tensor) -> torch.Tensor:
            return 1.0 + 4.0 * wav.abs().mean(dim=-1) / (wav.abs().amax(dim=-1) + 1e-9)

    path = tmp_path / "utmos.pt"
    torch.jit.script(FakeMOS()).save(str(path))
    scorer = load_utmos(path)
    audio = torch.randn(2, 24000) * 0.1
    scores = scorer.score(audio, 24000)
    assert scores.shape == (2,) and torch.all((scores > 1) & (scores < 5))
    with caplog.at_level(logging.INFO):
        assert load_utmos(None) is None
    assert "UTMOS skipped" in caplog.text
    with pytest.raises(FileNotFoundError, match="validation.utmos"):
        load_utmos(tmp_path / "missing.pt")
