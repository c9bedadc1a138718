"""Fine-tuning from a vocos folder (made by vocos.Vocos itself) and from our checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from vocos import Vocos

from vocoder_train.io.buffers import vocos_state_dict
from vocoder_train.io.checkpoint import load_checkpoint
from vocoder_train.models.generator import to_vocos_config
from vocoder_train.training.finetune import InitError, apply_init
from vocoder_train.training.run import build_module, train


def _vocos_folder(cfg, folder: Path, **changes) -> Vocos:
    """A vocos folder written the way charactr/vocos-mel-24khz is: config.yaml + pytorch_model.bin."""
    vc = to_vocos_config(cfg.model.generator)
    for key, value in changes.items():
        part, name = key.split(".")
        vc[part]["init_args"][name] = value
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(vc))
    torch.manual_seed(7)
    model = Vocos.from_hparams(str(folder / "config.yaml"))
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return model


def test_finetune_from_a_vocos_folder_with_discriminator_warmup(tiny_cfg, tmp_path):
    cfg = tiny_cfg("model.optim.disc_warmup_steps=2", "trainer.max_steps=6")
    pretrained = _vocos_folder(cfg, tmp_path / "vocos-mel")
    module = build_module(cfg)
    apply_init(module, {"path": str(tmp_path / "vocos-mel")}, cfg.model.generator)
    ours = vocos_state_dict(module.generator)  # weights loaded, windows/filterbanks rebuilt: all equal vocos'
    for k, v in pretrained.state_dict().items():
        assert torch.equal(ours[k], v), k

    cfg.init.path = str(tmp_path / "vocos-mel")
    metrics = train(cfg)
    assert metrics["val/mel_l1"] > 0
    ckpt = load_checkpoint(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    assert ckpt["global_step"] == 2 + 2 * 2  # 2 D-only iterations, then 2 GAN iterations


def test_mismatched_front_end_is_refused_with_the_key(tiny_cfg, tmp_path):
    cfg = tiny_cfg()
    _vocos_folder(cfg, tmp_path / "other", **{"feature_extractor.sample_rate": 22050})
    with pytest.raises(InitError, match=r"feature_extractor.sample_rate: pretrained 22050, configured 16000"):
        apply_init(build_module(cfg), {"path": str(tmp_path / "other")}, cfg.model.generator)


def test_mismatched_size_is_refused_naming_what_to_set(tiny_cfg, tmp_path):
    cfg = tiny_cfg()
    _vocos_folder(cfg, tmp_path / "big", **{"backbone.intermediate_dim": 96})
    with pytest.raises(
        InitError,
        match=r"intermediate_dim 96 \(configured 64\); add model.generator.backbone.dim=32 "
        r"model.generator.backbone.intermediate_dim=96 model.generator.backbone.num_layers=2",
    ):
        apply_init(build_module(cfg), {"path": str(tmp_path / "big")}, cfg.model.generator)


def test_a_folder_of_a_shipped_size_names_its_generator_option_before_training(tiny_cfg, tmp_path):
    """A vocos_small folder fine-tuned with the configured vocos_base: the config check names the option."""
    from vocoder_train.config.checks import ConfigError
    from vocoder_train.training.run import check_run_config

    cfg = tiny_cfg()
    _vocos_folder(
        cfg,
        tmp_path / "small",
        **{"backbone.dim": 192, "backbone.intermediate_dim": 576, "backbone.num_layers": 6},
    )
    cfg.init.path = str(tmp_path / "small")
    with pytest.raises(ConfigError, match=r"dim 192 \(configured 32\).*; add model/generator=vocos_small"):
        check_run_config(cfg)


def test_finetune_without_init_path_is_refused(tiny_cfg):
    from vocoder_train.config.checks import ConfigError
    from vocoder_train.training.run import check_run_config

    cfg = tiny_cfg("experiment=finetune", "preset=16k")
    with pytest.raises(
        ConfigError, match=r"init.path is not set: .*init.required=false to start from random"
    ):
        check_run_config(cfg)
    cfg.init.required = False  # random weights on purpose
    check_run_config(cfg)


def test_init_from_our_checkpoint_all_weights(tiny_cfg, tmp_path):
    first = tiny_cfg("trainer.max_steps=2")
    train(first)
    ckpt = Path(first.paths.output_dir) / "checkpoints" / "last.ckpt"
    cfg = tiny_cfg("run_name=second")
    module = build_module(cfg)
    apply_init(module, {"path": str(ckpt), "weights": "all"}, cfg.model.generator)
    state = load_checkpoint(ckpt)["state_dict"]
    assert torch.equal(
        module.adversary.state_dict()["discriminators.mpd.discriminators.0.convs.0.bias"],
        state["adversary.discriminators.mpd.discriminators.0.convs.0.bias"],
    )
    with pytest.raises(InitError, match="has no EMA weights"):
        apply_init(module, {"path": str(ckpt), "ema": True}, cfg.model.generator)
