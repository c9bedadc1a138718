"""The Vocos paper's CREPE pitch metrics (vocoder_train.metrics.crepe) on generated signals.

Most tests run CREPE "tiny" (the definition around the network is the same; "full" costs ~15x
more on a CPU); one runs "full", the paper's, on a short clip.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch

from vocoder_train.metrics import compute_metrics, crepe_metrics, crepe_track, track_metrics
from vocoder_train.metrics.crepe import (
    FMAX,
    FMIN,
    HOP_LENGTH,
    SILENCE_DB,
    UNVOICED_THRESHOLD,
    WINDOW,
    silent_frames,
)
from vocoder_train.metrics.pitch import PitchTrack
from vocoder_train.metrics.registry import MetricOptions

SR = 16000
TINY = MetricOptions("tiny", "cpu")


@functools.lru_cache(maxsize=8)
def _voiced(f0: float = 150.0, seconds: float = 0.6, sr: int = SR, amp: float = 0.3) -> np.ndarray:
    """A harmonic tone up to ~7.8 kHz over a faint noise floor: broadband enough for vocos'
    perceptually weighted loudness gate, which a bare sine under -60 dB of average loudness fails."""
    t = np.arange(int(sr * seconds)) / sr
    x = sum(amp / k * np.sin(2 * np.pi * k * f0 * t + k) for k in range(1, 60) if k * f0 < min(7800, sr / 2))
    return x + 1e-3 * np.random.default_rng(0).standard_normal(t.shape)


def _noise(seconds: float = 0.6, amp: float = 0.1) -> np.ndarray:
    return amp * np.random.default_rng(1).standard_normal(int(SR * seconds))


def test_reference_against_itself_is_ideal():
    x = _voiced()
    m = crepe_metrics(x, x, SR, "tiny", "cpu")
    assert m["vuv_f1"] == 1.0 and m["periodicity"] == 0.0 and m["pitch_cents"] == 0.0
    assert compute_metrics(x, x, SR, ("periodicity", "vuv_f1"), TINY) == {"periodicity": 0.0, "vuv_f1": 1.0}


def test_paper_model_full_on_a_short_clip():
    x = _voiced(seconds=0.25)  # 16 frames: a few seconds of CPU for CREPE full
    track = crepe_track(x, SR)  # defaults: the paper's "full"
    assert track.voiced.all() and np.allclose(track.f0, 150.0, rtol=0.03)
    m = crepe_metrics(x, x, SR)
    assert m["vuv_f1"] == 1.0 and m["periodicity"] == 0.0


def test_voiced_tone_scores_better_than_noise_or_silence():
    x = _voiced()
    slightly = crepe_metrics(
        x, x + 3e-3 * np.random.default_rng(2).standard_normal(x.shape), SR, "tiny", "cpu"
    )
    noise = crepe_metrics(x, _noise(), SR, "tiny", "cpu")
    silence = crepe_metrics(x, np.zeros_like(x), SR, "tiny", "cpu")
    assert slightly["vuv_f1"] > 0.95 and slightly["periodicity"] < 0.1
    for bad in (noise, silence):
        assert bad["vuv_f1"] < 0.2 and bad["periodicity"] > 0.5, bad
    assert math.isnan(silence["pitch_cents"])  # no frame voiced in both
    octave = crepe_metrics(x, _voiced(300.0), SR, "tiny", "cpu")
    assert octave["pitch_cents"] == pytest.approx(1200, abs=60)


def test_frames_thresholds_and_rate_follow_the_definition():
    x = np.concatenate([_voiced(seconds=0.4), np.zeros(SR // 4), _noise(0.3)])
    track = crepe_track(x, SR, "tiny", "cpu")
    assert track.f0.shape == (1 + (x.size - WINDOW) // HOP_LENGTH,)  # pad=False: whole windows only
    # unvoiced exactly where periodicity is below 0.21; silent frames have periodicity 0 and no f0
    np.testing.assert_array_equal(track.voiced, track.periodicity >= UNVOICED_THRESHOLD)
    assert np.all(track.f0[~track.voiced] == 0) and np.all(
        (track.f0[track.voiced] >= FMIN) & (track.f0[track.voiced] <= FMAX)
    )
    silent = silent_frames(torch.from_numpy(x).float())
    assert silent.any() and np.all(track.periodicity[silent] == 0)
    # another rate is resampled to 16 kHz first: the same number of frames for the same duration
    x24 = _voiced(seconds=0.4, sr=24000)
    assert crepe_track(x24, 24000, "tiny", "cpu").f0.shape == (1 + (int(0.4 * SR) - WINDOW) // HOP_LENGTH,)
    short = crepe_metrics(x[:1000], x[:1000], SR, "tiny", "cpu")  # under one 1024-sample window
    assert all(math.isnan(v) for v in short.values())


def _vocos_loudness(x: torch.Tensor) -> np.ndarray:
    """vocos' metrics/periodicity.py gate, composed from the calls it makes (torchaudio + librosa)."""
    import librosa
    import torchaudio
    from torchcrepe.loudness import REF_DB

    spec = torchaudio.functional.spectrogram(
        x[None],
        pad=0,
        window=torch.hann_window(WINDOW),
        n_fft=WINDOW,
        hop_length=HOP_LENGTH,
        win_length=WINDOW,
        power=2,
        normalized=False,
        center=False,
    )
    freqs = librosa.fft_frequencies(sr=SR, n_fft=WINDOW)
    with np.errstate(divide="ignore"):
        return (librosa.perceptual_weighting(spec.numpy(), freqs) - REF_DB).mean(axis=1)[0]


