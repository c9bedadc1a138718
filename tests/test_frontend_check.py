"""vocoder-frontend-check: a mel from a known different front-end is diagnosed setting by setting."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchaudio
from vocos.feature_extractors import MelSpectrogramFeatures

from vocoder_train.cli.frontend_check import main
from vocoder_train.dsp.frontend import compare_frontends

SR = 22050
OURS = {
    "_target_": "vocos.feature_extractors.MelSpectrogramFeatures",
    "sample_rate": SR,
    "n_fft": 1024,
    "hop_length": 256,
    "n_mels": 80,
    "padding": "center",
}


@pytest.fixture(scope="module")
def audio() -> torch.Tensor:
    """0.8 s: a chirp, tone bursts with onsets, and 0.15 s of digital silence (shows the log floor)."""
    g = torch.Generator().manual_seed(0)
    t = torch.arange(int(0.8 * SR)) / SR
    x = 0.3 * torch.sin(2 * math.pi * (200 * t + 3000 * t**2)) * (1 + 0.5 * torch.sin(2 * math.pi * 7 * t))
    x = x + 0.2 * torch.sin(2 * math.pi * 1500 * t) * (torch.sin(2 * math.pi * 4 * t) > 0.3)
    x = x + 0.01 * torch.randn(t.shape, generator=g)
    x[int(0.5 * SR) : int(0.65 * SR)] = 0.0
    return x


def vocos_mel(audio: torch.Tensor, n_mels: int = 80) -> np.ndarray:
    fe = MelSpectrogramFeatures(SR, 1024, 256, n_mels, padding="center")
    return fe(audio.unsqueeze(0))[0].numpy()


def torchaudio_mel(
    audio: torch.Tensor, *, n_mels=80, f_max=None, norm=None, mel_scale="htk", power=1.0, same_padding=False
) -> torch.Tensor:
    mel = torchaudio.transforms.MelSpectrogram(
        SR,
        n_fft=1024,
        hop_length=256,
        n_mels=n_mels,
        f_max=f_max,
        norm=norm,
        mel_scale=mel_scale,
        power=power,
        center=not same_padding,
    )
    x = audio.unsqueeze(0)
    if same_padding:
        x = torch.nn.functional.pad(x.unsqueeze(0), (384, 384), mode="reflect")[0]
    return mel(x)[0]


def test_identical_settings_report_no_difference(audio):
    report = compare_frontends(vocos_mel(audio), audio, SR, OURS)
    assert report.differences == {} and report.fits
    assert report.lines()[0].startswith("no difference")
    assert report.error < 1e-4 and report.frame_offset == 0


def test_hifigan_front_end_is_diagnosed(audio):
    """HiFi-GAN's meldataset: slaney scale + norm, fmax 8000, clamp 1e-5, 80 bins, reflect 'same' padding."""
    mel = torchaudio_mel(audio, f_max=8000.0, norm="slaney", mel_scale="slaney", same_padding=True)
    sample = torch.log(torch.clamp(mel, min=1e-5)).numpy()
    ours = dict(OURS, n_mels=100)
    report = compare_frontends(sample, audio, SR, ours)
    assert set(report.differences) == {"n_mels", "padding", "mel_scale", "mel_norm", "f_max", "log_floor"}
    text = "\n".join(report.lines())
    assert "mel scale: yours slaney, ours htk" in text
    assert "f_max: yours 8000 Hz, ours 11025 Hz" in text
    assert "log floor: yours 1e-05, ours 1e-07" in text
    assert "mel bins: yours 80, ours 100" in text
    assert report.fits and report.error < 1e-3


def test_log10_is_diagnosed(audio):
    report = compare_frontends(vocos_mel(audio) / math.log(10), audio, SR, OURS)
    assert set(report.differences) == {"log"}
    assert report.differences["log"][0].startswith("log10")


def test_power_spectrum_is_diagnosed(audio):
    sample = torch.log(torch.clamp(torchaudio_mel(audio, power=2.0), min=1e-7)).numpy()
    report = compare_frontends(sample, audio, SR, OURS)
    assert set(report.differences) == {"power"}


