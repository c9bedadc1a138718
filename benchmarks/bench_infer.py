"""Inference: real-time factor on 10 s at 24 kHz (2 s with ``--quick``), base model, random weights:
``vocos.Vocos.decode`` fp32 eager vs our TorchScript and ONNX Runtime exports, the fused module in fp32
and with bf16 pointwise GEMMs, and the engine ``vocoder-synthesize`` picks by default; with each one's
max abs difference to vocos."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from benchmarks.harness import Benchmark, Options, alternate, ratio_table
from benchmarks.upstream import HOP, N_FFT, N_MELS, SR, build_upstream_generator, make_batches

PEER = "vocos.Vocos.decode fp32 eager"


def run(opts: Options) -> dict:
    from vocos.pretrained import Vocos

    from vocoder_train.hardware import bf16_matmul_is_fast
    from vocoder_train.io.checkpoint import load_torchscript
    from vocoder_train.models.export_formats import write_onnx, write_torchscript
    from vocoder_train.models.generator import VocosGenerator
    from vocoder_train.models.graph_vocoders import onnx_session
    from vocoder_train.models.inference.fused import FusedVocos
    from vocoder_train.models.vocoder import TorchVocoder

    torch.manual_seed(0)
    seconds = 2.0 if opts.quick else 10.0
    reps = 3 if opts.quick else 7
    peer = build_upstream_generator().eval()
    assert isinstance(peer, Vocos)
    ours = VocosGenerator(peer.feature_extractor, peer.backbone, peer.head).eval()  # shares the weights
    audio = make_batches(1, 1, int(seconds * SR), seed=3)[0]
    with torch.inference_mode():
        mel = peer.feature_extractor(audio)
    cfg = {
        "feature_extractor": {
            "class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
            "init_args": {"sample_rate": SR, "n_fft": N_FFT, "hop_length": HOP, "n_mels": N_MELS},
        },
        "backbone": {"class_path": "vocos.models.VocosBackbone", "init_args": {"input_channels": N_MELS}},
        "head": {"class_path": "vocos.heads.ISTFTHead", "init_args": {"n_fft": N_FFT, "hop_length": HOP}},
        "sample_rate": SR,
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_torchscript(ours, cfg, folder, [mel], 17)
        write_onnx(ours, cfg, folder, [mel], 17)
        ts_files = sorted(folder.glob("*.pt")) + sorted(folder.glob("*.ts"))
        ts = load_torchscript(ts_files[0])
        sess = onnx_session(
            next(folder.glob("*.onnx")), threads=opts.threads
        )  # no spin-waits (see onnx_session)
    in_name = sess.get_inputs()[0].name
    mel_np = mel.numpy()
    fused32 = FusedVocos(ours).eval()
    fused16 = FusedVocos(ours, torch.bfloat16).eval()
    auto = TorchVocoder(ours, Path("benchmark"), "vocos", cfg, SR, engine="auto")

    def eager_fp32():
        return peer.decode(mel)

    def torchscript():
        with torch.inference_mode():
            return ts(mel)

    def onnx():
        return torch.from_numpy(sess.run(None, {in_name: mel_np})[0])

    def fused_fp32():
        with torch.inference_mode():
            return fused32(mel)

    def fused_bf16():
        with torch.inference_mode():
            return fused16(mel)

    def default_engine():
        return auto.decode(mel)

    fns = {
        PEER: eager_fp32,
        "ours TorchScript fp32": torchscript,
        "ours ONNX Runtime fp32": onnx,
        "ours fused fp32": fused_fp32,
        "ours fused, bf16 pointwise GEMMs"
        + ("" if bf16_matmul_is_fast() else " (no native bf16 here)"): fused_bf16,
        f"ours engine=auto -> {auto.engine} (vocoder-synthesize default)": default_engine,
    }
    ref = eager_fp32()
    outs = {k: f().float() for k, f in fns.items()}  # also the warm-up
    diffs = {
        k: float((o[..., : ref.shape[-1]] - ref[..., : o.shape[-1]]).abs().max()) for k, o in outs.items()
    }
    t = {k: [seconds / s for s in v] for k, v in alternate(fns, reps, opts.now).items()}  # x real time
    return {"x_real_time": t, "max_abs_diff": diffs, "seconds": seconds}


def format_infer(res: dict, opts: Options) -> str:
    title = (
        f"Inference, mel -> waveform, {res['seconds']:g} s at {SR // 1000} kHz, batch 1, "
        "base model (random weights)"
    )
    diffs = {k: f"{v:.2e}" for k, v in res["max_abs_diff"].items()}
    return ratio_table(
        title,
        ("runtime", "x real time"),
        res["x_real_time"],
        PEER,
        "speed ratio to vocos fp32",
        digits=1,
        extra=diffs,
        extra_label="max abs diff vs vocos fp32",
    )


BENCHMARK = Benchmark("infer", "Inference", run, format_infer)
