"""A package outside vocoder_train (tests/extension) adds a discriminator, a feature front end and a data
source with its own config files, and trains with them: each component is found by its ``_target_`` and
declares the rules of its own config node, which the run's checks report one line each."""

from __future__ import annotations

from pathlib import Path

import pytest

from vocoder_train.config import CONFIG_DIR
from vocoder_train.config.checks import ConfigError
from vocoder_train.config.compose import compose_checked
from vocoder_train.training.run import check_run_config, train

EXTENSION = Path(__file__).resolve().parent / "extension"


@pytest.fixture
def overrides(monkeypatch, tmp_path) -> list[str]:
    """The tiny experiment with the extension's three components, its configs on Hydra's search path."""
    monkeypatch.syspath_prepend(str(EXTENSION))
    return [
        "experiment=tiny",
        f"hydra.searchpath=[file://{EXTENSION / 'configs'}]",
        "model/discriminator=ext_envelope",
        "model/generator=ext_linear",
        "data=ext_tones",
        f"paths.runs_dir={tmp_path / 'runs'}",
    ]


def _compose(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=overrides)


def test_a_discriminator_front_end_and_data_source_from_outside_train(overrides):
    from vocoder_extension import EnvelopeDiscriminator, LinearSpectrogramFeatures, ToneData

    cfg = _compose(overrides + ["trainer.max_steps=4", "trainer.val_check_interval=2"])
    seen = {}

    class Look:  # what the Trainer trained: the extension's parts, not the defaults
        def on_train_end(self, trainer, module):
            seen["disc"] = type(module.adversary.discriminators["envelope"])
            seen["frontend"] = type(module.generator.feature_extractor)
            seen["data"] = type(trainer.datamodule.data)
            seen["step"] = trainer.global_step

    import pytorch_lightning as pl

    metrics = train(cfg, callbacks=[type("LookCallback", (Look, pl.Callback), {})()])
    assert seen == {
        "disc": EnvelopeDiscriminator,
        "frontend": LinearSpectrogramFeatures,
        "data": ToneData,
        "step": 4,
    }
    assert {"train/d_envelope", "train/g_fm_envelope", "val/mel_l1", "val/pesq"} <= set(metrics)
    assert (Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt").is_file()


def test_the_extension_declares_its_rules_and_they_are_reported_one_line_each(overrides):
    bad = overrides + [
        "model.discriminator.envelope.frame_lengths=[64,63]",
        "data.f0_range=[100.0,3000.0]",
        "audio.n_fft=512",
    ]
    with pytest.raises(ConfigError) as e:
        compose_checked(bad, check_run_config)
    assert sorted(e.value.problems) == sorted(
        [
            "model.generator.backbone.input_channels=129 != 257, "
            "the channels of feature_extractor's features",
            "model.discriminator.envelope.frame_lengths has 63: use a multiple of 4",
            "data.f0_range tops at 3000.0 Hz: its 4th harmonic reaches Nyquist; use at most 2000",
        ]
    )
    check_run_config(_compose(overrides))  # the shipped values pass


def test_a_misspelled_target_is_named_before_any_work(overrides):
    cfg = _compose(
        overrides + ["model.discriminator.envelope._target_=vocoder_extension.EnvelopeDiscrimnator"]
    )
    with pytest.raises(ConfigError, match=r"model.discriminator.envelope._target_=vocoder_extension"):
        check_run_config(cfg)
