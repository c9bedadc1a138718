"""The generator: vocos-compatible weights and outputs, autograd and bf16, the IMDCT head."""

from __future__ import annotations

import torch
from vocos import Vocos
from vocos.feature_extractors import MelSpectrogramFeatures
from vocos.heads import ISTFTHead
from vocos.models import VocosBackbone

from vocoder_train.io.buffers import vocos_state_dict
from vocoder_train.models.generator import build_generator, to_vocos_config


def test_generator_state_dict_loads_into_vocos_and_matches(tiny_cfg):
    cfg = tiny_cfg()
    torch.manual_seed(0)
    gen = build_generator(cfg.model.generator).eval()
    vc = to_vocos_config(cfg.model.generator)
    ref = Vocos(
        MelSpectrogramFeatures(**vc["feature_extractor"]["init_args"]),
        VocosBackbone(**vc["backbone"]["init_args"]),
        ISTFTHead(**vc["head"]["init_args"]),
    )
    ref.load_state_dict(vocos_state_dict(gen))  # strict: same keys, same shapes
    audio = torch.randn(2, 4096) * 0.1
    with torch.no_grad():
        ours = gen(audio)
    expected = ref(audio)  # vocos returns frames * hop samples (T + hop here); ours trims to T
    assert expected.shape[-1] == audio.shape[-1] + 64
    torch.testing.assert_close(ours, expected[..., : audio.shape[-1]], rtol=0, atol=0)
    assert ours.shape == audio.shape and ours.requires_grad is False


def test_generator_trains_with_autograd_and_bf16(tiny_cfg):
    gen = build_generator(tiny_cfg().model.generator)
    audio = torch.randn(2, 4096) * 0.1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = gen(audio)  # the ISTFT head runs in fp32 inside
    assert out.dtype == torch.float32
    out.square().mean().backward()
    assert all(p.grad is not None for p in gen.backbone.parameters())


def test_imdct_head_is_selectable_and_trains(tiny_cfg):
    cfg = tiny_cfg(
        "model/generator=vocos_imdct",
        "model.generator.backbone.dim=32",
        "model.generator.backbone.intermediate_dim=64",
        "model.generator.backbone.num_layers=1",
    )
    gen = build_generator(cfg.model.generator)
    assert type(gen.head).__name__ == "IMDCTCosHead"
    audio = torch.randn(2, 4096) * 0.1
    out = gen(audio)
    assert out.shape == audio.shape
    out.square().mean().backward()
