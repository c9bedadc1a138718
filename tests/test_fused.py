"""FusedVocos (inference): same function as the generator, fewer passes; bf16 products within 1e-3."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from vocos.feature_extractors import MelSpectrogramFeatures
from vocos.heads import ISTFTHead
from vocos.models import VocosBackbone

from vocoder_train.models.generator import VocosGenerator
from vocoder_train.models.inference.fused import FusedVocos, FusionUnsupported


def _generator(n_fft=256, hop=64, padding="same", dim=32, layers=3, layer_scale=True, seed=0):
    torch.manual_seed(seed)
    gen = VocosGenerator(
        MelSpectrogramFeatures(16000, 256, 64, 24, padding="center"),
        VocosBackbone(24, dim, 3 * dim, layers, layer_scale_init_value=1 / 3 if layer_scale else None),
        ISTFTHead(dim, n_fft, hop, padding=padding),
    ).eval()
    with torch.no_grad():  # trained-looking norms and layer scales (the initial ones are 1, 0 and 1/3)
        for block in gen.backbone.convnext:
            block.norm.weight.uniform_(0.5, 1.5)
            block.norm.bias.uniform_(-0.3, 0.3)
            if block.gamma is not None:
                block.gamma.uniform_(0.05, 1.0)
    return gen


def _mel(gen, frames=60, batch=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    return gen.features(0.2 * torch.randn(batch, frames * 64, generator=g))


@pytest.mark.parametrize(
    "n_fft,hop,padding,layer_scale",
    [(256, 64, "same", True), (256, 64, "center", True), (200, 60, "same", True), (256, 64, "same", False)],
)
def test_fused_equals_the_generator(n_fft, hop, padding, layer_scale):
    gen = _generator(n_fft, hop, padding, layer_scale=layer_scale)
    mel = _mel(gen)
    with torch.inference_mode():
        ref = gen.synthesize(mel)
        out = FusedVocos(gen)(mel)
        out16 = FusedVocos(gen, torch.bfloat16)(mel)
    assert out.shape == ref.shape
    assert (out - ref).abs().max() < 1e-5 * ref.abs().max()
    err16 = (out16 - ref).abs().max() / ref.abs().max()
    assert 0 < err16 < 1e-3  # bf16 products do round, but only inside the scaled block outputs


def test_fused_handles_changing_lengths_and_tracing():
    gen = _generator()
    fused = FusedVocos(gen).eval()
    with torch.inference_mode():
        for frames in (5, 40, 5, 17):  # the envelope cache follows the frame count
            mel = _mel(gen, frames, batch=1)
            torch.testing.assert_close(fused(mel), gen.synthesize(mel), rtol=0, atol=1e-6)
    traced = torch.jit.trace(fused, _mel(gen, 30, batch=1), check_trace=False)
    mel = _mel(gen, 30, batch=1, seed=5)
    with torch.inference_mode():
        torch.testing.assert_close(traced(mel), gen.synthesize(mel), rtol=0, atol=1e-6)


def test_unsupported_generators_are_refused_by_name(monkeypatch):
    import scipy.signal
    from vocos.heads import IMDCTCosHead

    monkeypatch.setattr(scipy.signal, "cosine", scipy.signal.windows.cosine, raising=False)
    gen = VocosGenerator(
        MelSpectrogramFeatures(16000, 256, 64, 24), VocosBackbone(24, 16, 32, 1), IMDCTCosHead(16, 128)
    )
    with pytest.raises(FusionUnsupported, match="IMDCTCosHead"):
        FusedVocos(gen)


def test_fused_adaln_backbone_equals_the_generator_at_every_condition():
    """AdaLN (vocos' EnCodec model): each conditioning id's norm affine folded into its own pwconv1."""
    torch.manual_seed(0)
    gen = VocosGenerator(
        MelSpectrogramFeatures(16000, 256, 64, 24, padding="center"),
        VocosBackbone(24, 32, 96, 2, adanorm_num_embeddings=3),
        ISTFTHead(32, 256, 64, padding="same"),
    ).eval()
    with torch.no_grad():  # a different affine per id (vocos starts them at 1 and 0)
        for norm in [gen.backbone.norm, *(b.norm for b in gen.backbone.convnext)]:
            norm.scale.weight.uniform_(0.5, 1.5)
            norm.shift.weight.uniform_(-0.3, 0.3)
    mel, fused = _mel(gen), FusedVocos(gen)
    outs = []
    with torch.inference_mode():
        for c in range(3):
            ref = gen.synthesize(mel, c)
            outs.append(fused(mel, c))
            assert (outs[-1] - ref).abs().max() < 1e-5 * ref.abs().max(), c
        assert not torch.allclose(outs[0], outs[1])
        with pytest.raises(ValueError, match="conditioned on 3 ids"):
            fused(mel)


def test_synthesize_engines_agree(tiny_checkpoint, tmp_path, capsys):
    from vocoder_train.cli.synthesize import main
    from vocoder_train.io.audio import load_audio
    from vocoder_train.models.vocoder import load_vocoder

    fused, eager = (
        load_vocoder(tiny_checkpoint, engine="fused"),
        load_vocoder(tiny_checkpoint, engine="eager"),
    )
    assert fused.engine == "fused" and fused.fused is not None and eager.fused is None
    mel = (
        torch.from_numpy(np.random.default_rng(0).standard_normal((1, fused.n_mels, 50)).astype("float32"))
        - 4
    )
    torch.testing.assert_close(fused.decode(mel), eager.decode(mel), rtol=0, atol=1e-6)
    np.save(tmp_path / "m.npy", mel[0].numpy())
    outs = {}
    for engine in ("eager", "fused", "fused-bf16"):
        assert (
            main(
                [
                    str(tiny_checkpoint),
                    str(tmp_path / "m.npy"),
                    "-o",
                    str(tmp_path / engine),
                    "--engine",
                    engine,
                ]
            )
            == 0
        )
        assert f"(checkpoint, engine {engine})" in capsys.readouterr().out
        outs[engine] = load_audio(tmp_path / engine / "m.wav")[0]
    assert (outs["eager"] - outs["fused"]).abs().max() <= 1.01 / 32768  # at most one 16-bit step apart
    assert (outs["fused-bf16"] - outs["eager"]).abs().max() < 1e-3
    with pytest.raises(SystemExit):
        main([str(tiny_checkpoint), str(tmp_path / "m.npy"), "-o", str(tmp_path / "x"), "--engine", "turbo"])


@pytest.mark.parametrize("native", [False, True])
def test_auto_engine_takes_bf16_only_where_native_and_close_enough(tiny_checkpoint, monkeypatch, native):
    import vocoder_train.hardware
    from vocoder_train.models import vocoder as vocoders

    monkeypatch.setattr(vocoder_train.hardware, "bf16_matmul_is_fast", lambda device="cpu": native)
    vocoder = vocoders.load_vocoder(tiny_checkpoint)  # engine="auto", the default
    assert vocoder.engine == ("fused-bf16" if native else "fused"), vocoder.engine_note
    assert ("native bf16" in vocoder.engine_note) if native else ("no native bf16" in vocoder.engine_note)
    if native:  # a model whose bf16 output strays past the tolerance keeps fp32
        monkeypatch.setattr(vocoders, "AUTO_BF16_TOLERANCE", 0.0)
        strict = vocoders.load_vocoder(tiny_checkpoint)
        assert strict.engine == "fused" and "differs by" in strict.engine_note
        mel = torch.randn(1, strict.n_mels, 40) - 4
        torch.testing.assert_close(
            strict.decode(mel),
            vocoders.load_vocoder(tiny_checkpoint, engine="eager").decode(mel),
            rtol=0,
            atol=1e-6,
        )
