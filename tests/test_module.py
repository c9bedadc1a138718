"""The GAN step: what each phase updates, loss weights, schedules."""

from __future__ import annotations

import math

import pytest
import torch

from tests.helpers.training import changed as _changed
from tests.helpers.training import fit as _fit
from vocoder_train.losses.adversarial import Adversary, feature_matching, hinge_d, hinge_g, weighted_sum
from vocoder_train.training.module import cosine_with_warmup
from vocoder_train.training.run import build_module


def test_gan_step_changes_generator_and_discriminators(tiny_cfg, tmp_path):
    module = _fit(tiny_cfg(), steps=2, tmp_path=tmp_path)  # one iteration = D step + G step
    g0, d0 = module._before
    assert _changed(g0, module.generator) and _changed(d0, module.adversary)
    assert module.iteration == 1


def test_mel_only_steps_leave_discriminators_untouched(tiny_cfg, tmp_path):
    module = _fit(tiny_cfg("model.optim.pretrain_mel_steps=3"), steps=3, tmp_path=tmp_path)
    g0, d0 = module._before
    assert _changed(g0, module.generator)
    assert not _changed(d0, module.adversary)
    assert module.iteration == 3  # three mel-only iterations = three optimizer steps


def test_both_schedulers_step_every_iteration(tiny_cfg, tmp_path):
    cfg = tiny_cfg("model.optim.warmup_steps=2", "model.optim.pretrain_mel_steps=1")
    module = _fit(cfg, steps=5, tmp_path=tmp_path)  # 1 mel-only + 2 GAN iterations
    sched_g, sched_d = module.lr_schedulers()
    assert sched_g.last_epoch == sched_d.last_epoch == 3
    total = module.total_iterations()
    assert total == 1 + (5 - 1) // 2  # from trainer.max_steps: 1 mel-only step, then 2 steps per iteration
    lr = module.optimizers()[0].param_groups[0]["lr"]
    assert lr == pytest.approx(5e-4 * cosine_with_warmup(3, 2, total))


def test_cosine_with_warmup_shape():
    assert cosine_with_warmup(0, 4, 100) == pytest.approx(0.25)
    assert cosine_with_warmup(3, 4, 100) == pytest.approx(1.0)
    assert cosine_with_warmup(52, 4, 100) == pytest.approx(0.5)
    assert cosine_with_warmup(100, 4, 100, min_ratio=0.1) == pytest.approx(0.1)
    assert cosine_with_warmup(500, 0, 100) == pytest.approx(0.0)


def test_hinge_and_feature_matching_values():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    assert hinge_d(real, fake).item() == pytest.approx((0 + 0.5) / 2 + (0 + 1) / 2)
    assert hinge_g(fake).item() == pytest.approx((3 + 1) / 2)
    fm = feature_matching([[torch.ones(2, 3), torch.zeros(4)]], [[torch.zeros(2, 3), torch.ones(4)]])
    assert fm.item() == pytest.approx(2.0)


def test_weights_are_keyed_by_logged_names():
    terms = {"g_mel": torch.tensor(2.0), "g_adv_mpd": torch.tensor(3.0)}
    assert weighted_sum(terms, {"g_mel": 45.0, "g_adv_mpd": 1.0}).item() == pytest.approx(93.0)
    with pytest.raises(KeyError, match="lambdas.g_adv_mpd"):
        weighted_sum(terms, {"g_mel": 45.0})


def test_adversary_names_terms_after_discriminators(tiny_cfg):
    from hydra.utils import instantiate

    cfg = tiny_cfg()
    adv = Adversary({k: instantiate(v) for k, v in cfg.model.discriminator.items()})
    real, fake = torch.randn(2, 2048) * 0.1, torch.randn(2, 2048) * 0.1
    assert set(adv.discriminator_losses(real, fake)) == {"d_mpd", "d_mrd"}
    g = adv.generator_losses(real, fake)
    assert set(g) == {"g_adv_mpd", "g_fm_mpd", "g_adv_mrd", "g_fm_mrd"}
    assert all(math.isfinite(v.item()) for v in g.values())


def test_discriminator_warmup_freezes_the_generator(tiny_cfg, tmp_path):
    module = _fit(tiny_cfg("model.optim.disc_warmup_steps=3"), steps=3, tmp_path=tmp_path)
    g0, d0 = module._before
    assert not _changed(g0, module.generator) and _changed(d0, module.adversary)
    assert [module.phase(i) for i in (0, 2, 3)] == ["disc_warmup", "disc_warmup", "gan"]


def test_phases_run_in_order_and_the_horizon_counts_them(tiny_cfg, tmp_path):
    cfg = tiny_cfg("model.optim.pretrain_mel_steps=2", "model.optim.disc_warmup_steps=1")
    module = _fit(cfg, steps=7, tmp_path=tmp_path)  # 2 mel + 1 D-only + 2 GAN iterations
    assert module.iteration == 5 and module.total_iterations() == 3 + (7 - 3) // 2
    assert [module.phase(i) for i in range(5)] == ["mel", "mel", "disc_warmup", "gan", "gan"]


def test_frozen_backbone_stays_fixed(tiny_cfg, tmp_path):
    module = _fit(tiny_cfg("model.optim.freeze=[backbone]"), steps=2, tmp_path=tmp_path)
    g0, _ = module._before
    bb = {k: v for k, v in module.generator.state_dict().items() if k.startswith("backbone.")}
    assert all(torch.equal(g0[k], v) for k, v in bb.items())
    assert not torch.equal(g0["head.out.weight"], module.generator.head.out.weight)
    with pytest.raises(ValueError, match="no submodule 'encoder'"):
        build_module(tiny_cfg("model.optim.freeze=[encoder]"))


def test_teacher_forced_batches_use_the_given_mel(tiny_cfg):
    module = build_module(tiny_cfg())
    audio = torch.randn(2, 4096) * 0.1
    mel = module.generator.features(audio) + 0.5  # a "TTS" mel that differs from ours
    with torch.no_grad():
        from_audio = module.generate({"audio": audio})
        from_mel = module.generate({"audio": audio, "mel": mel})
    assert from_mel.shape == audio.shape and not torch.allclose(from_audio, from_mel)


def test_extra_spectral_terms_are_weighted_and_logged(tiny_cfg, tmp_path):
    cfg = tiny_cfg("model/loss=vocos_mrstft", "model.loss.spectral.g_mrstft.resolutions=[[256,64,256],[128,32,128]]")
    module = build_module(cfg)
    assert set(module.spectral_losses) == {"g_mrstft"}
    audio = torch.randn(2, 4096) * 0.1
    with torch.no_grad():
        assert module.spectral_losses["g_mrstft"](audio, audio).item() == pytest.approx(0.0, abs=1e-5)
    _fit(cfg, steps=2, tmp_path=tmp_path)
