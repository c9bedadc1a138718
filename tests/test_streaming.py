"""The causal generator and the streamers: streaming == offline for every chunk schedule (PyTorch and
ONNX), the look-ahead streamer, refusals that say what to do, training and the CLI on a causal model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers.training import changed, fit
from vocoder_train.cli.synthesize import main as synthesize_main
from vocoder_train.dsp import causal_latency, expected_frames
from vocoder_train.evaluation.timing import stream_mel
from vocoder_train.io.audio import load_audio
from vocoder_train.models.export import export
from vocoder_train.models.export_formats import _state_dict, write_config
from vocoder_train.models.generator import build_generator, to_vocos_config
from vocoder_train.models.inference.fused import FusedVocos, FusionUnsupported
from vocoder_train.models.inference.streaming import exact_lookahead
from vocoder_train.models.stored_config import ModelError
from vocoder_train.models.vocoder import load_vocoder

SR, N_FFT, HOP, N_MELS = 16000, 256, 64, 32  # the tiny experiment's signal
TOL = 1e-5
VARYING = (1, 5, 2, 9, 0, 3, 17, 1, 32, 4)  # chunk sizes that change from call to call (0: an empty push)


def _config(causal: bool) -> dict:
    pkg = "vocoder_train.models.causal.Causal" if causal else None
    signal = {"sample_rate": SR, "n_fft": N_FFT, "hop_length": HOP, "n_mels": N_MELS}
    return {
        "_target_": "vocoder_train.models.generator.VocosGenerator",
        "feature_extractor": {
            "_target_": f"{pkg}MelSpectrogramFeatures"
            if causal
            else "vocos.feature_extractors.MelSpectrogramFeatures",
            **signal,
        },
        "backbone": {
            "_target_": f"{pkg}VocosBackbone" if causal else "vocos.models.VocosBackbone",
            "input_channels": N_MELS,
            "dim": 32,
            "intermediate_dim": 64,
            "num_layers": 2,
        },
        "head": {
            "_target_": f"{pkg}ISTFTHead" if causal else "vocos.heads.ISTFTHead",
            "dim": 32,
            "n_fft": N_FFT,
            "hop_length": HOP,
        },
    }


def _vocos_folder(folder: Path, causal: bool, seed: int = 0) -> Path:
    """A random-weight tiny generator as a vocos folder (config.yaml + pytorch_model.bin)."""
    torch.manual_seed(seed)
    cfg = _config(causal)
    folder.mkdir(parents=True)
    torch.save(_state_dict(build_generator(cfg)), folder / "pytorch_model.bin")
    write_config(to_vocos_config(cfg, SR), folder)
    return folder


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The tiny models' many small operations: faster on one thread, and not stalled by a busy second core."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("stream_models")
    causal, plain = _vocos_folder(root / "causal", True), _vocos_folder(root / "plain", False, seed=1)
    export(causal, root / "stream", "onnx-stream")
    export(causal, root / "onnx", "onnx")
    return {"causal": causal, "plain": plain, "stream": root / "stream", "onnx": root / "onnx"}


def _mel(frames: int, batch: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, N_MELS, frames, generator=torch.Generator().manual_seed(seed)) - 3


def _offline(path: Path, mel: torch.Tensor) -> torch.Tensor:
    return load_vocoder(path, engine="eager").decode(mel)


def _worst(vocoder, mel: torch.Tensor, ref: torch.Tensor, schedules, lookahead=None) -> float:
    worst = 0.0
    for chunks in schedules:
        audio, _ = stream_mel(vocoder.stream(lookahead), mel, chunks)
        assert audio.shape == ref.shape, chunks
        worst = max(worst, (audio - ref).abs().max().item())
    return worst


def test_causal_parts_keep_vocos_keys_and_only_look_back():
    causal, plain = build_generator(_config(True)).eval(), build_generator(_config(False))
    assert causal.state_dict().keys() == plain.state_dict().keys()
    audio = 0.1 * torch.randn(1, 3000, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = causal(audio)
        at = 2000  # a change at this sample reaches back to the start of the first window holding it
        bumped = audio.clone()
        bumped[:, at:] += 0.5
        moved = (causal(bumped) - out).abs()[0]
        assert out.shape == audio.shape
        assert moved[: (at // HOP + 1) * HOP - N_FFT].max() == 0 and moved.max() > 0
    for n in (0, 1, 63, 64, 3000):
        frames = causal.features(torch.zeros(1, n)).shape[-1] if n else 0
        assert frames == expected_frames(n, HOP, N_FFT, "causal")
        assert (
            frames * HOP >= n + causal_latency(N_FFT, HOP) or n == 0
        )  # every returned sample fully overlap-added


def test_pytorch_stream_equals_offline_for_every_chunk_schedule(models):
    vocoder = load_vocoder(models["causal"])
    mel = _mel(150, batch=2)
    ref = _offline(models["causal"], mel)
    worst = _worst(vocoder, mel, ref, [*range(1, 33), VARYING])
    print(f"PyTorch stream vs offline, chunks 1..32 and {VARYING}: max abs diff {worst:.2e}")
    assert worst <= TOL
    streamer = vocoder.stream()
    assert streamer.exact and streamer.latency_samples == N_FFT - HOP
    sizes = [streamer.push(mel[..., i : i + 1]).shape[-1] for i in range(6)]
    assert sizes == [0, 0, 0, HOP, HOP, HOP]  # n_fft / hop - 1 frames of pre-roll, then one hop a frame


def test_onnx_stream_equals_pytorch_stream_and_offline(models):
    onnx, torch_vocoder = load_vocoder(models["stream"]), load_vocoder(models["causal"])
    assert onnx.kind == "onnx-stream"
    mel = _mel(150, seed=1)
    ref = _offline(models["causal"], mel)
    assert _worst(onnx, mel, ref, [*range(1, 33), VARYING]) <= TOL
    for chunks in (1, 7, VARYING):
        a, _ = stream_mel(onnx.stream(), mel, chunks)
        b, _ = stream_mel(torch_vocoder.stream(), mel, chunks)
        assert (a - b).abs().max() <= TOL


def test_lookahead_stream_is_exact_once_it_covers_the_receptive_field(models):
    plain = load_vocoder(models["plain"], engine="eager")
    mel = _mel(120, seed=2)
    ref = plain.decode(mel)
    k = exact_lookahead(plain)
    assert _worst(plain, mel, ref, (1, 3, VARYING), lookahead=k) <= TOL
    assert plain.stream(k).exact and not plain.stream(0).exact
    assert _worst(plain, mel, ref, (4,), lookahead=0) > 1e-4  # too little look-ahead: measurably off
    stateless = load_vocoder(models["onnx"])  # a causal model's plain ONNX graph: exact by re-decoding
    assert _worst(stateless, mel, _offline(models["causal"], mel), (1, VARYING)) <= TOL


def test_streams_that_cannot_be_exact_are_refused_with_what_to_do(models, tmp_path, capsys):
    with pytest.raises(ModelError, match=r"not causal.*look-ahead of K frames"):
        load_vocoder(models["plain"]).stream()
    with pytest.raises(ModelError, match="no look-ahead"):
        load_vocoder(models["causal"]).stream(lookahead=2)
    np.save(tmp_path / "m.npy", _mel(20)[0].numpy())
    assert (
        synthesize_main(
            [str(models["plain"]), str(tmp_path / "m.npy"), "-o", str(tmp_path / "out"), "--stream"]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert str(models["plain"]) in err and "cannot stream exactly" in err and "--lookahead" in err
    assert (
        synthesize_main(
            [
                str(models["plain"]),
                str(tmp_path / "m.npy"),
                "-o",
                str(tmp_path / "out"),
                "--stream",
                "--lookahead",
                "3",
            ]
        )
        == 0
    )


def test_fused_engine_refuses_causal_parts(models):
    causal = build_generator(_config(True))
    with pytest.raises(FusionUnsupported):
        FusedVocos(causal)
    half = build_generator(
        {**_config(False), "backbone": _config(True)["backbone"]}
    )  # causal backbone, plain head
    with pytest.raises(FusionUnsupported, match="dwconv"):
        FusedVocos(half)
    assert load_vocoder(models["causal"], engine="fused").engine == "eager"


@pytest.mark.parametrize(
    "loss, discriminator",
    [("vocos", "tiny"), ("hifigan", "mpd"), ("bigvgan", "cqtd"), ("vocos_mrstft", "msstft")],
)
def test_causal_generator_trains_with_each_objective(tiny_cfg, tmp_path, loss, discriminator):
    cfg = tiny_cfg(
        "model/generator=vocos_causal_small",
        "model.generator.backbone.dim=16",
        "model.generator.backbone.intermediate_dim=32",
        "model.generator.backbone.num_layers=1",
        f"model/loss={loss}",
        f"model/discriminator={discriminator}",
        "model.optim.pretrain_mel_steps=1",
        "audio.segment_length=2048",
    )
    module = fit(cfg, 3, tmp_path)  # 1 mel-only + 1 GAN iteration
    assert changed(module._before[0], module.generator) and changed(module._before[1], module.adversary)


def test_demo_experiment_composes_with_the_causal_generator(tiny_cfg):
    from vocoder_train.models.generator import VocosGenerator

    cfg = tiny_cfg("experiment=demo", "model/generator=vocos_causal_small")
    assert not VocosGenerator.config_problems(cfg.model.generator, "model.generator", cfg)
    assert build_generator(cfg.model.generator).backbone.context_frames == 6 * (6 + 1)


def test_trained_causal_model_streams_from_checkpoint_vocos_folder_and_onnx(tiny_cfg, tmp_path, capsys):
    from vocoder_train.training.run import train

    cfg = tiny_cfg(
        "model/generator=vocos_causal_small",
        "model.generator.backbone.dim=32",
        "model.generator.backbone.intermediate_dim=64",
        "model.generator.backbone.num_layers=2",
        "trainer.max_steps=4",
        "model.optim.pretrain_mel_steps=2",
        "validation.metrics=[]",
        "cpu_threads=1",
    )
    train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    export(ckpt, tmp_path / "vocos", "vocos")
    export(ckpt, tmp_path / "stream", "onnx-stream")
    mel = _mel(45, seed=4)
    np.save(tmp_path / "m.npy", mel[0].numpy())
    ref = _offline(ckpt, mel)
    for model in (ckpt, tmp_path / "vocos", tmp_path / "stream"):
        out = tmp_path / "out" / model.name
        argv = [str(model), str(tmp_path / "m.npy"), "-o", str(out), "--stream", "--chunk-frames", "3"]
        assert synthesize_main(argv) == 0
        printed = capsys.readouterr().out
        assert "carried state (exact)" in printed
        for figure in (
            "algorithmic latency 12.0 ms",
            "first-chunk wall latency",
            "per-chunk compute median",
            "RTF",
        ):
            assert figure in printed, (model, figure)
        got, _ = load_audio(out / "m.wav")
        assert got.shape == ref.shape and (got - ref.clamp(-1, 1)).abs().max() < 2e-4  # 16-bit PCM


def test_chunked_offline_decoding_of_a_causal_model_equals_one_shot(models):
    """vocoder-synthesize's chunking (models/inference/chunked.py) with the causal receptive field."""
    from vocoder_train.models.inference.chunked import receptive_context, synthesize_mel

    vocoder = load_vocoder(models["causal"], engine="eager")
    mel = _mel(90)
    one, _ = synthesize_mel(vocoder, mel, chunk_frames=0)
    for chunk in (7, 16, 40):
        audio, timing = synthesize_mel(vocoder, mel, chunk_frames=chunk)
        assert timing.chunks == -(-90 // chunk)
        diff = float((audio - one).abs().max())
        assert diff <= TOL, f"chunk {chunk}, context {receptive_context(vocoder)}: {diff:.1e}"


def test_frontend_check_reads_a_causal_models_front_end(models, tmp_path, capsys):
    """vocoder-frontend-check --model on a causal export: the causal model's own mel matches it."""
    import math

    import numpy as np

    from vocoder_train.cli.frontend_check import main as frontend_check
    from vocoder_train.io.audio import load_audio, save_audio
    from vocoder_train.models.causal import CausalMelSpectrogramFeatures

    t = torch.arange(int(0.6 * SR)) / SR
    audio = 0.3 * torch.sin(2 * math.pi * 220 * t) + 0.05 * torch.sin(2 * math.pi * 1700 * t)
    save_audio(tmp_path / "a.wav", audio[None], SR)
    read = load_audio(tmp_path / "a.wav", SR)[0]  # the 16-bit file, as the check reads it
    np.save(tmp_path / "a.npy", CausalMelSpectrogramFeatures(SR, N_FFT, HOP, N_MELS)(read)[0].numpy())
    for model in (models["causal"], models["onnx"]):
        assert (
            frontend_check(
                ["--audio", str(tmp_path / "a.wav"), "--mel", str(tmp_path / "a.npy"), "--model", str(model)]
            )
            == 0
        )
        assert capsys.readouterr().out.startswith("no difference")
