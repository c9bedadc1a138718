"""Augmenter: seeded, batch == single calls, effects land in their configured ranges, the
kernels equal their torch references (the whole chain; the EQ as a torchaudio lfilter chain),
shapes and finiteness, the Hydra config."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from vocoder_train.data.augment import Augmenter
from vocoder_train.kernels.augment import (
    augment_batch,
    biquad_cascade,
    biquad_cascade_torch,
    butterworth_lowpass,
    rbj_biquad,
)

SR = 16000
OFF = dict(gain_p=0.0, polarity_p=0.0, noise_p=0.0, eq_p=0.0, lowpass_p=0.0)


def _audio(batch=None, length=4000, seed=0, amp=0.1):
    g = torch.Generator().manual_seed(seed)
    shape = (length,) if batch is None else (batch, length)
    t = torch.arange(length) / SR
    return amp * (torch.sin(2 * math.pi * 220 * t) + 0.3 * torch.randn(shape, generator=g))


def _db(p):
    return 10 * math.log10(p)


def test_seeded_and_reproducible():
    aug = Augmenter(gain_p=1, polarity_p=0.5, noise_p=1, eq_p=1, lowpass_p=1)
    x = _audio()
    a, b = aug(x, SR, seed=7), aug(x, SR, seed=7)
    assert torch.equal(a, b)
    assert not torch.equal(a, aug(x, SR, seed=8))
    assert a.shape == x.shape and a.dtype == x.dtype and torch.isfinite(a).all()


def test_batch_equals_single_calls():
    aug = Augmenter(gain_p=0.7, polarity_p=0.5, noise_p=0.7, eq_p=0.7, lowpass_p=0.5)
    x = _audio(batch=4, length=3001, seed=1)
    batched = aug(x, SR, seed=42)
    assert batched.shape == x.shape
    for i in range(4):
        torch.testing.assert_close(batched[i], aug(x[i], SR, seed=42, index=i), rtol=0, atol=0)
    # an item's output does not depend on its neighbours
    torch.testing.assert_close(aug(x[2:], SR, seed=42, index=2), batched[2:], rtol=0, atol=0)


def test_gain_lands_in_range():
    aug = Augmenter(**{**OFF, "gain_p": 1.0, "gain_db": (-6.0, 3.0)}, peak_limit=None)
    x = _audio(amp=0.05)
    gains = [_db(float((aug(x, SR, seed=s) ** 2).mean() / (x**2).mean())) for s in range(20)]
    assert all(-6.0 - 1e-4 <= g <= 3.0 + 1e-4 for g in gains)
    assert max(gains) - min(gains) > 3.0  # actually random


def test_polarity_flip():
    aug = Augmenter(**{**OFF, "polarity_p": 1.0})
    x = _audio()
    torch.testing.assert_close(aug(x, SR, seed=0), -x)


@pytest.mark.parametrize("color", ["white", "pink", "brown"])
def test_noise_snr_lands_in_range(color):
    aug = Augmenter(
        **{**OFF, "noise_p": 1.0}, noise_snr_db=(10.0, 20.0), noise_colors=[color], peak_limit=None
    )
    x = _audio(batch=4, length=4096, seed=2).double()
    y = aug(x, SR, seed=5)
    snrs = [_db(float((x[i] ** 2).sum() / ((y[i] - x[i]) ** 2).sum())) for i in range(4)]
    assert all(10.0 - 1e-6 <= s <= 20.0 + 1e-6 for s in snrs), snrs


def test_noise_colours_differ_in_spectrum():
    x = (
        torch.zeros(8192).double()
        + 1e-3 * torch.randn(8192, generator=torch.Generator().manual_seed(0)).double()
    )
    tilt = {}
    for color in ("white", "pink", "brown"):
        aug = Augmenter(
            **{**OFF, "noise_p": 1.0}, noise_snr_db=(-30.0, -30.0), noise_colors=[color], peak_limit=None
        )
        spec = torch.fft.rfft(aug(x, SR, seed=1)).abs() ** 2
        tilt[color] = float(spec[10:200].mean() / spec[2000:4000].mean())  # low / high band power
    assert tilt["white"] < tilt["pink"] < tilt["brown"]


def test_noise_on_silence_stays_silent():
    aug = Augmenter(**{**OFF, "noise_p": 1.0})
    assert torch.equal(aug(torch.zeros(1000), SR, seed=3), torch.zeros(1000))


def test_eq_matches_torchaudio_lfilter_chain():
    aug = Augmenter(
        **{**OFF, "eq_p": 1.0, "lowpass_p": 1.0}, eq_sections=5, lowpass_hz=(2000.0, 6000.0), peak_limit=None
    )
    x = _audio(batch=3, length=4000, seed=3).double()
    params, sos, _ = aug.draw_batch(3, SR, seed=11)
    assert sos.shape == (3, 7, 5) and not np.allclose(sos[:, :, 0], 1.0)
    ref = biquad_cascade_torch(x, torch.from_numpy(sos))
    torch.testing.assert_close(aug(x, SR, seed=11), ref, rtol=0, atol=1e-5)
    # the op on its own, float32 and float64, numpy and torch
    torch.testing.assert_close(biquad_cascade(x, sos), ref, rtol=0, atol=1e-10)
    y32 = biquad_cascade(x.float().numpy(), sos)
    assert y32.dtype == np.float32 and np.abs(y32 - ref.numpy()).max() < 1e-5


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("sections", [0, 5])
def test_chain_kernel_matches_torch_reference(dtype, sections):
    """Each noise colour, polarity, a peak limit that bites, noise off, a silent item; a seed
    above 2**63 (the reference carries the hash in int64)."""
    x = _audio(batch=5, length=3000, seed=4, amp=0.4).to(dtype)
    x[3] = 0.0
    design = [rbj_biquad("peak", 900.0, SR, 6.0, 1.2), rbj_biquad("low_shelf", 200.0, SR, -4.0)]
    sos = np.stack([np.concatenate([design, butterworth_lowpass(5000.0, SR, 3)])[:sections]] * 5)
    params = np.array(
        [
            [1.3, 1, 0, 6.0, 0.3],
            [-0.7, 1, 1, 10.0, 0.0],
            [0.9, 1, 2, 3.0, 0.5],
            [1.0, 1, 1, 10.0, 0.5],
            [1.0, 0, 0, 0.0, 0.0],
        ]
    )
    seeds = np.array([1, 2**63 + 7, 12345, 9, 4], dtype=np.uint64)
    ours = augment_batch(x, params, sos, seeds, backend="numba")
    ref = augment_batch(x, params, sos, seeds, backend="torch")
    assert ours.dtype == ref.dtype == dtype and ours.shape == x.shape
    tol = 2e-7 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(ours, ref, rtol=tol, atol=tol)
    assert float(ours[0].abs().max()) == pytest.approx(0.3) and torch.equal(
        ours[3], torch.zeros_like(ours[3])
    )


def test_augment_batch_names_bad_shapes():
    params, sos, seeds = np.zeros((2, 5)), np.zeros((2, 1, 5)), np.zeros(2, dtype=np.uint64)
    with pytest.raises(ValueError, match=r"params \(3, 5\)"):
        augment_batch(torch.zeros(3, 10), params, sos, seeds)
    with pytest.raises(ValueError, match=r"seeds \(3,\) must be \(2,\)"):
        augment_batch(torch.zeros(2, 10), params, sos, np.zeros(3, dtype=np.uint64))


def test_rbj_designs_have_expected_gains():
    def mag_at(sos, f):
        z = np.exp(-1j * 2 * np.pi * f / SR)
        b0, b1, b2, a1, a2 = sos
        return abs((b0 + b1 * z + b2 * z * z) / (1 + a1 * z + a2 * z * z))

    assert mag_at(rbj_biquad("peak", 1000, SR, 6.0, 1.0), 1000) == pytest.approx(10 ** (6 / 20))
    assert mag_at(rbj_biquad("low_shelf", 300, SR, -6.0, 0.7), 10) == pytest.approx(10 ** (-6 / 20), rel=1e-3)
    assert mag_at(rbj_biquad("high_shelf", 3000, SR, 4.0, 0.7), 7900) == pytest.approx(
        10 ** (4 / 20), rel=1e-2
    )
    lp = butterworth_lowpass(2000, SR, 2)
    assert np.prod([mag_at(s, 2000) for s in lp]) == pytest.approx(1 / math.sqrt(2), rel=1e-6)


def test_peak_limit_and_finite_on_extremes():
    aug = Augmenter(gain_p=1, gain_db=(12.0, 12.0), noise_p=1, eq_p=1, eq_gain_db=(12.0, 12.0), lowpass_p=1)
    t = torch.arange(4001.0)
    for x in (torch.sign(torch.sin(t / 7)), torch.zeros(4001), _audio(length=4001, amp=0.9)):
        y = aug(x, SR, seed=9)
        assert y.shape == x.shape and torch.isfinite(y).all() and y.abs().max() <= 0.999 + 1e-6


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="gain_db"):
        Augmenter(gain_db=(3.0, -3.0))
    with pytest.raises(ValueError, match="noise_colors"):
        Augmenter(noise_colors=["purple"])
    with pytest.raises(ValueError, match=r"\(T,\) or \(B, T\)"):
        Augmenter()(torch.zeros(1, 2, 3), SR, seed=0)


def test_hydra_config_instantiates():
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    configs = Path(__file__).resolve().parents[1] / "configs"
    with initialize_config_dir(config_dir=str(configs), version_base="1.3"):
        cfg = compose("train.yaml", overrides=["+data/augment=default"])
    aug = instantiate(cfg.data.augment)
    assert isinstance(aug, Augmenter)
    x = _audio(length=2048)
    y = aug(x, sample_rate=24000, seed=123)
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_reference_output_guards_against_silent_changes():
    """Pinned output of one fully-switched-on call: a change to the parameter draws, the
    noise hash or the filters shows up here (update the numbers only on purpose)."""
    aug = Augmenter(gain_p=1, polarity_p=0.5, noise_p=1, eq_p=1, lowpass_p=1)
    t = torch.arange(2000, dtype=torch.float64)
    y = aug(0.2 * torch.sin(2 * math.pi * 440 * t / SR), SR, seed=2024)
    expected = [-0.0007530551, -0.0231662411, -0.0994667471, 0.1168180105, 0.033897143, -0.0087838086]
    assert y[[0, 1, 10, 100, 1000, 1999]].tolist() == pytest.approx(expected, abs=1e-9)
    assert float((y**2).sum()) == pytest.approx(14.588158403, rel=1e-9)
