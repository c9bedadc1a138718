"""Mixed precision on the CPU, the part of the GPU's fp16/bf16 paths a CPU can run: 16-mixed (fp16
autocast + GradScaler) through Lightning's scaler, the spectral modules in fp32 under fp16 autocast
(forward and backward), validation metrics in bf16-mixed, and the precision advice for GPUs
without bf16. The CUDA runs are in tests/test_gpu.py.
"""

from __future__ import annotations

import math

import pytest
import torch
from pytorch_lightning.plugins.precision import MixedPrecision
from torch.utils._python_dispatch import TorchDispatchMode

from tests.helpers.training import assert_trained, fit
from vocoder_train.losses.spectral import (
    HeadMagnitudeLoss,
    MelReconstructionLoss,
    MultiResolutionSTFTLoss,
    MultiScaleMelLoss,
)

HALF = (torch.float16, torch.bfloat16)
N_FFT = 256  # the tiny experiment's


class HalfOps(TorchDispatchMode):
    """Records each op that gets a half-precision tensor: (op name, its tensor arguments' shapes)."""

    def __init__(self):
        super().__init__()
        self.ops: list[tuple[str, list[tuple[int, ...]]]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        if any(t.dtype in HALF for t in tensors):
            self.ops.append((str(func.overloadpacket.__name__), [tuple(t.shape) for t in tensors]))
        return func(*args, **(kwargs or {}))


def _fp16_plugin() -> MixedPrecision:
    """Lightning's 16-mixed plugin on the CPU (``precision="16-mixed"`` alone turns into bf16 there),
    with its default GradScaler (initial scale 2**16)."""
    return MixedPrecision("16-mixed", "cpu")


def test_16_mixed_trains_through_the_grad_scaler(tiny_cfg, tmp_path):
    """The first generator gradients overflow fp16 at the initial scale: those steps are skipped and
    the scale lowered until they fit, then both optimizers train, gradients clipped after unscaling."""
    torch.manual_seed(0)
    module = fit(
        tiny_cfg("model.optim.grad_clip_g=100.0"), steps=16, tmp_path=tmp_path, plugins=[_fp16_plugin()]
    )
    assert_trained(module, scaled=True)
    assert module.nonfinite_skips >= 1 and module.trainer.precision_plugin.scaler.get_scale() < 2.0**16
    assert module.guard.in_a_row == 0  # overflow skips are the scaler's, not a diverging run's
    trained = [s["grad_norm_g"] for s in module._outputs if math.isfinite(s.get("grad_norm_g", math.nan))]
    assert trained and max(trained) > 100.0  # the norm before clipping, of unscaled gradients
    # clipped to 100 after unscaling: a step of AdamW moves each weight by about lr, not lr * 2**16


def test_16_mixed_clips_alike_with_an_optimizer_that_unscales_itself(tiny_cfg, tmp_path):
    """Fused AdamW takes the GradScaler's scale into its step, so Lightning leaves the gradients scaled
    before clipping: the clip must come out as with the foreach optimizer (D clipped hard here; clipped
    2**16 times too hard, its gradients would fall below Adam's eps and its step would shrink)."""
    runs = []
    for impl in ("foreach", "fused"):
        torch.manual_seed(0)
        cfg = tiny_cfg("model.optim.grad_clip_d=0.01", f"model.perf.optimizer={impl}")
        runs.append(fit(cfg, steps=4, tmp_path=tmp_path / impl, plugins=[_fp16_plugin()]))
    assert runs[1].optimizers()[1].optimizer.defaults["fused"]
    for key in ("grad_norm_d", "d_total"):
        got, expected = ([s[key] for s in r._outputs] for r in runs[::-1])
        assert got == pytest.approx(expected, rel=1e-5), key
    assert min(s["grad_norm_d"] for s in runs[0]._outputs) > 0.01  # so the clip did act


def test_fp16_step_keeps_ffts_and_spectral_matmuls_in_fp32(tiny_cfg, tmp_path):
    """One GAN iteration in 16-mixed: the backbone and the discriminators' convolutions run in fp16,
    no FFT does, and no matmul over the spectral axis (mel filterbank, head projection), forward or
    backward: the step runs its backward outside autocast."""
    spectral_dims = {N_FFT // 2 + 1, N_FFT + 2}
    with HalfOps() as half:
        fit(tiny_cfg(), steps=2, tmp_path=tmp_path, plugins=[_fp16_plugin()])
    names = {name for name, _ in half.ops}
    assert "convolution" in names or "_convolution" in names, sorted(names)  # autocast did run
    assert not [op for op in half.ops if "fft" in op[0] or "stft" in op[0]]
    matmuls = ("mm", "addmm", "bmm", "matmul", "linear")
    assert not [op for op in half.ops if op[0] in matmuls and spectral_dims & {d for s in op[1] for d in s}]


def _spectrum_and_audio(frames: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    spectrum = torch.complex(*torch.randn(2, 2, N_FFT // 2 + 1, frames, generator=g).unbind(0)) * 3
    return spectrum, 0.3 * torch.randn(2, frames * 64, generator=g)


LOSSES = {  # name: (module, takes the spectrum)
    "mel": (lambda: MelReconstructionLoss(16000, N_FFT, 64, 32), False),
    "mel_torch": (lambda: MelReconstructionLoss(16000, N_FFT, 64, 32, backend="torch"), False),
    "mrstft": (lambda: MultiResolutionSTFTLoss(((128, 32, 100), (64, 16, 64))), False),
    "msmel": (lambda: MultiScaleMelLoss(16000, ((64, 16, 10), (256, 64, 32))), False),
    "headmag": (
        lambda: HeadMagnitudeLoss(N_FFT, 64, "same", sample_rate=16000, n_mels=32, mel_weight=1.0),
        True,
    ),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_spectral_losses_stay_fp32_under_fp16_autocast(name):
    make, takes_spectrum = LOSSES[name]
    loss = make()
    spectrum, audio = _spectrum_and_audio()
    y_hat = spectrum if takes_spectrum else audio + 0.05 * torch.randn_like(audio)
    results = []
    for autocast in (False, True):
        x = y_hat.clone().requires_grad_()
        with HalfOps() as half:
            with torch.autocast("cpu", torch.float16, enabled=autocast):
                value = loss(x, audio)
            (grad,) = torch.autograd.grad(value, x)  # outside autocast, as VocoderGAN's step runs it
        assert half.ops == [], f"{name} ran {half.ops[:3]} in half precision"
        results.append((value.detach(), grad, type(value.grad_fn).__name__))
    (v32, g32, fn32), (v16, g16, fn16) = results
    assert v16.dtype == torch.float32 and fn16 == fn32  # the numba kernels still run under autocast
    torch.testing.assert_close((v16, g16), (v32, g32), rtol=1e-6, atol=0)


def test_bf16_mixed_validates_with_crepe_metrics(tiny_cfg):
    """The metrics' networks run outside the training autocast (CREPE's bf16 output has no numpy type)."""
    from vocoder_train.training.run import train

    metrics = train(
        tiny_cfg("trainer.precision=bf16-mixed", "trainer.max_steps=4", "validation.metrics=[periodicity]")
    )
    assert 0 <= metrics["val/periodicity"] < 1


def test_precision_advice_for_gpus_without_bf16(tiny_cfg, monkeypatch):
    import vocoder_train.hardware as hardware
    from vocoder_train.training.run import precision_advice

    # emulated bf16 (compute 7.x) is not native: torch says True only when emulation counts
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert hardware.bf16_matmul_is_fast("cuda") is False
    gpu = tiny_cfg("trainer.accelerator=gpu")
    advice = precision_advice(gpu, "bf16-mixed")
    assert advice and "trainer.precision=16-mixed" in advice and "T4" in advice
    assert precision_advice(gpu, "16-mixed") is None
    assert precision_advice(tiny_cfg(), "bf16-mixed") is None  # the tiny trainer is the CPU's
    monkeypatch.setattr(hardware, "bf16_matmul_is_fast", lambda device="cpu": True)
    assert precision_advice(gpu, "bf16-mixed") is None
