"""MS-STFT, sub-band CQT and MSD discriminators; their configs; the multi-scale mel loss."""

from __future__ import annotations

import math

import pytest
import torch
from hydra.utils import instantiate

from tests.helpers.training import changed as _changed
from tests.helpers.training import fit as _fit
from vocoder_train.config.checks import check_config
from vocoder_train.losses.spectral import MultiScaleMelLoss
from vocoder_train.models.discriminators.cqt import CQT, MultiScaleSubBandCQTDiscriminator
from vocoder_train.models.discriminators.msd import MultiScaleDiscriminator
from vocoder_train.models.discriminators.msstft import MultiScaleSTFTDiscriminator


def _count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


TINY = {
    "msstft": lambda: MultiScaleSTFTDiscriminator(resolutions=((256, 64, 256), (128, 32, 96)), channels=8),
    "cqtd": lambda: MultiScaleSubBandCQTDiscriminator(16000, hop_lengths=(256, 128), bins_per_octave=(12, 24), n_octaves=7, channels=8),
    "msd": lambda: MultiScaleDiscriminator(channels=(16, 16, 16, 32, 32, 32, 32)),
}
N_SUB = {"msstft": 2, "cqtd": 2, "msd": 3}

# tiny widths of each config file, for GAN steps on the tiny experiment (16 kHz, 4096-sample crops)
TINY_OVERRIDES = {
    "msstft": ["model.discriminator.msstft.resolutions=[[256,64,256],[128,32,128]]", "model.discriminator.msstft.channels=8"],
    "cqtd": [
        "model.discriminator.cqtd.hop_lengths=[128]", "model.discriminator.cqtd.bins_per_octave=[12]",
        "model.discriminator.cqtd.n_octaves=6", "model.discriminator.cqtd.channels=8",
    ],
    "msd": ["model.discriminator.msd.channels=[16,16,16,32,32,32,32]"],
    "mpd": ["model.discriminator.mpd.periods=[2,3]", "model.discriminator.mpd.channels=[8,16,16]"],
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_output_contract_gradients_and_odd_lengths(name):
    torch.manual_seed(0)
    disc = TINY[name]()
    x = (torch.randn(3, 3001) * 0.1).requires_grad_(True)  # odd length on purpose
    logits, fmaps = disc(x)
    assert isinstance(logits, list) and isinstance(fmaps, list) and len(logits) == len(fmaps) == N_SUB[name]
    assert all(lg.dim() == 2 and lg.shape[0] == 3 and torch.isfinite(lg).all() for lg in logits)
    assert all(isinstance(fm, list) and len(fm) >= 2 and all(f.shape[0] == 3 for f in fm) for fm in fmaps)
    (sum(lg.sum() for lg in logits) + sum(f.sum() for fm in fmaps for f in fm)).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["msstft", "cqtd"])
def test_spectral_discriminators_run_under_bf16_autocast(name):
    disc = TINY[name]()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, _ = disc(torch.randn(1, 1024) * 0.1)  # the transform itself runs in fp32
    assert all(torch.isfinite(lg.float()).all() for lg in logits)


def test_default_parameter_counts_match_docstrings():
    counts = {cls: round(_count(cls()) / 1e6, 1) for cls in (MultiScaleSTFTDiscriminator, MultiScaleSubBandCQTDiscriminator, MultiScaleDiscriminator)}
    for cls, millions in counts.items():
        assert f"{millions}M parameters" in " ".join(cls.__doc__.split()), (cls.__name__, millions)
    assert counts == {MultiScaleSTFTDiscriminator: 0.5, MultiScaleSubBandCQTDiscriminator: 0.4, MultiScaleDiscriminator: 29.6}


def test_msd_uses_spectral_norm_on_the_raw_scale_only():
    disc = TINY["msd"]()
    kinds = [type(next(iter(d.convs[0].parametrizations.weight))).__name__ for d in disc.discriminators]
    assert kinds[0] == "_SpectralNorm" and set(kinds[1:]) == {"_WeightNorm"}


