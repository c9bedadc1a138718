"""DNSMOS from the ONNX models speechmos ships (vocoder_train.metrics.dnsmos), on generated audio."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vocoder_train.metrics import compute_metrics, dnsmos, reference_scores
from vocoder_train.metrics.registry import DNSMOS_METRICS, reference_columns

SR = 24000  # not DNSMOS' 16 kHz: the metric resamples
# DNSMOS repeats a clip until it lasts 9.01 s, then scores 9.01 s windows a second apart: clips
# of 1.15 s and 2.3 s become one 9.2 s window each, the cheapest


def _speechlike(seconds: float = 2.3) -> np.ndarray:
    """Syllable-like bursts of a harmonic tone with gliding f0."""
    t = np.arange(int(SR * seconds)) / SR
    phase = 2 * np.pi * np.cumsum(170 + 30 * np.sin(2 * np.pi * 1.3 * t)) / SR
    env = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None) ** 0.7
    return env * sum(0.25 / k * np.sin(k * phase) for k in range(1, 40) if k * 200 < SR / 2)


def test_scores_are_finite_in_range_and_noise_lowers_background_quality():
    clean = _speechlike()
    noisy = clean + 0.05 * np.random.default_rng(0).standard_normal(clean.shape)
    a, b = dnsmos(clean, SR), dnsmos(noisy, SR)
    assert list(a) == list(DNSMOS_METRICS)
    for scores in (a, b):
        assert all(math.isfinite(v) and 1.0 <= v <= 5.0 for v in scores.values()), scores
    assert a["dnsmos_bak"] > b["dnsmos_bak"] + 0.5


def test_registry_scores_generated_audio_and_the_reference_alone():
    x = _speechlike(1.15)
    y = 1.5 * x  # beyond [-1, 1] in places: clipped as a 16-bit file would be, not refused
    m = compute_metrics(x, y, SR, ("mel_l1", "dnsmos_ovrl", "dnsmos_p808"))
    assert list(m) == ["mel_l1", "dnsmos_ovrl", "dnsmos_p808"] and 1 <= m["dnsmos_ovrl"] <= 5
    assert reference_columns(("mel_l1", "dnsmos_ovrl", "dnsmos_p808")) == (
        "ref_dnsmos_ovrl",
        "ref_dnsmos_p808",
    )
    ref = reference_scores(x, SR, ("mel_l1", "dnsmos_ovrl", "dnsmos_p808"))
    own = dnsmos(x, SR)
    assert ref == pytest.approx(
        {"ref_dnsmos_ovrl": own["dnsmos_ovrl"], "ref_dnsmos_p808": own["dnsmos_p808"]}
    )
    assert reference_scores(x, SR, ("mel_l1", "pesq")) == {}


def test_silence_is_nan_not_an_error():
    assert all(math.isnan(v) for v in dnsmos(np.zeros(SR), SR).values())
