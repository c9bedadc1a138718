"""ConsistencyISTFTHead (models/heads.py), the HeadMagnitudeLoss that trains its magnitude, and the
generator's mel projection setting."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from vocos.heads import ISTFTHead

from vocoder_train.dsp import head_stft
from vocoder_train.losses.spectral import HeadMagnitudeLoss
from vocoder_train.models.heads import ConsistencyISTFTHead

N_FFT, HOP, DIM = 128, 32, 16


def _tone(n: int = 4096, sr: int = 8000) -> torch.Tensor:
    t = torch.arange(n) / sr
    return (
        0.5 * torch.sin(2 * torch.pi * 440 * t) + 0.2 * torch.sin(2 * torch.pi * 1230 * t + 1.0)
    ).unsqueeze(0)


def _spectral_convergence(est: torch.Tensor, ref: torch.Tensor) -> float:
    return float(torch.linalg.norm(est - ref) / torch.linalg.norm(ref))


@pytest.mark.parametrize("padding", ["same", "center"])
def test_head_stft_inverts_the_heads_istft(padding):
    head = ConsistencyISTFTHead(DIM, N_FFT, HOP, padding=padding, refine_iters=0)
    x = torch.randn(2, 40 * HOP)
    frames = 41 if padding == "center" else 40
    spec = head.analysis(x, frames)
    assert spec.shape == (2, N_FFT // 2 + 1, frames)
    y = head.istft(spec)
    n = min(x.shape[-1], y.shape[-1]) - N_FFT  # the last frames see the zero padding
    torch.testing.assert_close(y[..., N_FFT:n], x[..., N_FFT:n], atol=1e-5, rtol=1e-5)


def test_without_refinement_it_is_vocos_istfthead():
    plain = ISTFTHead(DIM, N_FFT, HOP, padding="same")
    head = ConsistencyISTFTHead(DIM, N_FFT, HOP, padding="same", refine_iters=0)
    assert set(head.state_dict()) == set(plain.state_dict())
    head.load_state_dict(plain.state_dict())
    hidden = torch.randn(2, 30, DIM)
    for mode in (True, False):
        head.train(mode), plain.train(mode)
        torch.testing.assert_close(head(hidden), plain(hidden))
    # training mode never refines, whatever refine_iters says
    refining = ConsistencyISTFTHead(DIM, N_FFT, HOP, padding="same", refine_iters=8)
    refining.load_state_dict(plain.state_dict())
    refining.train()
    torch.testing.assert_close(refining(hidden), plain(hidden))


def test_refinement_moves_the_magnitude_toward_the_heads_own():
    """A true magnitude with a random phase: the plain ISTFT's output is far from that magnitude,
    the refined output close to it, and closer with more iterations."""
    head = ConsistencyISTFTHead(DIM, N_FFT, HOP, padding="same", refine_iters=32).eval()
    x = _tone()
    frames = x.shape[-1] // HOP
    mag = head.analysis(x, frames).abs()
    torch.manual_seed(0)
    spec = mag * torch.exp(2j * torch.pi * torch.rand(mag.shape))
    errs = [
        _spectral_convergence(head.analysis(head.refine(spec, it), frames).abs(), mag) for it in (0, 4, 32)
    ]
    assert errs[0] > 0.3 and errs[1] < errs[0] and errs[2] < 0.5 * errs[0], errs


def test_a_consistent_spectrum_is_a_fixed_point():
    head = ConsistencyISTFTHead(DIM, N_FFT, HOP, padding="same", refine_iters=16).eval()
    x = _tone()
    spec = head.analysis(x, x.shape[-1] // HOP)
    y = head.refine(spec)
    torch.testing.assert_close(
        y[..., N_FFT:-N_FFT], head.istft(spec)[..., N_FFT:-N_FFT], atol=1e-4, rtol=1e-4
    )


def test_eval_forward_refines_and_costs_no_graph():
    head = ConsistencyISTFTHead(DIM, N_FFT, HOP, refine_iters=4).eval()
    hidden = torch.randn(1, 20, DIM, requires_grad=True)
    out = head(hidden)
    assert out.shape == head.istft(head.spectrum(hidden)).shape
    assert not torch.allclose(out, head.istft(head.spectrum(hidden)).detach())


@pytest.mark.parametrize("kwargs", [{"refine_iters": -1}, {"momentum": 1.0}, {"momentum": -0.1}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        ConsistencyISTFTHead(DIM, N_FFT, HOP, **kwargs)


def test_head_magnitude_loss_is_zero_on_the_target_and_trains_the_magnitude():
    loss = HeadMagnitudeLoss(N_FFT, HOP, padding="same", sample_rate=8000, n_mels=16, mel_weight=1.0)
    x = _tone()
    frames = x.shape[-1] // HOP
    target = head_stft(x, torch.hann_window(N_FFT), N_FFT, HOP, "same", frames)
    assert float(loss(target, x)) == pytest.approx(0.0, abs=1e-6)
    # phase does not count; magnitude does
    assert float(loss(target * torch.exp(1j * torch.rand(target.shape)), x)) == pytest.approx(0.0, abs=1e-5)
    log_mag = torch.zeros(target.shape, requires_grad=True)
    value = loss(torch.exp(log_mag) + 0j, x)
    value.backward()
    assert float(value) > 0.5 and log_mag.grad.abs().sum() > 0


def test_head_magnitude_loss_bad_input():
    loss = HeadMagnitudeLoss(N_FFT, HOP, n_mels=16)
    with pytest.raises(ValueError, match="complex spectrum"):
        loss(torch.randn(1, N_FFT // 2 + 1, 10), torch.randn(1, 320))
    with pytest.raises(ValueError, match="complex spectrum"):
        loss(torch.randn(1, 10, 10) + 0j, torch.randn(1, 320))
    with pytest.raises(ValueError, match="padding"):
        HeadMagnitudeLoss(N_FFT, HOP, padding="valid", n_mels=16)
    with pytest.raises(ValueError, match="mel_weight"):
        HeadMagnitudeLoss(N_FFT, HOP, n_mels=16, bin_weight=0.0, mel_weight=0.0)


def test_the_mel_term_matches_band_energy_where_the_bin_term_takes_the_median():
    """Noise: the per-bin log L1 is smallest below the noise's energy (the median of a log-Rayleigh
    magnitude); the mel term is smallest near the true level."""
    torch.manual_seed(0)
    x = 0.1 * torch.randn(1, 64 * HOP)
    frames = 64
    target = head_stft(x, torch.hann_window(N_FFT), N_FFT, HOP, "same", frames).abs()
    level = target.pow(2).mean().sqrt()
    bins = HeadMagnitudeLoss(N_FFT, HOP, sample_rate=8000, n_mels=16, bin_weight=1.0, mel_weight=0.0)
    mel = HeadMagnitudeLoss(N_FFT, HOP, sample_rate=8000, n_mels=16, bin_weight=0.0, mel_weight=1.0)
    scales = torch.linspace(0.3, 1.5, 25)
    best_bins = scales[
        torch.stack([bins(torch.full_like(target, float(level * s)) + 0j, x) for s in scales]).argmin()
    ]
    best_mel = scales[
        torch.stack([mel(torch.full_like(target, float(level * s)) + 0j, x) for s in scales]).argmin()
    ]
    assert best_bins < 0.85 and best_mel > best_bins, (best_bins, best_mel)


def test_training_with_the_head_and_its_loss(tiny_cfg):
    """End to end: the tiny recipe with the consistency head and the head-magnitude loss trains,
    logs the term, and the checkpoint's generator refines in eval mode."""
    from vocoder_train.models.store import load_generator
    from vocoder_train.training.run import train

    cfg = tiny_cfg(
        "trainer.max_steps=3",
        "model.optim.pretrain_mel_steps=3",
        "model.generator.head._target_=vocoder_train.models.heads.ConsistencyISTFTHead",
        "+model.generator.head.refine_iters=4",
        "+model.loss.spectral.g_headmag._target_=vocoder_train.losses.spectral.HeadMagnitudeLoss",
        f"+model.loss.spectral.g_headmag.n_fft={'${audio.n_fft}'}",
        f"+model.loss.spectral.g_headmag.hop_length={'${audio.hop_length}'}",
        f"+model.loss.spectral.g_headmag.sample_rate={'${audio.sample_rate}'}",
        f"+model.loss.spectral.g_headmag.n_mels={'${audio.n_mels}'}",
        "+model.loss.lambdas.g_headmag=45",
    )
    metrics = train(cfg)
    assert metrics["train/g_headmag"] > 0
    gen, _ = load_generator(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    assert isinstance(gen.head, ConsistencyISTFTHead) and gen.head.refine_iters == 4 and not gen.training


def test_spectrum_loss_with_a_plain_head_says_what_to_use(tiny_cfg):
    from vocoder_train.training.run import train

    cfg = tiny_cfg(
        "trainer.max_steps=1",
        "model.optim.pretrain_mel_steps=1",
        "+model.loss.spectral.g_headmag._target_=vocoder_train.losses.spectral.HeadMagnitudeLoss",
        f"+model.loss.spectral.g_headmag.n_fft={'${audio.n_fft}'}",
        f"+model.loss.spectral.g_headmag.hop_length={'${audio.hop_length}'}",
        f"+model.loss.spectral.g_headmag.sample_rate={'${audio.sample_rate}'}",
        f"+model.loss.spectral.g_headmag.n_mels={'${audio.n_mels}'}",
    )
    with pytest.raises(ValueError, match="ConsistencyISTFTHead"):
        train(cfg)


# -- the generator's mel projection ------------------------------------------------------------

SR_T, N_MELS_T = 8000, 16


def _mel_features(padding: str = "center"):
    from vocos.feature_extractors import MelSpectrogramFeatures

    return MelSpectrogramFeatures(
        sample_rate=SR_T, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS_T, padding=padding
    )


def test_mel_passes_needs_centred_mel_features():
    from vocos.models import VocosBackbone

    from vocoder_train.models.generator import VocosGenerator

    backbone = VocosBackbone(N_MELS_T, DIM, 2 * DIM, 1)
    head = ConsistencyISTFTHead(DIM, N_FFT, HOP, refine_iters=2)
    with pytest.raises(ValueError, match="padding: center"):
        VocosGenerator(_mel_features("same"), backbone, head, mel_passes=2)
    with pytest.raises(ValueError, match="mel_passes"):
        VocosGenerator(_mel_features(), backbone, head, mel_passes=-1)
    gen = VocosGenerator(_mel_features(), backbone, head, mel_passes=2).eval()
    x = _tone(2048)
    with torch.no_grad():
        projected = gen.synthesize(gen.features(x))
        gen.mel_passes = 0
        plain = gen.synthesize(gen.features(x))
    assert projected.shape == plain.shape and not torch.allclose(projected, plain)


def _consistency_config() -> dict:
    return {
        "feature_extractor": {
            "class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
            "init_args": {"sample_rate": SR_T, "n_fft": N_FFT, "hop_length": HOP, "n_mels": N_MELS_T},
        },
        "backbone": {
            "class_path": "vocos.models.VocosBackbone",
            "init_args": {
                "input_channels": N_MELS_T,
                "dim": DIM,
                "intermediate_dim": 2 * DIM,
                "num_layers": 2,
            },
        },
        "head": {
            "class_path": "vocoder_train.models.heads.ConsistencyISTFTHead",
            "init_args": {
                "dim": DIM,
                "n_fft": N_FFT,
                "hop_length": HOP,
                "padding": "same",
                "refine_iters": 4,
            },
        },
        "mel_passes": 2,
        "sample_rate": SR_T,
    }


def test_chunked_decoding_covers_the_refinement():
    from vocoder_train.models.generator import build_generator, from_vocos_config
    from vocoder_train.models.inference.chunked import synthesize_mel
    from vocoder_train.models.vocoder import TorchVocoder

    cfg = _consistency_config()
    torch.manual_seed(0)
    gen = build_generator(from_vocos_config(cfg)).eval()
    assert gen.mel_passes == 2 and gen.head.refine_iters == 4
    vocoder = TorchVocoder(gen, Path("mem"), "test", cfg, SR_T)
    mel = gen.features(_tone(120 * HOP))
    one, _ = synthesize_mel(vocoder, mel, chunk_frames=0)
    chunked, _ = synthesize_mel(vocoder, mel, chunk_frames=25)
    assert chunked.shape == one.shape
    assert (chunked - one).abs().max() < 1e-4 * one.abs().max()
    # without the context for the round trips, chunks differ from the one-shot output
    short, _ = synthesize_mel(vocoder, mel, chunk_frames=25, context_frames=4)
    assert (short - one).abs().max() > 1e-3 * one.abs().max()


@pytest.mark.parametrize("fmt", ["vocos", "safetensors"])
def test_export_keeps_the_head_and_the_projection(tmp_path, fmt):
    import yaml

    from vocoder_train.models.export import export
    from vocoder_train.models.generator import build_generator, from_vocos_config
    from vocoder_train.models.vocoder import load_vocoder

    cfg = _consistency_config()
    torch.manual_seed(0)
    gen = build_generator(from_vocos_config(cfg)).eval()
    src = tmp_path / "src"
    src.mkdir()
    (src / "config.yaml").write_text(yaml.safe_dump(cfg))
    torch.save(gen.state_dict(), src / "pytorch_model.bin")
    result = export(src, tmp_path / fmt, fmt)
    assert any("vocoder_train" in n for n in result.notes)
    if fmt == "vocos":
        assert any("mel projection" in n for n in result.notes)
    mel = gen.features(_tone(40 * HOP))
    with torch.no_grad():
        want = gen.synthesize(mel)
    got = load_vocoder(tmp_path / fmt, engine="eager").decode(mel)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_graph_export_refuses_the_mel_projection():
    from vocos.heads import ISTFTHead as PlainHead
    from vocos.models import VocosBackbone

    from vocoder_train.models.generator import VocosGenerator
    from vocoder_train.models.inference.exportable import UnsupportedForExport, check_exportable

    gen = VocosGenerator(
        _mel_features(), VocosBackbone(N_MELS_T, DIM, 2 * DIM, 1), PlainHead(DIM, N_FFT, HOP), mel_passes=2
    )
    with pytest.raises(UnsupportedForExport, match="mel_passes=2"):
        check_exportable(gen)
    gen.mel_passes = 0
    check_exportable(gen)
