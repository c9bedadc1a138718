"""Checkpoints hold weights, not the windows and filterbanks rebuilt from the config; checkpoints
that did hold them (written before they were left out) still resume, load, export and seed a fine-tune."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
import torchaudio
import yaml
from vocos import Vocos

from vocoder_train.io.buffers import derived_keys, drop_derived, vocos_state_dict
from vocoder_train.io.checkpoint import load_checkpoint
from vocoder_train.losses.spectral import (
    HeadMagnitudeLoss,
    MelReconstructionLoss,
    MultiResolutionSTFTLoss,
    MultiScaleMelLoss,
)
from vocoder_train.models.discriminators import (
    MultiResolutionDiscriminator,
    MultiScaleDiscriminator,
    MultiScaleSTFTDiscriminator,
    MultiScaleSubBandCQTDiscriminator,
)
from vocoder_train.models.export import export
from vocoder_train.models.frontends import HifiganMelFeatures
from vocoder_train.models.generator import build_generator, to_vocos_config
from vocoder_train.models.store import load_generator
from vocoder_train.models.vocoder import load_vocoder
from vocoder_train.training.finetune import apply_init
from vocoder_train.training.run import build_module, train

# What a tiny-config checkpoint held while these buffers were persistent.
OLD_STYLE_KEYS = {
    "generator.feature_extractor.mel_spec.spectrogram.window",
    "generator.feature_extractor.mel_spec.mel_scale.fb",
    "generator.head.istft.window",
    "mel_loss.mel_spec.spectrogram.window",
    "mel_loss.mel_spec.mel_scale.fb",
}
RESUME = (
    "callbacks=ema",
    "callbacks.progress_bar=null",
    "validation.metrics=[]",
    "trainer.val_check_interval=1",
)


def _saved_buffers(module: torch.nn.Module) -> list[str]:
    """State-dict keys that are buffers, but spectral norm's power-iteration state (learnt, not derived)."""
    buffers = {name for name, _ in module.named_buffers()}
    return [k for k in module.state_dict() if k in buffers and not k.endswith(("._u", "._v"))]


def test_no_module_saves_a_derived_buffer(tiny_cfg):
    imdct = tiny_cfg(
        "model/generator=vocos_imdct",
        "model.generator.backbone.dim=16",
        "model.generator.backbone.intermediate_dim=32",
        "model.generator.backbone.num_layers=1",
    )
    modules = {
        "mrd": MultiResolutionDiscriminator((64, 32), channels=4),
        "msstft": MultiScaleSTFTDiscriminator(((64, 16, 64), (32, 8, 32)), channels=4),
        "cqtd": MultiScaleSubBandCQTDiscriminator(16000, (64,), (12,), n_octaves=3, channels=4),
        "msd": MultiScaleDiscriminator(2, (8, 8), (5, 5), (1, 2), (1, 2)),
        "mel": MelReconstructionLoss(16000, 256, 64, 32),
        "msmel": MultiScaleMelLoss(16000, ((64, 16, 10), (128, 32, 20))),
        "mrstft": MultiResolutionSTFTLoss(((64, 16, 64),)),
        "headmag": HeadMagnitudeLoss(256, 64, sample_rate=16000, n_mels=32, mel_weight=1.0),
        "hifigan_frontend": HifiganMelFeatures(16000, 256, 64, n_mels=32),
        "imdct_generator": build_generator(imdct.model.generator),
        "tiny_gan": build_module(tiny_cfg()),
    }
    for name, module in modules.items():
        assert _saved_buffers(module) == [], name
    gan = modules["tiny_gan"]
    assert set(vocos_state_dict(gan)) - set(gan.state_dict()) == OLD_STYLE_KEYS
    assert OLD_STYLE_KEYS <= derived_keys(gan)
    assert {"head.imdct.pre_twiddle", "head.imdct.post_twiddle"} <= derived_keys(modules["imdct_generator"])


