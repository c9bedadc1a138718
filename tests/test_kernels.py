"""The numba kernels against their torch references: values, gradients, gradcheck, edge cases,
the CUDA kernels under the simulator (in a subprocess); on a real GPU they are in tests/test_gpu.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from vocoder_train.kernels import (
    log_mel_l1,
    resolve_backend,
    spectral_terms,
    spectral_terms_torch,
    stft_complex_loss,
    stft_magnitude_loss,
)

RTOL32 = 1e-5


def _pair(shape, dtype, seed=0, complex_input=False):
    g = torch.Generator().manual_seed(seed)
    full = tuple(shape) + ((2,) if complex_input else ())
    hat = torch.rand(full, generator=g, dtype=dtype) + 0.01
    tgt = torch.rand(full, generator=g, dtype=dtype) + 0.01
    return hat, tgt


def _both(hat, tgt, complex_input, eps, floor, with_sc=True, w=(0.7, 1.3)):
    """(values, grad) from the kernels and from the reference, for loss = w0 * sc + w1 * mag."""
    out = []
    for fn in (
        lambda h: spectral_terms(
            h, tgt, complex_input=complex_input, eps=eps, log_floor=floor, with_sc=with_sc, backend="numba"
        ),
        lambda h: spectral_terms_torch(h, tgt, complex_input=complex_input, eps=eps, log_floor=floor),
    ):
        h = hat.clone().requires_grad_()
        sc, mag = fn(h)
        loss = (w[0] * sc if with_sc else 0) + w[1] * mag
        (grad,) = torch.autograd.grad(loss, h)
        out.append((sc.detach(), mag.detach(), grad))
    return out


@pytest.mark.parametrize("complex_input", [False, True])
@pytest.mark.parametrize("shape", [(1, 5, 7), (2, 9, 13), (4, 3, 31), (3, 1, 1)])
def test_spectral_terms_match_reference_fp32(complex_input, shape):
    hat, tgt = _pair(shape, torch.float32, seed=sum(shape), complex_input=complex_input)
    (sc, mag, g), (sc_r, mag_r, g_r) = _both(hat, tgt, complex_input, 1e-8, 1e-7)
    torch.testing.assert_close(sc, sc_r, rtol=RTOL32, atol=0)
    torch.testing.assert_close(mag, mag_r, rtol=RTOL32, atol=0)
    torch.testing.assert_close(g, g_r, rtol=RTOL32, atol=1e-7 * g_r.abs().max().item())


@pytest.mark.parametrize("complex_input", [False, True])
def test_gradcheck_float64(complex_input):
    hat, tgt = _pair((2, 3, 5), torch.float64, seed=3, complex_input=complex_input)
    hat.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda h: spectral_terms(
            h, tgt, complex_input=complex_input, eps=1e-8, log_floor=1e-7, backend="numba"
        ),
        (hat,),
    )
    if not complex_input:
        assert torch.autograd.gradcheck(lambda h: log_mel_l1(h, tgt, backend="numba"), (hat,))


def test_log_mel_l1_matches_torch_and_masks_clamped():
    hat, tgt = _pair((2, 8, 11), torch.float32, seed=5)
    hat[0, :3] = 0.0  # below the 1e-7 floor: clamped, gradient 0
    tgt[1, :2] = 0.0
    h1, h2 = hat.clone().requires_grad_(), hat.clone().requires_grad_()
    ours = log_mel_l1(h1, tgt, backend="numba")
    ref = torch.nn.functional.l1_loss(torch.log(h2.clamp(min=1e-7)), torch.log(tgt.clamp(min=1e-7)))
    torch.testing.assert_close(ours, ref, rtol=RTOL32, atol=0)
    (g1,), (g2,) = torch.autograd.grad(ours, h1), torch.autograd.grad(ref, h2)
    torch.testing.assert_close(g1, g2, rtol=RTOL32, atol=0)
    assert (g1[0, :3] == 0).all()


def test_magnitude_op_public_names():
    hat, tgt = _pair((2, 4, 6), torch.float32, seed=9)
    sc, mag = stft_magnitude_loss(hat, tgt)
    sc_r, mag_r = spectral_terms_torch(hat, tgt, complex_input=False, eps=0.0, log_floor=1e-7)
    torch.testing.assert_close((sc, mag), (sc_r, mag_r), rtol=RTOL32, atol=0)


def _stft(x, n_fft=64, hop=16):
    return torch.stft(x, n_fft, hop, window=torch.hann_window(n_fft, dtype=x.dtype), return_complex=True)


@pytest.mark.parametrize("case", ["silent_prediction", "silent_both", "clipped_equal", "clipped_vs_tone"])
def test_complex_op_on_silence_and_clipping(case):
    t = torch.arange(1001, dtype=torch.float32)
    square = torch.sign(torch.sin(2 * torch.pi * t / 50)).expand(2, -1)  # +-1 clipped square
    tone = 0.5 * torch.sin(2 * torch.pi * t / 37).expand(2, -1)
    zeros = torch.zeros(2, 1001)
    y_hat, y = {
        "silent_prediction": (zeros, tone),
        "silent_both": (zeros, zeros),
        "clipped_equal": (square, square),
        "clipped_vs_tone": (square, tone),
    }[case]
    res = []
    for backend in ("numba", "torch"):
        yh = y_hat.clone().requires_grad_()
        sc, mag = stft_complex_loss(_stft(yh), _stft(y), backend=backend)
        (g,) = torch.autograd.grad(sc + mag, yh)
        res.append((sc.detach(), mag.detach(), g))
    for ours, ref in zip(*res):
        assert torch.isfinite(ours).all()
        torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-6)
    if case in ("silent_both", "clipped_equal"):
        assert res[0][0] == 0 and res[0][1] == 0 and (res[0][2] == 0).all()


def test_kernels_accept_transposed_memory_layout():
    """torch.stft returns a transposed view; the kernels run in memory order, no copy."""
    y = torch.randn(3, 777)
    s_hat, s = _stft(y + 0.1 * torch.randn(3, 777)), _stft(y)
    assert not s_hat.is_contiguous()
    a = stft_complex_loss(s_hat, s, backend="numba")
    b = stft_complex_loss(s_hat.contiguous(), s.contiguous(), backend="torch")
    torch.testing.assert_close(a, b, rtol=RTOL32, atol=0)


def test_backend_switch():
    cpu = torch.zeros(1)
    assert resolve_backend("torch", cpu) == "torch"
    assert resolve_backend("auto", cpu) == "cpu"
    assert resolve_backend("numba", cpu) == "cpu"
    with pytest.raises(ValueError, match="backend='cuda'"):
        resolve_backend("cuda", cpu)


def test_cuda_tensors_without_numba_cuda_fall_back_or_raise_with_the_reason(monkeypatch):
    from vocoder_train.kernels import _backend

    on_gpu = SimpleNamespace(device=torch.device("cuda", 0))  # resolve_backend reads only the device
    monkeypatch.setattr(_backend, "cuda_problem", lambda: "numba.cuda finds no libNVVM")
    with pytest.warns(UserWarning, match="no libNVVM.*torch reference on cuda:0"):
        assert resolve_backend("auto", on_gpu) == "torch"
    with pytest.raises(RuntimeError, match=r"backend='numba'.*cuda:0 \(numba.cuda finds no libNVVM\)"):
        resolve_backend("numba", on_gpu)
    monkeypatch.setattr(_backend, "cuda_problem", lambda: None)
    assert resolve_backend("auto", on_gpu) == "cuda"


def test_cpu_use_does_not_import_numba_cuda():
    code = (
        "import sys, torch\n"
        "from vocoder_train.losses.spectral import MultiResolutionSTFTLoss\n"
        "y = torch.randn(2, 2000)\n"
        "MultiResolutionSTFTLoss(((64, 16, 64),))(y.requires_grad_(), y.detach() * 0.5).backward()\n"
        "from vocoder_train.data.augment import Augmenter\n"
        "Augmenter()(torch.randn(500), 16000, seed=1)\n"
        "print('numba.cuda' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_cuda_kernels_under_simulator():
    script = Path(__file__).with_name("kernels_cudasim_check.py")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().endswith("OK")
