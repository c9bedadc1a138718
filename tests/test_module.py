"""The GAN step: what each phase updates, loss weights, the generator's outputs."""

from __future__ import annotations

import math

import pytest
import torch

from tests.helpers.training import changed as _changed
from tests.helpers.training import fit as _fit
from vocoder_train.losses import weighted_sum
from vocoder_train.losses.adversarial import Adversary, feature_matching, hinge_d, hinge_g
from vocoder_train.models.generator import Synthesis
from vocoder_train.training.run import build_module
from vocoder_train.training.schedules import cosine_with_warmup, iterations_in


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
    lr = module.optimizers()[0].param_groups[0]["lr"]
    assert lr == pytest.approx(5e-4 * cosine_with_warmup(3, 2, iterations_in(5, 1), 0.0))


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
    adv = Adversary.from_config(tiny_cfg().model.discriminator)
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
    assert module.iteration == 5
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
        from_mel = module.generate({"audio": audio, "features": mel})
    assert from_mel.shape == audio.shape and not torch.allclose(from_audio, from_mel)


def test_extra_spectral_terms_are_weighted_and_logged(tiny_cfg, tmp_path):
    cfg = tiny_cfg(
        "model/loss=vocos_mrstft", "model.loss.spectral.g_mrstft.resolutions=[[256,64,256],[128,32,128]]"
    )
    module = build_module(cfg)
    assert set(module.spectral_losses) == {"g_mrstft"}
    audio = torch.randn(2, 4096) * 0.1
    with torch.no_grad():
        assert module.spectral_losses["g_mrstft"](audio, audio).item() == pytest.approx(0.0, abs=1e-5)
    _fit(cfg, steps=2, tmp_path=tmp_path)


def test_generator_returns_audio_and_spectrum_from_separate_methods(tiny_cfg):
    head = "model.generator.head._target_=vocoder_train.models.heads.ConsistencyISTFTHead"
    gen = build_module(tiny_cfg(head)).generator
    audio = torch.randn(2, 4096) * 0.1
    with torch.no_grad():
        out = gen.synthesize_with_spectrum(gen.features(audio))
        assert isinstance(gen(audio), torch.Tensor) and gen(audio).shape == audio.shape
        assert isinstance(gen.synthesize(gen.features(audio)), torch.Tensor)
    assert isinstance(out, Synthesis) and out.spectrum.is_complex()
    assert out.spectrum.shape[:2] == (2, tiny_cfg().audio.n_fft // 2 + 1)
    plain = build_module(tiny_cfg()).generator
    with pytest.raises(ValueError, match="ConsistencyISTFTHead"):
        plain.synthesize_with_spectrum(plain.features(audio))


def test_missing_or_unknown_optim_keys_are_named(tiny_cfg):
    with pytest.raises(ValueError, match="model.optim.lr_g is missing"):
        build_module(tiny_cfg("~model.optim.lr_g"))
    with pytest.raises(ValueError, match="model.optim.lr_gen: unknown key"):
        build_module(tiny_cfg("+model.optim.lr_gen=1e-3"))


def test_spectrum_losses_train_on_the_heads_spectrum(tiny_cfg, tmp_path):
    head = "model.generator.head._target_=vocoder_train.models.heads.ConsistencyISTFTHead"
    module = _fit(tiny_cfg(head, "model/loss=vocos_headmag"), steps=2, tmp_path=tmp_path)
    assert module._spectrum_losses == {"g_headmag"} and _changed(module._before[0], module.generator)
