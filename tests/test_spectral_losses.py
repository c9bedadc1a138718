"""Spectral losses: the numba backend equals the torch backend and the peers (auraloss, vocos)."""

from __future__ import annotations

import math

import pytest
import torch

from vocoder_train.losses.spectral import (
    MelReconstructionLoss,
    MultiResolutionSTFTLoss,
    MultiScaleMelLoss,
)

RES = ((256, 64, 128), (128, 32, 128), (64, 16, 40))


def _audio(batch=2, length=3001, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = 0.3 * torch.randn(batch, length, generator=g)
    return y + 0.1 * torch.randn(batch, length, generator=g), y


def _value_and_grad(loss_fn, y_hat, y):
    yh = y_hat.clone().requires_grad_()
    loss = loss_fn(yh, y)
    (g,) = torch.autograd.grad(loss, yh)
    return loss.detach(), g


def test_mrstft_matches_auraloss():
    """Same definitions as auraloss' defaults (sc + log-mag L1, eps 1e-8 on the power, mean over
    resolutions); auraloss wants (B, C, T) and also computes the unused phase."""
    auraloss = pytest.importorskip("auraloss")
    y_hat, y = _audio()
    ours = MultiResolutionSTFTLoss(resolutions=RES, sc_weight=0.7, mag_weight=1.3)
    peer = auraloss.freq.MultiResolutionSTFTLoss(
        [r[0] for r in RES], [r[1] for r in RES], [r[2] for r in RES], w_sc=0.7, w_log_mag=1.3
    )
    v1, g1 = _value_and_grad(ours, y_hat, y)
    v2, g2 = _value_and_grad(lambda a, b: peer(a[:, None], b[:, None]), y_hat, y)
    torch.testing.assert_close(v1, v2, rtol=1e-4, atol=0)
    torch.testing.assert_close(g1, g2, rtol=1e-4, atol=1e-4 * g2.abs().max().item())


def test_mrstft_terms_and_backends_agree():
    y_hat, y = _audio(batch=3, length=2049, seed=1)
    a = MultiResolutionSTFTLoss(resolutions=RES, backend="numba")
    b = MultiResolutionSTFTLoss(resolutions=RES, backend="torch")
    ta, tb = a.terms(y_hat, y), b.terms(y_hat, y)
    assert set(ta) == {"sc", "mag"}
    for k in ta:
        torch.testing.assert_close(ta[k], tb[k], rtol=1e-5, atol=0)
    torch.testing.assert_close(a(y_hat, y), ta["sc"] + ta["mag"])
    (va, ga), (vb, gb) = _value_and_grad(a, y_hat, y), _value_and_grad(b, y_hat, y)
    torch.testing.assert_close(va, vb, rtol=1e-5, atol=0)
    torch.testing.assert_close(ga, gb, rtol=1e-5, atol=1e-6 * gb.abs().max().item())


def test_mrstft_silence_has_finite_gradient():
    loss = MultiResolutionSTFTLoss(resolutions=RES)
    v, g = _value_and_grad(loss, torch.zeros(2, 1500), _audio(2, 1500)[1])
    assert torch.isfinite(v) and torch.isfinite(g).all()


def test_mrstft_rejects_bad_settings():
    with pytest.raises(ValueError, match="win_length"):
        MultiResolutionSTFTLoss(resolutions=((64, 16, 128),))
    with pytest.raises(ValueError, match="backend"):
        MultiResolutionSTFTLoss(backend="gpu")


def test_mel_loss_backends_agree_and_match_vocos():
    y_hat, y = _audio(batch=2, length=4000, seed=2)
    kw = dict(sample_rate=16000, n_fft=256, hop_length=64, n_mels=40)
    va, ga = _value_and_grad(MelReconstructionLoss(**kw, backend="numba"), y_hat, y)
    vb, gb = _value_and_grad(MelReconstructionLoss(**kw, backend="torch"), y_hat, y)
    torch.testing.assert_close(va, vb, rtol=1e-5, atol=0)
    torch.testing.assert_close(ga, gb, rtol=1e-5, atol=1e-6 * gb.abs().max().item())
    vocos_loss = pytest.importorskip("vocos.loss")
    vc, gc = _value_and_grad(vocos_loss.MelSpecReconstructionLoss(16000, 256, 64, 40), y_hat, y)
    torch.testing.assert_close(va, vc, rtol=1e-5, atol=0)
    torch.testing.assert_close(ga, gc, rtol=1e-5, atol=1e-6 * gc.abs().max().item())


def test_mel_loss_silence_and_clipping_finite():
    loss = MelReconstructionLoss(16000, 128, 32, 20)
    t = torch.arange(2000.0)
    square = torch.sign(torch.sin(2 * torch.pi * t / 40))[None]
    for y_hat, y in (
        (torch.zeros(1, 2000), square),
        (square, square),
        (torch.zeros(1, 2000), torch.zeros(1, 2000)),
    ):
        v, g = _value_and_grad(loss, y_hat, y)
        assert torch.isfinite(v) and torch.isfinite(g).all()


def test_multiscale_mel_mean_sum_and_backends():
    y_hat, y = _audio(batch=2, length=4096, seed=4)
    scales = ((64, 16, 10), (128, 32, 20), (256, 64, 40))
    mean = MultiScaleMelLoss(16000, scales)
    total = MultiScaleMelLoss(16000, scales, reduction="sum")
    ref = MultiScaleMelLoss(16000, scales, backend="torch")
    torch.testing.assert_close(total(y_hat, y), 3 * mean(y_hat, y))
    singles = sum(MelReconstructionLoss(16000, n, h, m, backend="torch")(y_hat, y) for n, h, m in scales) / 3
    torch.testing.assert_close(mean(y_hat, y), singles, rtol=1e-5, atol=0)
    (va, ga), (vb, gb) = _value_and_grad(mean, y_hat, y), _value_and_grad(ref, y_hat, y)
    torch.testing.assert_close(va, vb, rtol=1e-5, atol=0)
    torch.testing.assert_close(ga, gb, rtol=1e-5, atol=1e-6 * gb.abs().max().item())


SMALL_SCALES = ((256, 64, 16), (512, 128, 32))  # BigVGAN-style multi-scale mel; no empty mel filter at 16 kHz


@pytest.mark.parametrize("backend", ["torch", "auto"])
def test_multiscale_mel_is_zero_on_identical_inputs(backend):
    y = torch.randn(2, 4096) * 0.1
    loss = MultiScaleMelLoss(16000, SMALL_SCALES, backend=backend)
    assert loss(y.clone(), y).item() == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("backend", ["torch", "auto"])
def test_multiscale_mel_hand_checked_values(backend):
    # mel magnitudes are linear in the signal: log M(c y) - log M(y) = ln c in every bin above the floor
    torch.manual_seed(0)
    y = torch.randn(2, 4096) * 0.1
    mean = MultiScaleMelLoss(16000, SMALL_SCALES, backend=backend)
    total = MultiScaleMelLoss(16000, SMALL_SCALES, reduction="sum", backend=backend)
    assert mean(2.0 * y, y).item() == pytest.approx(math.log(2.0), rel=1e-4)
    assert total(0.5 * y, y).item() == pytest.approx(2 * math.log(2.0), rel=1e-4)
    # silence on both sides: every bin at the 1e-7 floor; silence vs 1e-3-level signal is finite
    zeros = torch.zeros(1, 2048)
    assert mean(zeros, zeros).item() == 0.0
    assert math.isfinite(mean(zeros, torch.randn(1, 2048) * 1e-3).item())
