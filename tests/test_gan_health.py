"""GAN health guards: the D-collapse / G-runaway detector and the early stop that restores the best
weights."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hydra import compose, initialize_config_dir
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from vocoder_train.config import CONFIG_DIR
from vocoder_train.config.checks import ConfigError
from vocoder_train.io.checkpoint import load_checkpoint
from vocoder_train.training.early_stop import EarlyStopRestore, judge
from vocoder_train.training.health import (
    GANHealth,
    GANHealthWarning,
    Streak,
    adversarial_loss_name,
)
from vocoder_train.training.run import build_module, check_run_config, train


class _Module:
    """What GANHealth reads of a VocoderGAN: the discriminators' names, the loss, the settings; records
    logs."""

    def __init__(self):
        self.adversary = SimpleNamespace(discriminators={"mpd": None, "mrd": None}, loss="hinge")
        self.optim_cfg = {
            "lr_d": 2e-4,
            "lr_g": 5e-5,
            "disc_warmup_steps": 2000,
            "grad_clip_d": None,
            "grad_clip_g": None,
        }
        self.lambdas = {"g_mel": 45.0, "g_adv_mrd": 1.0}
        self.logged: list[dict] = []

    def log_dict(self, values: dict, batch_size: int) -> None:
        self.logged.append(values)


def _step(d_mrd: float, g_adv_mrd: float = 1.0) -> dict[str, torch.Tensor]:
    """The GAN part of training_step's returned dict: MPD healthy, MRD as given (hinge)."""
    return {
        k: torch.tensor(v)
        for k, v in {
            "d_mpd": 1.8,
            "d_mrd": d_mrd,
            "d_total": 1.8 + d_mrd,
            "g_adv_mpd": 1.0,
            "g_adv_mrd": g_adv_mrd,
        }.items()
    }


def _feed(health: GANHealth, module: _Module, steps: list[dict]) -> list[str]:
    batch = {"audio": torch.zeros(2, 16)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for outputs in steps:
            health.on_train_batch_end(None, module, outputs, batch, 0)
    return [str(w.message) for w in caught if issubclass(w.category, GANHealthWarning)]


def test_detector_warns_once_per_episode_on_synthetic_losses():
    health, module = GANHealth(every_n_steps=2, patience=2), _Module()
    health.on_fit_start(None, module)
    healthy, collapsed = _step(1.5), _step(0.05)
    mel_only = {"g_mel": torch.tensor(1.0)}  # not a GAN iteration: ignored
    nan = _step(float("nan"), float("nan"))  # a skipped step's non-finite losses: left out of the means
    warned = _feed(health, module, [healthy] * 4 + [mel_only, nan, collapsed])
    assert not warned and module.logged[-1]["train/health_d_collapse"] == 0.0  # one failed check < patience
    assert module.logged[-1]["train/health_d_ratio"] == pytest.approx(
        0.05 / 2.0
    )  # NaN left out; hinge: undecided D scores 2

    warned = _feed(health, module, [collapsed] * 6)  # 3 more failed checks: one episode, one warning
    assert len(warned) == 1 and "D collapse: discriminator mrd" in warned[0]
    assert "model.optim.lr_d (now 0.0002)" in warned[0] and "model.loss.lambdas.g_mel (now 45.0)" in warned[0]
    assert module.logged[-1]["train/health_d_collapse"] == 1.0

    assert not _feed(health, module, [healthy] * 2) and module.logged[-1]["train/health_d_collapse"] == 0.0
    assert len(_feed(health, module, [collapsed] * 4)) == 1  # a new episode warns again

    runaway = _feed(health, module, [_step(1.5, g_adv_mrd=5.0)] * 4)
    assert (
        len(runaway) == 1
        and "G runaway" in runaway[0]
        and "model.discriminator.mrd.weights.g_adv" in runaway[0]
    )
    assert module.logged[-1]["train/health_g_runaway"] == 1.0
    assert module.logged[-1]["train/health_g_adv_ratio"] == pytest.approx(5.0 / 2.0)


def test_rules_of_the_detector_and_the_early_stop():
    streak = Streak(patience=2)
    assert [streak.update(f) for f in (True, True, True, False, True, True)] == [
        False,
        True,
        False,
        False,
        False,
        True,
    ]
    assert adversarial_loss_name(SimpleNamespace(loss="lsgan")) == "lsgan"
    with pytest.raises(ValueError, match="no reference values for the adversarial loss 'wgan'"):
        adversarial_loss_name(SimpleNamespace(loss="wgan"))
    assert judge(0.5, None, "min", 0.0) == "best" and judge(0.4, 0.5, "min", 0.0) == "best"
    assert judge(0.505, 0.5, "min", 0.01) == "near" and judge(0.52, 0.5, "min", 0.01) == "worse"
    assert judge(3.0, 3.2, "max", 0.1) == "worse" and judge(3.3, 3.2, "max", 0.1) == "best"
    assert judge(float("nan"), 0.5, "min", 0.0) == "worse"


def _compose(*overrides: str):
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=list(overrides))