def test_rebuilt_buffers_equal_the_ones_upstream_saves(tiny_cfg, tmp_path):
    """What vocos and torchaudio keep persistent is what we rebuild, value for value."""
    cfg = tiny_cfg()
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(to_vocos_config(cfg.model.generator)))
    upstream = Vocos.from_hparams(str(tmp_path / "config.yaml")).state_dict()
    ours = vocos_state_dict(build_generator(cfg.model.generator))
    assert ours.keys() == upstream.keys()
    for key in OLD_STYLE_KEYS:
        if key.startswith("generator."):
            assert torch.equal(ours[key[len("generator.") :]], upstream[key[len("generator.") :]]), key
    loss = MelReconstructionLoss(16000, 256, 64, 32)
    plain = torchaudio.transforms.MelSpectrogram(
        16000, n_fft=256, hop_length=64, n_mels=32, center=True, power=1
    )
    rebuilt = dict(loss.mel_spec.named_buffers())
    assert plain.state_dict().keys() == {"spectrogram.window", "mel_scale.fb"}
    for key, value in plain.state_dict().items():
        assert torch.equal(rebuilt[key], value), key


def test_a_differing_saved_buffer_is_dropped_with_a_warning():
    loss = MelReconstructionLoss(16000, 256, 64, 32)
    state = {"mel_spec.mel_scale.fb": loss.mel_spec.mel_scale.fb * 1.01, "other": torch.zeros(1)}
    with pytest.warns(UserWarning, match=r"mel_spec.mel_scale.fb differ from the ones rebuilt"):
        assert drop_derived(state, loss).keys() == {"other"}


def _old_style(ckpt_path: Path, cfg, out: Path) -> Path:
    """``ckpt_path`` with the derived buffers added back, as checkpoints were written before."""
    ckpt = load_checkpoint(ckpt_path)
    module = build_module(cfg)
    extra = {k: v for k, v in vocos_state_dict(module).items() if k not in module.state_dict()}
    ckpt["state_dict"].update(extra)
    ema = ckpt["vocoder_train"]["ema_generator"]
    ema.update({k[len("generator.") :]: v for k, v in extra.items() if k.startswith("generator.")})
    torch.save(ckpt, out)
    return out


def _resume_one_more_iteration(tiny_cfg, ckpt: Path, run_name: str) -> dict:
    start = load_checkpoint(ckpt)["global_step"]
    cfg = tiny_cfg(*RESUME, f"run_name={run_name}", f"ckpt_path={ckpt}", f"trainer.max_steps={start + 2}")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        train(cfg)
    assert not [w for w in seen if "differ from the ones rebuilt" in str(w.message)]  # rebuilt == saved
    resumed = load_checkpoint(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    assert resumed["global_step"] == start + 2
    return resumed


def test_a_checkpoint_without_buffers_resumes(tiny_checkpoint, tiny_cfg):
    ckpt = load_checkpoint(tiny_checkpoint)
    assert not OLD_STYLE_KEYS & set(ckpt["state_dict"])
    assert not {k.split(".", 1)[1] for k in OLD_STYLE_KEYS} & set(ckpt["vocoder_train"]["ema_generator"])
    resumed = _resume_one_more_iteration(tiny_cfg, tiny_checkpoint, "resume_new")
    assert not OLD_STYLE_KEYS & set(resumed["state_dict"])


def test_an_old_style_checkpoint_resumes_loads_exports_and_seeds_a_finetune(
    tiny_checkpoint, tiny_cfg, tmp_path
):
    cfg = tiny_cfg(*RESUME)
    old = _old_style(tiny_checkpoint, cfg, tmp_path / "old.ckpt")
    assert OLD_STYLE_KEYS <= set(load_checkpoint(old)["state_dict"])

    resumed = _resume_one_more_iteration(tiny_cfg, old, "resume_old")
    assert not OLD_STYLE_KEYS & set(resumed["state_dict"])  # written back without them

    raw, _ = load_generator(tiny_checkpoint)
    for ema in (False, True):
        gen, sr = load_generator(old, ema=ema)
        assert sr == 16000
    assert torch.equal(load_generator(old)[0].backbone.embed.weight, raw.backbone.embed.weight)
    mel = torch.randn(1, 32, 9)
    torch.testing.assert_close(load_vocoder(old).decode(mel), load_vocoder(tiny_checkpoint).decode(mel))

    result = export(old, tmp_path / "vocos", "vocos")
    assert result.max_abs_diff <= 1e-4
    exported = load_checkpoint(tmp_path / "vocos" / "pytorch_model.bin")
    assert {k[len("generator.") :] for k in OLD_STYLE_KEYS if k.startswith("generator.")} <= set(exported)

    module = build_module(cfg)
    apply_init(module, {"path": str(old), "weights": "all"}, cfg.model.generator)
    assert torch.equal(module.generator.backbone.embed.weight, raw.backbone.embed.weight)