def test_per_utterance_normalization_is_diagnosed(audio):
    mel = vocos_mel(audio)
    report = compare_frontends((mel - mel.mean()) / mel.std(), audio, SR, OURS)
    assert set(report.differences) == {"normalize"}


def test_cli_prints_the_differences(audio, tmp_path, capsys):
    from vocoder_train.io.audio import save_audio

    save_audio(tmp_path / "a.wav", audio * 0.9, SR)  # 16-bit: the quantization noise floor is fine
    np.save(tmp_path / "a.npy", vocos_mel(audio * 0.9)[None] / math.log(10))
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "audio: {sample_rate: 22050}\nmodel:\n  generator:\n    feature_extractor:\n"
        "      _target_: vocos.feature_extractors.MelSpectrogramFeatures\n"
        "      sample_rate: ${audio.sample_rate}\n      n_fft: 1024\n      hop_length: 256\n"
        "      n_mels: 80\n      padding: center\n"
    )
    assert (
        main(["--audio", str(tmp_path / "a.wav"), "--mel", str(tmp_path / "a.npy"), "--config", str(cfg)])
        == 1
    )
    out = capsys.readouterr().out
    assert "log base: yours log10" in out and "ours natural log" in out
    assert main(["--audio", str(tmp_path / "missing.wav"), "--mel", str(tmp_path / "a.npy")]) == 2


def _run_cli(tmp_path, audio: torch.Tensor, mel: np.ndarray, target: str, padding: str) -> int:
    """vocoder-frontend-check on ``audio`` (saved as a.wav) and ``mel`` against a run config whose
    front end is ``target`` at 22.05 kHz, n_fft 1024, hop 256, 80 mels, ``padding``."""
    from vocoder_train.io.audio import save_audio

    save_audio(tmp_path / "a.wav", audio, SR)
    np.save(tmp_path / "a.npy", mel)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"model:\n  generator:\n    feature_extractor:\n      _target_: {target}\n"
        f"      sample_rate: {SR}\n      n_fft: 1024\n      hop_length: 256\n      n_mels: 80\n"
        f"      padding: {padding}\n"
    )
    return main(["--audio", str(tmp_path / "a.wav"), "--mel", str(tmp_path / "a.npy"), "--config", str(cfg)])


def test_causal_front_end_is_compared(audio, tmp_path, capsys):
    """A causal model's own mel matches it; a centred mel against it is diagnosed as padding, from the CLI."""
    from vocoder_train.models.causal import CausalMelSpectrogramFeatures

    target = "vocoder_train.models.causal.CausalMelSpectrogramFeatures"
    own = CausalMelSpectrogramFeatures(SR, 1024, 256, 80)(audio.unsqueeze(0))[0].numpy()
    report = compare_frontends(own, audio, SR, dict(OURS, _target_=target, padding="causal"))
    assert report.differences == {} and report.fits and report.error < 1e-4
    assert _run_cli(tmp_path, audio * 0.9, vocos_mel(audio * 0.9), target, "causal") == 1
    out = capsys.readouterr().out
    assert "padding: yours center" in out and "ours causal" in out


def test_a_transposed_mel_is_named(audio, tmp_path, capsys):
    mel = vocos_mel(audio * 0.9).T  # (frames, n_mels)
    assert (
        _run_cli(tmp_path, audio * 0.9, mel, "vocos.feature_extractors.MelSpectrogramFeatures", "center") == 2
    )
    assert "looks transposed" in capsys.readouterr().err


def test_a_mel_nothing_explains_is_not_called_a_match(audio):
    noise = np.random.default_rng(0).normal(size=vocos_mel(audio).shape)
    report = compare_frontends(noise, audio, SR, OURS)
    assert not report.fits and not report.matches
    assert report.lines()[0].startswith("no candidate fits well")
    assert not any(line.startswith("no difference") for line in report.lines())