def test_cqt_puts_a_tone_in_its_bin_at_every_octave():
    sr, bins, octaves = 16000, 12, 7
    cqt = CQT(sr, hop_length=256, n_octaves=octaves, bins_per_octave=bins)
    fmin = sr / 2 ** (octaves + 1)
    t = torch.arange(8192) / sr
    for octave, k in [(0, 3), (3, 5), (6, 11)]:
        f = fmin * 2 ** (octave + k / bins)
        out = cqt(torch.sin(2 * math.pi * f * t)[None])
        assert len(out) == octaves and all(o.shape == (1, 2, 32, bins) for o in out)
        mag = torch.cat([o.square().sum(1).sqrt() for o in out], dim=-1)[0, 8:24].mean(0)  # away from the edges
        assert mag.argmax().item() == octave * bins + k
        assert mag.max().item() == pytest.approx(0.5, abs=0.01)  # window-sum normalization: half the amplitude


def test_cqt_rejects_a_hop_it_cannot_decimate():
    with pytest.raises(ValueError, match="hop_length=100 is not divisible by 2"):
        CQT(16000, hop_length=100, n_octaves=4, bins_per_octave=12)
    with pytest.raises(ValueError, match="above Nyquist"):
        CQT(16000, hop_length=256, n_octaves=4, bins_per_octave=12, fmin=2000.0)


@pytest.mark.parametrize("disc, loss, names", [
    ("msstft", "vocos_any_disc", {"msstft"}),
    ("mpd_cqtd", "bigvgan", {"mpd", "cqtd"}),
    ("mpd_msd", "hifigan", {"mpd", "msd"}),
])
def test_gan_step_with_each_discriminator_config(tiny_cfg, tmp_path, disc, loss, names):
    overrides = [o for n in names for o in TINY_OVERRIDES[n]]
    cfg = tiny_cfg(f"model/discriminator={disc}", f"model/loss={loss}", *overrides)
    check_config(cfg)
    assert set(cfg.model.discriminator) == names
    module = _fit(cfg, steps=2, tmp_path=tmp_path)  # one iteration: D step + G step
    g0, d0 = module._before
    assert _changed(g0, module.generator) and _changed(d0, module.adversary)
    logged = module.trainer.logged_metrics
    for n in names:
        assert {f"train/d_{n}", f"train/g_adv_{n}", f"train/g_fm_{n}"} <= set(logged)
    if loss == "bigvgan":
        assert "train/g_msmel" in logged and math.isfinite(float(logged["train/g_msmel"]))


@pytest.mark.parametrize("disc", ["msstft", "cqtd", "msd"])
def test_single_discriminator_configs_compose_and_build(tiny_cfg, disc):
    # (their GAN steps run in the combinations above: cqtd in mpd_cqtd, msd in mpd_msd)
    cfg = tiny_cfg(f"model/discriminator={disc}", "model/loss=vocos_any_disc", *TINY_OVERRIDES[disc])
    check_config(cfg)
    built = {k: instantiate(v) for k, v in cfg.model.discriminator.items()}
    assert list(built) == [disc]
    logits, _ = built[disc](torch.randn(1, 2048) * 0.1)
    assert all(torch.isfinite(lg).all() for lg in logits)


def test_per_discriminator_feature_matching_weights_in_the_loss_configs(tiny_cfg):
    lam = tiny_cfg("model/discriminator=mpd_cqtd", "model/loss=bigvgan").model.loss.lambdas
    assert lam.g_fm_mpd == lam.g_fm_cqtd == 2.0 and lam.g_msmel > 0 and lam.g_mel == 0
    cfg = tiny_cfg("model/discriminator=mpd_msd", "model/loss=hifigan")
    assert cfg.model.loss.adversarial == "lsgan" and cfg.model.loss.lambdas.g_mel == 45.0
    assert cfg.model.loss.lambdas.g_fm_msd == 2.0


# -- MultiScaleMelLoss ---------------------------------------------------------------------

SMALL_SCALES = ((256, 64, 16), (512, 128, 32))  # no empty mel filter at 16 kHz


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


def test_multiscale_mel_loss_config_option_instantiates(tiny_cfg):
    cfg = tiny_cfg("model/loss=bigvgan")
    msmel = instantiate(cfg.model.loss.spectral.g_msmel)
    assert isinstance(msmel, MultiScaleMelLoss) and len(msmel.losses) == 7