@pytest.mark.parametrize("gain_db", [0.0, -30.0, -45.0, -60.0])
def test_silence_gate_is_vocos_at_minus_60_db(gain_db):
    x = torch.from_numpy(
        np.concatenate([_voiced(seconds=0.3), 0.02 * _noise(0.3)]) * 10 ** (gain_db / 20)
    ).float()
    loudness = _vocos_loudness(x)
    np.testing.assert_array_equal(silent_frames(x), loudness < SILENCE_DB)


def test_silence_gate_threshold_is_minus_60_db():
    # a gain moves every frame's loudness by the same dB (the 80 dB range is relative to the loudest bin)
    x = torch.from_numpy(_voiced(seconds=0.3)).float()
    level = float(np.median(_vocos_loudness(x)))
    above, below = (x * 10 ** ((SILENCE_DB - level + d) / 20) for d in (1.0, -1.0))
    assert not silent_frames(above)[3:-3].any() and silent_frames(below)[3:-3].all()


def test_equals_torchcrepe_predict_with_vocos_gate_and_threshold():
    import torchcrepe

    x = torch.from_numpy(
        np.concatenate([_voiced(seconds=0.3), np.zeros(SR // 10), _voiced(220.0, 0.3)])
    ).float()
    np.random.seed(0)  # torchcrepe's f0 dither: the seed crepe_track uses
    pitch, periodicity = torchcrepe.predict(
        x[None], SR, fmin=50.0, fmax=550, model="tiny", return_periodicity=True, pad=False, device="cpu"
    )
    periodicity[0, torch.from_numpy(_vocos_loudness(x) < -60)] = 0
    pitch = torchcrepe.threshold.At(0.21)(pitch, periodicity)[0].numpy()
    track = crepe_track(x, SR, "tiny", "cpu")
    np.testing.assert_allclose(track.periodicity, periodicity[0].numpy(), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(track.voiced, ~np.isnan(pitch))
    np.testing.assert_allclose(track.f0[track.voiced], pitch[~np.isnan(pitch)], rtol=1e-6)


def test_track_metrics_by_hand():
    ref = PitchTrack(
        f0=np.array([100.0, 100.0, 0.0, 0.0, 200.0]),
        periodicity=np.array([0.9, 0.8, 0.1, 0.0, 0.7]),
        voiced=np.array([True, True, False, False, True]),
    )
    deg = PitchTrack(
        f0=np.array([200.0, 0.0, 150.0, 0.0, 200.0]),
        periodicity=np.array([0.6, 0.1, 0.5, 0.0, 0.7]),
        voiced=np.array([True, False, True, False, True]),
    )
    m = track_metrics(ref, deg)
    # TP 2 (frames 0, 4), FP 1 (frame 2), FN 1 (frame 1): F1 = 4 / 6
    assert m["vuv_f1"] == pytest.approx(4 / 6)
    assert m["periodicity"] == pytest.approx(math.sqrt((0.3**2 + 0.7**2 + 0.4**2) / 5))
    assert m["pitch_cents"] == pytest.approx(
        math.sqrt(1200**2 / 2)
    )  # an octave on 1 of 2 frames voiced in both
    unvoiced = PitchTrack(np.zeros(3), np.zeros(3), np.zeros(3, dtype=bool))
    assert track_metrics(unvoiced, unvoiced)["vuv_f1"] == 1.0


def test_registry_names_and_options():
    from vocoder_train.metrics.registry import DEFAULT_METRICS, METRICS, SLOW_METRICS

    assert {"periodicity", "vuv_f1", "pitch_cents"} <= SLOW_METRICS and "periodicity" in DEFAULT_METRICS
    assert METRICS["periodicity"].group == "crepe" and METRICS["periodicity_yin"].group == "yin"
    x = _voiced()
    yin = compute_metrics(x, x, SR, ("periodicity_yin", "vuv_f1_yin", "pitch_cents_yin"))
    assert yin == {"periodicity_yin": 0.0, "vuv_f1_yin": 1.0, "pitch_cents_yin": 0.0}
    with pytest.raises(ValueError, match="crepe model 'huge'"):
        MetricOptions("huge")
