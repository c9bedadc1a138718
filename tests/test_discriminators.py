"""Discriminators: the output contract of every class, each architecture's particulars, the
config entries (weights, sets, preset-free composition with every loss config), a GAN step per
shipped set, and the multi-scale mel term of the BigVGAN objective that pairs with mpd_cqtd."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import vocoder_train.models.discriminators as discriminators
from tests.helpers.training import changed as _changed
from tests.helpers.training import fit as _fit
from vocoder_train.config import CONFIG_DIR
from vocoder_train.config.checks import ConfigError
from vocoder_train.losses.adversarial import Adversary, entry_weights
from vocoder_train.losses.spectral import MultiScaleMelLoss
from vocoder_train.models.discriminators import (
    MultiPeriodDiscriminator,
    MultiResolutionDiscriminator,
    MultiScaleDiscriminator,
    MultiScaleSTFTDiscriminator,
    MultiScaleSubBandCQTDiscriminator,
)
from vocoder_train.models.discriminators.cqt import CQT
from vocoder_train.training.run import build_module, check_run_config

SINGLE_ENTRIES = ["mpd", "mrd", "msstft", "cqtd", "msd"]  # the model/discriminator files that define one each
LOSS_CONFIGS = sorted(p.stem for p in (Path(CONFIG_DIR) / "model" / "loss").glob("*.yaml"))


def _count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# A tiny instance of every class that configs name as _target_, and its number of sub-discriminators
TINY = {
    MultiPeriodDiscriminator: (lambda: MultiPeriodDiscriminator(periods=(2, 3, 5), channels=(8, 16, 16)), 3),
    MultiResolutionDiscriminator: (lambda: MultiResolutionDiscriminator(fft_sizes=(256, 128), channels=8), 2),
    MultiScaleSTFTDiscriminator: (
        lambda: MultiScaleSTFTDiscriminator(resolutions=((256, 64, 256), (128, 32, 96)), channels=8),
        2,
    ),
    MultiScaleSubBandCQTDiscriminator: (
        lambda: MultiScaleSubBandCQTDiscriminator(
            16000, hop_lengths=(256, 128), bins_per_octave=(12, 24), n_octaves=7, channels=8
        ),
        2,
    ),
    MultiScaleDiscriminator: (lambda: MultiScaleDiscriminator(channels=(16, 16, 16, 32, 32, 32, 32)), 3),
}
CLASSES = sorted(TINY, key=lambda c: c.__name__)

# tiny widths of each entry, for GAN steps on the tiny experiment (16 kHz, 4096-sample crops)
TINY_OVERRIDES = {
    "msstft": [
        "model.discriminator.msstft.resolutions=[[256,64,256],[128,32,128]]",
        "model.discriminator.msstft.channels=8",
    ],
    "cqtd": [
        "model.discriminator.cqtd.hop_lengths=[128]",
        "model.discriminator.cqtd.bins_per_octave=[12]",
        "model.discriminator.cqtd.n_octaves=6",
        "model.discriminator.cqtd.channels=8",
    ],
    "msd": ["model.discriminator.msd.channels=[16,16,16,32,32,32,32]"],
    "mpd": ["model.discriminator.mpd.periods=[2,3]", "model.discriminator.mpd.channels=[8,16,16]"],
}


def test_every_exported_discriminator_is_covered():
    assert sorted(c.__name__ for c in TINY) == sorted(discriminators.__all__)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_output_contract_gradients_and_odd_lengths(cls):
    build, n_sub = TINY[cls]
    torch.manual_seed(0)
    disc = build()
    x = (torch.randn(3, 3001) * 0.1).requires_grad_(True)  # odd length on purpose
    logits, fmaps = disc(x)
    assert isinstance(logits, list) and isinstance(fmaps, list) and len(logits) == len(fmaps) == n_sub
    assert all(
        lg.dim() == 2 and lg.shape[0] == 3 and lg.dtype == torch.float32 and torch.isfinite(lg).all()
        for lg in logits
    )
    assert all(isinstance(fm, list) and len(fm) >= 2 and all(f.shape[0] == 3 for f in fm) for fm in fmaps)
    (sum(lg.sum() for lg in logits) + sum(f.sum() for fm in fmaps for f in fm)).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_logits_are_fp32_under_bf16_autocast(cls):
    disc = TINY[cls][0]()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, _ = disc(torch.randn(1, 1024) * 0.1)  # spectral transforms run in fp32 inside
    assert all(lg.dtype == torch.float32 and torch.isfinite(lg).all() for lg in logits)


def test_default_parameter_counts_match_docstrings():
    counts = {cls: round(_count(cls()) / 1e6, 1) for cls in CLASSES}
    for cls, millions in counts.items():
        assert f"{millions}M parameters" in " ".join(cls.__doc__.split()), (cls.__name__, millions)
    assert counts == {
        MultiPeriodDiscriminator: 41.1,
        MultiResolutionDiscriminator: 1.4,
        MultiScaleDiscriminator: 29.6,
        MultiScaleSTFTDiscriminator: 0.5,
        MultiScaleSubBandCQTDiscriminator: 0.4,
    }


def test_msd_uses_spectral_norm_on_the_raw_scale_only():
    disc = TINY[MultiScaleDiscriminator][0]()
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
        mag = torch.cat([o.square().sum(1).sqrt() for o in out], dim=-1)[0, 8:24].mean(
            0
        )  # away from the edges
        assert mag.argmax().item() == octave * bins + k
        assert mag.max().item() == pytest.approx(
            0.5, abs=0.01
        )  # window-sum normalization: half the amplitude


def test_cqt_rejects_a_hop_it_cannot_decimate():
    with pytest.raises(ValueError, match="hop_length=100 is not divisible by 2"):
        CQT(16000, hop_length=100, n_octaves=4, bins_per_octave=12)
    with pytest.raises(ValueError, match="above Nyquist"):
        CQT(16000, hop_length=256, n_octaves=4, bins_per_octave=12, fmin=2000.0)


# -- config entries: each carries its weights ----------------------------------------------------


def _weights(cfg) -> dict[str, float]:
    return {
        k: v for name, node in cfg.model.discriminator.items() for k, v in entry_weights(name, node).items()
    }


def test_each_entry_carries_its_weights_by_logged_name(tiny_cfg):
    # the Vocos defaults: the MRD at the recipe's mrd_loss_coeff 0.1
    assert _weights(tiny_cfg()) == {
        "d_mpd": 1.0,
        "g_adv_mpd": 1.0,
        "g_fm_mpd": 1.0,
        "d_mrd": 0.1,
        "g_adv_mrd": 0.1,
        "g_fm_mrd": 0.1,
    }
    # HiFi-GAN's and BigVGAN-v2's sets weigh feature matching x2; a set as a list keeps each entry's own
    for disc, other in (("mpd_msd", "msd"), ("mpd_cqtd", "cqtd")):
        w = _weights(tiny_cfg(f"model/discriminator={disc}"))
        assert w[f"g_fm_{other}"] == w["g_fm_mpd"] == 2.0 and w[f"d_{other}"] == w[f"g_adv_{other}"] == 1.0
        assert set(_weights(tiny_cfg(f"model/discriminator=[mpd,{other}]")).values()) == {1.0}


def test_adversary_reads_the_weights_and_builds_the_rest(tiny_cfg):
    cfg = tiny_cfg("model.discriminator.mrd.weights.g_fm=0.5")
    adv = Adversary.from_config(cfg.model.discriminator)
    assert set(adv.discriminators) == {"mpd", "mrd"} and adv.weights["g_fm_mrd"] == 0.5
    module = build_module(cfg)  # the step weighs the loss config's terms and the entries' together
    assert module.lambdas == {"g_mel": 45.0, **adv.weights}


@pytest.mark.parametrize("loss", LOSS_CONFIGS)
def test_every_loss_config_composes_with_any_discriminator_set(tiny_cfg, loss):
    # a loss config names no discriminator (the check refuses d_/g_adv_/g_fm_ keys in it), so one
    # set holding every single-discriminator entry stands for any set
    cfg = tiny_cfg(f"model/loss={loss}", f"model/discriminator=[{','.join(SINGLE_ENTRIES)}]")
    check_run_config(cfg)
    assert list(cfg.model.discriminator) == SINGLE_ENTRIES and cfg.model.loss.mel._target_.endswith(
        "MelReconstructionLoss"
    )


def test_a_misplaced_or_incomplete_weight_is_one_line_naming_its_key(tiny_cfg):
    give = "give {d: .., g_adv: .., g_fm: ..}, the weights of d_mpd, g_adv_mpd and g_fm_mpd"
    cases = {
        "+model.loss.lambdas.g_adv_mrd=0.5": "model.loss.lambdas.g_adv_mrd: a discriminator's weights are in "
        "its entry; set model.discriminator.mrd.weights.g_adv instead",
        "~model.discriminator.mpd.weights": f"model.discriminator.mpd.weights is missing: {give}",
        "+model.discriminator.mpd.weights.g_mel=1": "model.discriminator.mpd.weights has unknown g_mel: "
        f"{give}",
    }
    for override, line in cases.items():
        with pytest.raises(ConfigError) as e:
            check_run_config(tiny_cfg(override))
        assert str(e.value).splitlines()[1:] == [f"  - {line}"], override


# -- a GAN step per shipped set --------------------------------------------------------------------


@pytest.mark.parametrize(
    "disc, loss, names",
    [
        ("msstft", "vocos", {"msstft"}),
        ("mpd_cqtd", "bigvgan", {"mpd", "cqtd"}),
        ("mpd_msd", "hifigan", {"mpd", "msd"}),
    ],
)
def test_gan_step_with_each_discriminator_config(tiny_cfg, tmp_path, disc, loss, names):
    overrides = [o for n in names for o in TINY_OVERRIDES[n]]
    cfg = tiny_cfg(f"model/discriminator={disc}", f"model/loss={loss}", *overrides)
    check_run_config(cfg)
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
    # (their GAN steps run in the sets above: cqtd in mpd_cqtd, msd in mpd_msd)
    cfg = tiny_cfg(f"model/discriminator={disc}", *TINY_OVERRIDES[disc])
    check_run_config(cfg)
    built = Adversary.from_config(cfg.model.discriminator).discriminators
    assert list(built) == [disc]
    logits, _ = built[disc](torch.randn(1, 2048) * 0.1)
    assert all(torch.isfinite(lg).all() for lg in logits)


def test_paper_loss_configs(tiny_cfg):
    loss = tiny_cfg("model/loss=bigvgan").model.loss
    assert loss.adversarial == "lsgan" and loss.lambdas.g_msmel > 0 and loss.lambdas.g_mel == 0
    loss = tiny_cfg("model/loss=hifigan").model.loss
    assert loss.adversarial == "lsgan" and loss.lambdas.g_mel == 45.0 and loss.mel.f_max is None


def test_multiscale_mel_loss_config_option_instantiates(tiny_cfg):
    from hydra.utils import instantiate

    msmel = instantiate(tiny_cfg("model/loss=bigvgan").model.loss.spectral.g_msmel)
    assert isinstance(msmel, MultiScaleMelLoss) and len(msmel.losses) == 7