def test_early_stop_is_on_in_finetune_only_and_checked(tiny_cfg, tiny_corpus):
    data = [f"data.train={tiny_corpus['train']}", f"data.val={tiny_corpus['val']}"]
    assert _compose("experiment=finetune", *data).callbacks.early_stop.patience == 5
    cfg = tiny_cfg()
    assert cfg.callbacks.early_stop.patience is None and cfg.callbacks.early_stop.monitor == "val/mel_l1"
    for override, message in [
        ("callbacks.early_stop.patience=0", "callbacks.early_stop.patience=0: must be an integer >= 1"),
        (
            "callbacks.gan_health.d_collapse_ratio=2",
            "callbacks.gan_health.d_collapse_ratio=2: must be in (0, 1)",
        ),
    ]:
        with pytest.raises(ConfigError, match=override.replace(".", r"\.")) as e:
            check_run_config(tiny_cfg(override))
        assert message in str(e.value)
    with pytest.raises(ConfigError, match=r"callbacks\.early_stop\.mode=min: val/pesq is better when higher"):
        check_run_config(tiny_cfg("callbacks.early_stop.patience=3", "callbacks.early_stop.monitor=val/pesq"))


def test_fresh_discriminators_that_win_after_warmup_are_caught(tiny_cfg):
    # a fine-tune's failure in small: 12 D-only iterations at a large lr_d, then the GAN starts against
    # discriminators that separate the generator's audio completely (d_mrd ~0.065, 1/30 of hinge's
    # undecided 2.0) and G's adversarial loss is ~8x the "D is sure" level; 2 GAN iterations, checked each
    cfg = tiny_cfg(
        "model.optim.lr_d=0.03",
        "model.optim.disc_warmup_steps=12",
        "trainer.max_steps=16",
        "trainer.val_check_interval=14",
        "validation.metrics=[]",
        "cpu_threads=1",
        "callbacks.gan_health.every_n_steps=1",
        "callbacks.gan_health.patience=2",
    )
    with pytest.warns(GANHealthWarning) as caught:
        train(cfg)
    messages = [str(w.message) for w in caught if issubclass(w.category, GANHealthWarning)]
    assert any("D collapse" in m for m in messages) and any("G runaway" in m for m in messages), messages
    ea = EventAccumulator(str(Path(cfg.paths.output_dir) / "tensorboard"), size_guidance={"scalars": 0})
    ea.Reload()
    assert [e.value for e in ea.Scalars("train/health_d_collapse")][-1] == 1.0
    assert [e.value for e in ea.Scalars("train/health_g_runaway")][-1] == 1.0


def _generator_and_discriminators(state: dict) -> dict:
    return {k: v for k, v in state.items() if k.startswith(("generator.", "adversary."))}


def test_worsening_finetune_stops_and_restores_the_best_checkpoint(tiny_cfg):
    # fine-tune-like: the first validation follows the D-only warm-up (the generator as it started),
    # then a huge lr_g wrecks the generator: validation gets worse, twice, and the run stops
    overrides = [
        "model.optim.disc_warmup_steps=2",
        "model.optim.lr_g=1.0",
        "trainer.max_steps=40",
        "validation.metrics=[]",
        "cpu_threads=1",
        "callbacks=ema",
        "callbacks.ema.decay=0.5",
        "callbacks.progress_bar=null",
        "callbacks.early_stop.patience=2",
    ]
    cfg = tiny_cfg(*overrides)
    train(cfg)
    ckpts = Path(cfg.paths.output_dir) / "checkpoints"
    last, best = load_checkpoint(ckpts / "last.ckpt"), load_checkpoint(next(ckpts.glob("best-step*.ckpt")))
    stop = next(v for k, v in last["callbacks"].items() if k.startswith("EarlyStopRestore"))
    assert best["global_step"] == stop["best_step"] == 2 and stop["worse_in_a_row"] == 2
    assert stop["stopped_step"] == last["global_step"] < 20  # of max_steps 40
    best_state, last_state = (
        _generator_and_discriminators(best["state_dict"]),
        _generator_and_discriminators(last["state_dict"]),
    )
    assert best_state.keys() == last_state.keys()
    for k, v in best_state.items():
        assert torch.equal(last_state[k], v), k
    for k, v in best["vocoder_train"]["ema_generator"].items():
        assert torch.equal(last["vocoder_train"]["ema_generator"][k], v), k

    train(tiny_cfg(*overrides))  # the same command again: the run stays stopped
    assert load_checkpoint(ckpts / "last.ckpt")["global_step"] == last["global_step"]

    # a best state from before a resume is not in memory: it comes from ModelCheckpoint's best file
    module, best_path = build_module(cfg), next(ckpts.glob("best-step*.ckpt"))
    trainer = SimpleNamespace(
        callbacks=[],
        checkpoint_callback=SimpleNamespace(monitor="val/mel_l1", best_model_path=str(best_path)),
    )
    assert "from " + str(best_path) in EarlyStopRestore(patience=2)._restore(trainer, module)
    restored = _generator_and_discriminators(module.state_dict())
    assert all(torch.equal(restored[k], v) for k, v in best_state.items())
