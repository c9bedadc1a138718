"""Every CUDA path on a real GPU: ``make test-gpu`` runs the tests marked ``gpu``; each skips,
saying why, where there is no CUDA device (or no second one, or no bf16, or no numba CUDA compiler).

- the numba CUDA kernels (spectral-loss forward and backward, augmentation) against their torch
  references on CUDA tensors, on a side stream and on a second device;
- VocoderGAN training steps in bf16-mixed and 16-mixed (GradScaler), and with a compiled generator;
- DDP over NCCL on two GPUs;
- a 16-mixed run resumed with its GradScaler, its export, vocoder-synthesize and vocoder-evaluate
  with ``--device cuda``, and the loaders that take a ``device``.

Without a GPU the CUDA kernels still run under ``NUMBA_ENABLE_CUDASIM=1``
(tests/kernels_cudasim_check.py, from tests/test_kernels.py and ``make test-gpu``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers.audio import tone
from tests.helpers.ddp import assert_ranks_agree, run_ddp
from tests.helpers.training import assert_trained, changed, fit, train_tiny
from vocoder_train.dsp import LOG_FLOOR
from vocoder_train.io.audio import load_audio, save_audio
from vocoder_train.kernels import (
    augment_batch,
    augment_batch_torch,
    biquad_cascade,
    biquad_cascade_torch,
    butterworth_lowpass,
    log_mel_l1,
    rbj_biquad,
    spectral_terms,
    spectral_terms_torch,
)
from vocoder_train.losses.spectral import MelReconstructionLoss, MultiResolutionSTFTLoss
from vocoder_train.training.run import build_module

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not torch.cuda.is_available(), reason="needs a CUDA device (torch.cuda.is_available() is False)"
    ),
]
SR = 16000  # the tiny experiment's rate


@pytest.fixture
def numba_cuda():
    """Skips where numba cannot compile CUDA kernels (the losses then run their torch reference)."""
    from vocoder_train.kernels import cuda_problem

    problem = cuda_problem()
    if problem:
        pytest.skip(f"numba CUDA kernels unavailable: {problem}")


@pytest.fixture
def exact_fp32():
    """No TF32 in matmuls and convolutions, so that CUDA and CPU results agree to fp32 rounding.
    (Set and restored by hand: ``torch.backends.cuda.matmul`` has no attribute monkeypatch can undo.)"""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


# -- the numba CUDA kernels ------------------------------------------------------------------------


def _values_and_grad(fn, hat: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor, str]:
    """(outputs, gradient of their weighted sum, the grad_fn's name) of ``fn(hat)``."""
    h = hat.clone().requires_grad_()
    out = fn(h)
    (grad,) = torch.autograd.grad(sum(w * v for w, v in zip((0.7, 1.3), out)), h)
    return [v.detach() for v in out], grad, type(out[-1].grad_fn).__name__


SPECTRAL_OPS = {  # name: (complex input, kernel dispatch, torch reference), each (hat, tgt) -> terms
    "magnitude": (
        False,
        lambda h, t: spectral_terms(h, t, eps=0.0, log_floor=1e-7, backend="numba"),
        lambda h, t: spectral_terms_torch(h, t, complex_input=False, eps=0.0, log_floor=1e-7),
    ),
    "complex": (
        True,
        lambda h, t: spectral_terms(h, t, complex_input=True, eps=1e-8, log_floor=0.0, backend="numba"),
        lambda h, t: spectral_terms_torch(h, t, complex_input=True, eps=1e-8, log_floor=0.0),
    ),
    "log_mel": (
        False,
        lambda h, t: (log_mel_l1(h, t, backend="numba"),),
        lambda h, t: (spectral_terms_torch(h, t, complex_input=False, eps=0.0, log_floor=LOG_FLOOR)[1],),
    ),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("op", sorted(SPECTRAL_OPS))
def test_spectral_cuda_kernels_match_torch_reference(numba_cuda, op, dtype):
    complex_input, kernel, reference = SPECTRAL_OPS[op]
    g = torch.Generator().manual_seed(11)
    shape = (3, 17, 300) + ((2,) if complex_input else ())  # rows longer than a block: stride loops
    hat = (torch.rand(shape, generator=g, dtype=dtype) + 0.01).cuda()
    tgt = (torch.rand(shape, generator=g, dtype=dtype) + 0.01).cuda()
    hat[0, :3] = 0  # silence in the prediction: clamped
    ours, grad, grad_fn = _values_and_grad(lambda h: kernel(h, tgt), hat)
    ref, grad_ref, _ = _values_and_grad(lambda h: reference(h, tgt), hat)
    assert grad_fn.startswith("SpectralTermsFunction"), f"{op} did not run the numba CUDA kernel ({grad_fn})"
    rtol = 1e-5 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(ours, ref, rtol=rtol, atol=0)
    torch.testing.assert_close(grad, grad_ref, rtol=rtol, atol=rtol * grad_ref.abs().max().item())


@pytest.mark.parametrize(
    "make_loss",
    [
        lambda backend: MultiResolutionSTFTLoss(((128, 32, 100), (64, 16, 64)), backend=backend),
        lambda backend: MelReconstructionLoss(SR, 128, 32, 20, backend=backend),
    ],
    ids=["mrstft", "mel"],
)
def test_spectral_losses_on_cuda_match_the_torch_backend_and_the_cpu(numba_cuda, exact_fp32, make_loss):
    """torch.stft's transposed CUDA output goes into the kernels in memory order."""
    y = 0.3 * torch.randn(2, 3000, generator=torch.Generator().manual_seed(0))
    y_hat = y + 0.05 * torch.randn(2, 3000, generator=torch.Generator().manual_seed(1))
    results = {}
    for backend, device in (("numba", "cuda"), ("torch", "cuda"), ("numba", "cpu")):
        loss = make_loss(backend).to(device)
        yh = y_hat.to(device).requires_grad_()
        value = loss(yh, y.to(device))
        (grad,) = torch.autograd.grad(value, yh)
        results[backend, device] = (value.detach().cpu(), grad.cpu())
    torch.testing.assert_close(results["numba", "cuda"], results["torch", "cuda"], rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(results["numba", "cuda"], results["numba", "cpu"], rtol=1e-4, atol=1e-7)


def test_kernels_run_on_torchs_current_stream(numba_cuda):
    """Inputs made on a side stream are read there and the outputs are ready there: the kernels
    launch on torch's current stream, not on the default one."""
    loss = MelReconstructionLoss(SR, 256, 64, 32).cuda()
    y = 0.3 * torch.randn(4, 16000, device="cuda")
    noise = torch.randn(4, 16000, device="cuda")

    def run():
        yh = (y + 0.05 * noise.tanh() * 2).requires_grad_()  # a few kernels queued before the loss
        value = loss(yh, y)
        (grad,) = torch.autograd.grad(value, yh)
        return value.detach(), grad

    expected = run()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        got = run()
    torch.cuda.synchronize()
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=0)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs a second CUDA device")
def test_kernels_run_on_the_tensors_device(numba_cuda):
    """A tensor on cuda:1 while cuda:0 is current (a DDP rank's layout seen from another device)."""
    g = torch.Generator().manual_seed(2)
    hat, tgt = torch.rand(2, 9, 40, generator=g) + 0.01, torch.rand(2, 9, 40, generator=g) + 0.01
    with torch.cuda.device(0):
        ours, grad, _ = _values_and_grad(
            lambda h: spectral_terms(h, tgt.to("cuda:1"), backend="numba"), hat.to("cuda:1")
        )
    ref, grad_ref, _ = _values_and_grad(
        lambda h: spectral_terms_torch(h, tgt, complex_input=False, eps=1e-8, log_floor=LOG_FLOOR), hat
    )
    assert grad.device == torch.device("cuda:1")
    torch.testing.assert_close([v.cpu() for v in ours], ref, rtol=1e-5, atol=0)
    torch.testing.assert_close(grad.cpu(), grad_ref, rtol=1e-5, atol=1e-7 * grad_ref.abs().max().item())


def _chain(batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(params, sos, seeds) taking every branch of the augmentation chain, one item a case."""
    sections = np.stack(
        [
            rbj_biquad("peak", 900.0, SR, 4.0, 1.2),
            rbj_biquad("high_shelf", 4000.0, SR, 2.0),
            *butterworth_lowpass(3000.0, SR, 2),
        ]
    )
    cases = [
        [0.8, 1.0, 0, 12.0, 0.5],
        [-1.0, 1.0, 1, 6.0, 0.0],
        [1.2, 1.0, 2, 20.0, 0.9],
        [1.0, 0.0, 0, 0.0, 0.0],
    ]
    params = np.array([cases[i % len(cases)] for i in range(batch)])
    seeds = np.arange(batch, dtype=np.uint64) * np.uint64(2**61 + 7)
    return params, np.stack([sections] * batch), seeds


def test_augment_cuda_kernel_matches_torch_reference_and_cpu(numba_cuda):
    from vocoder_train.data.augment import Augmenter

    x = 0.3 * torch.randn(
        40, 4000, generator=torch.Generator().manual_seed(4)
    )  # more items than a block's threads
    x[5] = 0.0  # silence: no noise added
    params, sos, seeds = _chain(x.shape[0])
    ours = augment_batch(x.cuda(), params, sos, seeds, backend="numba")
    ref = augment_batch_torch(x.cuda(), params, sos, seeds).float()
    assert ours.device.type == "cuda" and ours.dtype == x.dtype
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(
        ours.cpu(), augment_batch(x, params, sos, seeds, backend="numba"), rtol=1e-5, atol=1e-6
    )
    assert (ours[5] == 0).all()
    filtered = biquad_cascade(x.cuda(), sos, backend="numba")
    torch.testing.assert_close(
        filtered,
        biquad_cascade_torch(x.cuda().double(), torch.as_tensor(sos).cuda()).float(),
        rtol=1e-4,
        atol=1e-5,
    )
    aug = Augmenter(gain_p=1, polarity_p=0.5, noise_p=1, eq_p=1, lowpass_p=1)
    torch.testing.assert_close(aug(x.cuda(), SR, seed=3).cpu(), aug(x, SR, seed=3), rtol=1e-4, atol=1e-5)


# -- training ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_gan_steps_on_cuda_in_mixed_precision(tiny_cfg, tmp_path, precision):
    """12 GAN iterations: 16-mixed's GradScaler may skip the first ones while it lowers its scale
    (4 on the CPU's fp16 run of tests/test_autocast.py)."""
    if precision == "bf16-mixed" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU cannot run bf16 (torch.cuda.is_bf16_supported() is False)")
    module = fit(tiny_cfg(), steps=24, tmp_path=tmp_path, accelerator="gpu", devices=1, precision=precision)
    assert next(module.generator.parameters()).device.type == "cuda"
    assert_trained(module, scaled=precision == "16-mixed")


@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_compiled_generator_trains_on_cuda_like_the_eager_one(tiny_cfg, tmp_path, exact_fp32, mode):
    """model.perf.compile of the generator parts and the discriminators; reduce-overhead adds CUDA graphs.
    (The complex ISTFT of the head falls back to eager inside the graph.)"""
    torch.manual_seed(0)
    eager = build_module(tiny_cfg())
    compiled = build_module(
        tiny_cfg("model.perf.compile=[backbone,head,mpd,mrd]", f"model.perf.compile_mode={mode}")
    )
    compiled.load_state_dict(eager.state_dict())
    cfg = tiny_cfg()
    runs = [
        fit(cfg, steps=2, tmp_path=tmp_path / name, module=m, accelerator="gpu", devices=1)
        for name, m in (("eager", eager), ("compiled", compiled))
    ]
    g0, d0 = runs[1]._before
    assert changed(g0, compiled.generator) and changed(d0, compiled.adversary)
    first = [r._outputs[0] for r in runs]
    for key in ("d_total", "g_mel", "g_total"):
        assert first[1][key] == pytest.approx(first[0][key], rel=1e-3), key


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="DDP over NCCL needs two CUDA devices")
def test_ddp_over_nccl_ranks_agree(tiny_corpus, tmp_path):
    precision = "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    overrides = [
        "experiment=tiny",
        f"data.train={tiny_corpus['train']}",
        f"data.val={tiny_corpus['val']}",
        f"paths.runs_dir={tmp_path / 'runs'}",
        "trainer=ddp",
        "trainer.accelerator=gpu",
        "trainer.devices=2",
        f"trainer.precision={precision}",
        "trainer.max_steps=5",
        "model.optim.pretrain_mel_steps=1",
    ]
    ranks = run_ddp(tmp_path, overrides)
    assert [d["backend"] for d in ranks] == ["nccl", "nccl"]
    assert_ranks_agree(ranks, steps=5)


# -- a run on the GPU, its export, synthesis and evaluation --------------------------------------------


@pytest.fixture(scope="module")
def cuda_run(tmp_path_factory) -> Path:
    """A 16-mixed tiny run on the GPU (EMA on), stopped after 4 steps and resumed to 6; its last.ckpt."""
    folder = tmp_path_factory.mktemp("cuda_run")
    common = ("trainer.accelerator=gpu", "trainer.precision=16-mixed", "callbacks=ema")
    train_tiny(folder, *common, "trainer.max_steps=4")
    return train_tiny(folder, *common, "trainer.max_steps=6")


def test_a_16_mixed_run_resumes_with_its_grad_scaler(cuda_run):
    from vocoder_train.io.checkpoint import load_checkpoint

    ckpt = load_checkpoint(cuda_run)
    assert ckpt["global_step"] == 6
    scaler = ckpt["MixedPrecision"]  # Lightning's precision plugin state: the GradScaler's
    assert 0 < scaler["scale"] <= 2.0**16


@pytest.fixture(scope="module")
def cuda_exports(cuda_run, tmp_path_factory) -> dict[str, Path]:
    """The GPU-trained checkpoint exported (on the CPU, as vocoder-export runs) to each format."""
    from vocoder_train.models.export import export

    out = tmp_path_factory.mktemp("cuda_exports")
    folders = {}
    for fmt in ("vocos", "safetensors", "torchscript", "onnx"):
        result = export(cuda_run, out / fmt, fmt)
        assert result.max_abs_diff <= result.tolerance, fmt
        folders[fmt] = out / fmt
    return folders


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    save_audio(path, tone(SR, 0.8, 180.0), SR)
    return path


@pytest.mark.parametrize("kind", ["checkpoint", "vocos", "safetensors", "torchscript"])
def test_synthesize_with_device_cuda_matches_cpu(cuda_run, cuda_exports, speech, kind, tmp_path, exact_fp32):
    from vocoder_train.cli.synthesize import main

    model = cuda_run if kind == "checkpoint" else cuda_exports[kind]
    outputs = {}
    for device in ("cpu", "cuda"):
        assert main([str(model), str(speech), "-o", str(tmp_path / device), "--device", device]) == 0
        outputs[device], _ = load_audio(tmp_path / device / "speech.wav")
    torch.testing.assert_close(outputs["cuda"], outputs["cpu"], rtol=0, atol=1e-3)


def test_synthesize_onnx_with_device_cuda(cuda_exports, speech, tmp_path, capsys):
    """On onnxruntime's CUDA provider when installed (onnxruntime-gpu), else a one-line error saying so."""
    import onnxruntime as ort

    from vocoder_train.cli.synthesize import main

    rc = main([str(cuda_exports["onnx"]), str(speech), "-o", str(tmp_path), "--device", "cuda"])
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert rc == 0 and (tmp_path / "speech.wav").is_file()
    else:
        assert rc == 1 and "needs onnxruntime-gpu" in capsys.readouterr().err


def test_evaluate_with_device_cuda(cuda_run, speech, tmp_path):
    """Synthesis on the GPU and CREPE (periodicity) there too."""
    from vocoder_train.cli.evaluate import main

    out = tmp_path / "eval"
    args = [
        str(cuda_run),
        "--data",
        str(speech.parent),
        "-o",
        str(out),
        "--device",
        "cuda",
        "--metrics",
        "mel_l1,periodicity",
        "--crepe-model",
        "tiny",
        "--plots",
        "0",
        "--no-progress",
    ]
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["device"] == "cuda"
    assert metrics["aggregate"]["mel_l1"]["mean"] > 0 and metrics["aggregate"]["periodicity"]["n"] == 1


def test_loaders_take_a_cuda_device(cuda_run, cuda_exports, tmp_path, exact_fp32):
    from vocoder_train.io.checkpoint import load_checkpoint
    from vocoder_train.metrics.utmos import load_utmos
    from vocoder_train.models.store import load_generator
    from vocoder_train.models.vocoder import load_vocoder

    state = load_checkpoint(cuda_run, map_location="cuda")["state_dict"]
    assert all(v.device.type == "cuda" for v in state.values())
    generator, sample_rate = load_generator(cuda_run, device="cuda", ema=True)
    assert sample_rate == SR and all(p.device.type == "cuda" for p in generator.parameters())
    mel = torch.randn(1, 32, 40, generator=torch.Generator().manual_seed(0)) - 3
    for kind in ("vocos", "torchscript"):
        on_cpu, on_gpu = load_vocoder(cuda_exports[kind]), load_vocoder(cuda_exports[kind], device="cuda")
        audio = on_gpu.decode(mel)
        assert audio.device.type == "cpu", kind  # inputs and outputs are CPU tensors whatever the device
        torch.testing.assert_close(audio, on_cpu.decode(mel), rtol=0, atol=1e-4, msg=kind)
    scorer_file = tmp_path / "mos.pt"
    torch.jit.script(_MeanAbs()).save(str(scorer_file))
    scores = load_utmos(scorer_file, device="cuda").score(torch.randn(2, SR), SR)
    assert scores.shape == (2,) and scores.device.type == "cpu"


class _MeanAbs(torch.nn.Module):
    """A stand-in MOS model: (B, T) -> (B,)."""

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        assert wav.is_cuda
        return wav.abs().mean(dim=-1)


def test_crepe_on_cuda_matches_cpu():
    from vocoder_train.metrics.crepe import crepe_track

    audio = tone(SR, 1.0, 200.0)[0]
    on_gpu, on_cpu = crepe_track(audio, SR, "tiny", "cuda"), crepe_track(audio, SR, "tiny", "cpu")
    np.testing.assert_array_equal(on_gpu.voiced, on_cpu.voiced)
    np.testing.assert_allclose(on_gpu.f0, on_cpu.f0, rtol=1e-3)
