"""HiFi-GAN's mel front end: the formula, the frame count, a generator built on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers.training import changed as _changed
from tests.helpers.training import fit as _fit
from vocoder_train.models.frontends import HifiganMelFeatures
from vocoder_train.models.generator import build_generator
from vocoder_train.training.run import check_run_config


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default): linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(f < 1000.0, f * 3.0 / 200.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / log_step)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    log_step = np.log(6.4) / 27.0
    return np.where(m < 15.0, m * 200.0 / 3.0, 1000.0 * np.exp(log_step * (m - 15.0)))


def _slaney_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """librosa.filters.mel(htk=False, norm="slaney") written out: (n_mels, n_fft // 2 + 1)."""
    fft_freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    mel_freqs = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    weights = np.zeros((n_mels, len(fft_freqs)))
    for i in range(n_mels):
        lo, centre, hi = mel_freqs[i : i + 3]
        rising = (fft_freqs - lo) / (centre - lo)
        falling = (hi - fft_freqs) / (hi - centre)
        weights[i] = np.maximum(0, np.minimum(rising, falling)) * 2.0 / (hi - lo)  # Slaney area norm
    return weights


def _hifigan_mel(audio: np.ndarray, sr, n_fft, hop, win, n_mels, fmin, fmax) -> np.ndarray:
    """HiFi-GAN's mel_spectrogram as a formula: reflect pad (n_fft-hop)/2, framed DFT, sqrt(|X|^2 + 1e-9),
    Slaney mel, log(clamp(., 1e-5)). audio (T,) -> (n_mels, frames), float64."""
    pad = (n_fft - hop) // 2
    x = np.pad(audio.astype(np.float64), (pad, pad), mode="reflect")
    window = np.zeros(n_fft)
    start = (n_fft - win) // 2
    window[start : start + win] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)  # periodic Hann
    n_frames = 1 + (len(x) - n_fft) // hop
    frames = np.stack([x[i * hop : i * hop + n_fft] * window for i in range(n_frames)], axis=1)
    spec = np.fft.rfft(frames, axis=0)
    mag = np.sqrt(spec.real**2 + spec.imag**2 + 1e-9)
    mel = _slaney_filterbank(sr, n_fft, n_mels, fmin, fmax) @ mag
    return np.log(np.maximum(mel, 1e-5))


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # HiFi-GAN V1: 22.05 kHz, 1024/256/1024, 80 bins, 0-8000 Hz
        dict(sample_rate=16000, n_fft=512, hop_length=128, win_length=384, n_mels=40, fmin=50.0, fmax=None),
    ],
)
def test_hifigan_mel_equals_the_formula(kwargs):
    fe = HifiganMelFeatures(**kwargs)
    hop = fe.hop_length
    params = dict(
        sample_rate=22050, n_fft=1024, hop_length=256, win_length=None, n_mels=80, fmin=0.0, fmax=8000.0
    )
    params.update(kwargs)
    sr = params["sample_rate"]
    torch.manual_seed(0)
    t = torch.arange(16 * hop) / sr
    audio = 0.3 * torch.sin(2 * np.pi * 440 * t) + 0.05 * torch.randn(2, t.numel())
    audio[1, : 4 * hop] = 0.0  # a silent stretch reaches the 1e-5 clamp
    ours = fe(audio)
    assert ours.shape == (2, params["n_mels"], audio.shape[-1] // hop)
    for b in range(2):
        ref = _hifigan_mel(
            audio[b].numpy(),
            sr,
            params["n_fft"],
            hop,
            params["win_length"] or params["n_fft"],
            params["n_mels"],
            params["fmin"],
            params["fmax"] if params["fmax"] is not None else sr / 2,
        )
        np.testing.assert_allclose(ours[b].double().numpy(), ref, rtol=0, atol=1e-5)


def test_frames_are_t_over_hop_and_the_istft_head_gives_back_t():
    cfg = {
        "_target_": "vocoder_train.models.generator.VocosGenerator",
        "feature_extractor": {
            "_target_": "vocoder_train.models.frontends.HifiganMelFeatures",
            "sample_rate": 16000,
            "n_fft": 256,
            "hop_length": 64,
            "n_mels": 32,
            "fmin": 0.0,
            "fmax": 8000.0,
        },
        "backbone": {
            "_target_": "vocos.models.VocosBackbone",
            "input_channels": 32,
            "dim": 32,
            "intermediate_dim": 64,
            "num_layers": 1,
        },
        "head": {
            "_target_": "vocos.heads.ISTFTHead",
            "dim": 32,
            "n_fft": 256,
            "hop_length": 64,
            "padding": "same",
        },
    }
    torch.manual_seed(0)
    gen = build_generator(cfg)
    for t in (4096, 4096 + 50):
        assert gen.features(torch.randn(1, t)).shape[-1] == t // 64
    audio = torch.randn(2, 4096) * 0.1
    assert gen.synthesize(gen.features(audio)).shape == audio.shape  # no trimming needed
    # one training step moves the weights
    opt = torch.optim.AdamW(gen.parameters(), lr=1e-3)
    before = gen.head.out.weight.detach().clone()
    loss = (gen(audio) - audio).abs().mean()
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and not torch.equal(before, gen.head.out.weight)


def test_generator_config_with_the_hifigan_front_end_trains_a_gan_step(tiny_cfg, tmp_path):
    cfg = tiny_cfg(
        "model/generator=vocos_hifigan_frontend",
        "model.generator.backbone.dim=32",
        "model.generator.backbone.intermediate_dim=64",
        "model.generator.backbone.num_layers=1",
    )
    check_run_config(cfg)
    gen = build_generator(cfg.model.generator)
    assert isinstance(gen.feature_extractor, HifiganMelFeatures)
    assert gen.feature_extractor.mel_basis.shape == (cfg.audio.n_mels, cfg.audio.n_fft // 2 + 1)
    audio = torch.randn(2, cfg.audio.segment_length) * 0.1
    assert gen(audio).shape == audio.shape
    module = _fit(cfg, steps=2, tmp_path=tmp_path)
    assert _changed(module._before[0], module.generator)


def test_odd_padding_is_refused():
    with pytest.raises(ValueError, match="n_fft - hop_length = 1023 is odd"):
        HifiganMelFeatures(n_fft=1024, hop_length=1)
