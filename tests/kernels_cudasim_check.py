"""Run every numba.cuda kernel under the CUDA simulator; compare it with the CPU kernel and the torch
reference.

Kernels: ``spectral`` forward (block reduction) and backward (grid-stride loop), ``augment``
(one thread an item). Each runs on the cases that take its distinct branches: magnitudes and
(re, im) pairs, with and without the spectral-convergence term, float32 (fast log) and float64,
silence, zero-size launches; every noise colour, noise off, a silent item, the peak limit on
and off, a filter-only chain, more threads than items.

Run in a separate process (``NUMBA_ENABLE_CUDASIM=1`` must be set before numba is imported);
``tests/test_kernels.py`` and ``make test-gpu`` do that. Tiny sizes: the simulator runs every
thread in Python. Prints ``OK`` and exits 0 on success.
"""

from __future__ import annotations

import os
import sys
import warnings

assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", "set NUMBA_ENABLE_CUDASIM=1 before running this script"

import numpy as np  # noqa: E402
import torch  # noqa: E402

# (C, dtype, eps, log_floor, with_sc): C=1 magnitudes, C=2 (re, im) pairs; a zero floor needs eps > 0
SPECTRAL_CASES = (
    (1, np.float32, 0.0, 1e-7, True),
    (1, np.float32, 0.0, 1e-7, False),  # log_mel_l1: no spectral convergence, dcoef unused
    (2, np.float32, 1e-8, 0.0, True),
    (2, np.float64, 1e-8, 1e-7, True),
    (1, np.float64, 0.0, 1e-5, False),
)
WEIGHTS = (0.3, 0.7)  # loss = w_sc * sc + w_mag * mag


def _spectral_launch(mod, hat, tgt, C, eps, floor, with_sc, launch_kw=None):
    """(partial sums, dcoef, lcoef, gradient of w_sc * sc + w_mag * mag) from a forward and a backward
    launch of ``mod`` (the CPU kernels, or the CUDA kernels with ``launch_kw``)."""
    R, n = hat.shape[0], hat.shape[1] // C
    dtype = hat.dtype
    d = np.zeros((R, n) if with_sc else (1, 1), dtype)
    lc = np.zeros((R, n), dtype)
    part = np.zeros((R, 3))
    fwd_kw, bwd_kw = launch_kw or ({}, {})
    mod.spectral_forward(hat, tgt, C, eps, floor, with_sc, dtype == np.float32, d, lc, part, **fwd_kw)
    s = part.sum(0)
    a = WEIGHTS[0] / np.sqrt(s[0] * s[1]) if with_sc else 0.0  # d sc / d m_hat = (m_hat - m) / (nd * nx)
    b = WEIGHTS[1] / (R * n)
    out = np.zeros_like(hat)
    coef = (np.array([a, b]),) if launch_kw else (a, b)  # the CUDA kernel reads (a, b) from a device array
    mod.spectral_backward(hat, C, with_sc, d, lc, *coef, out, **bwd_kw)
    return part, d, lc, out


def _torch_reference(hat, tgt, C, eps, floor, with_sc):
    """(sc, mag, gradient of w_sc * sc + w_mag * mag) from kernels.spectral_terms_torch."""
    from vocoder_train.kernels import spectral_terms_torch

    shape = (hat.shape[0], -1, 2) if C == 2 else hat.shape
    h = torch.from_numpy(hat).reshape(shape).requires_grad_()
    sc, mag = spectral_terms_torch(
        h, torch.from_numpy(tgt).reshape(shape), complex_input=C == 2, eps=eps, log_floor=floor
    )
    loss = (WEIGHTS[0] * sc if with_sc else 0) + WEIGHTS[1] * mag
    (grad,) = torch.autograd.grad(loss, h)
    return sc.item(), mag.item(), grad.reshape(hat.shape).numpy()


def check_spectral(rng: np.random.Generator) -> None:
    from vocoder_train.kernels.spectral import cpu, cuda

    R, n = 3, 37  # 32 threads a block: both kernels' stride loops run twice (2 backward blocks)
    small = ({"threads": 32}, {"threads": 32, "max_blocks": 2})
    for i, (C, dtype, eps, floor, with_sc) in enumerate(SPECTRAL_CASES):
        sim_kw = small if i % 2 == 0 else ({}, {})  # default launches: more threads than elements, idle ones
        hat = (rng.random((R, n * C)) + 0.01).astype(dtype)
        tgt = (rng.random((R, n * C)) + 0.01).astype(dtype)
        hat[0, : 4 * C] = 0  # silence in the prediction: clamped
        case = f"spectral C={C} {np.dtype(dtype).name} eps={eps} floor={floor} with_sc={with_sc}"
        ours = _spectral_launch(cpu, hat, tgt, C, eps, floor, with_sc)
        sim = _spectral_launch(cuda, hat, tgt, C, eps, floor, with_sc, sim_kw)
        tol = 1e-6 if dtype == np.float32 else 1e-12
        for what, a, b in zip(("partial sums", "dcoef", "lcoef", "gradient"), ours, sim):
            np.testing.assert_allclose(
                b, a, rtol=tol, atol=tol, err_msg=f"{case}: {what}, simulator vs CPU kernel"
            )
        part, _, _, grad = sim
        s = part.sum(0)
        sc_r, mag_r, grad_r = _torch_reference(hat, tgt, C, eps, floor, with_sc)
        rtol = 1e-5 if dtype == np.float32 else 1e-10
        np.testing.assert_allclose(
            [np.sqrt(s[0] / s[1]), s[2] / (R * n)],
            [sc_r, mag_r],
            rtol=rtol,
            err_msg=f"{case}: (sc, mag) vs torch reference",
        )
        np.testing.assert_allclose(
            grad,
            grad_r,
            rtol=rtol,
            atol=rtol * np.abs(grad_r).max(),
            err_msg=f"{case}: gradient vs torch reference",
        )
        if (
            C == 2 or not with_sc
        ):  # below eps / the log floor nothing passes (sc still pulls a clamped magnitude)
            assert (grad[0, : 4 * C] == 0).all(), f"{case}: clamped silence must get no gradient"


def check_empty_launches() -> None:
    """Zero rows / zero items: the launchers return without launching (a 0-block grid is an error)."""
    from vocoder_train.kernels.augment import cuda as augment_cuda
    from vocoder_train.kernels.spectral import cuda as spectral_cuda

    empty = np.zeros((0, 8), np.float32)
    spectral_cuda.spectral_forward(empty, empty, 1, 0.0, 1e-7, True, True, empty, empty, np.zeros((0, 3)))
    spectral_cuda.spectral_backward(empty, 1, True, empty, empty, np.zeros(2), empty)
    augment_cuda.augment_batch(
        empty, np.zeros((0, 8)), np.zeros((0, 5)), np.zeros((0, 4, 5)), np.zeros(0, np.uint64)
    )


def _augment_cases(rng: np.random.Generator, B: int, T: int, sr: int):
    """(x, params, sos, seeds): one item per branch of the chain."""
    from vocoder_train.kernels.augment import butterworth_lowpass, neutral_params, rbj_biquad

    filters_only, _ = neutral_params(1)  # gain 1, no noise, no limit

    x = (0.3 * rng.standard_normal((B, T))).astype(np.float32)
    x[3] = 0.0  # silence: no SNR to speak of, the noise stage adds nothing
    eq = [
        rbj_biquad("peak", 900.0, sr, 4.0, 1.2),
        rbj_biquad("low_shelf", 200.0, sr, -3.0),
        rbj_biquad("high_shelf", 4000.0, sr, 2.0),
    ]
    sections = np.stack(eq + list(butterworth_lowpass(3000.0, sr, 2)))  # 5 sections: padded to 8
    sos = np.stack([sections] * B)
    params = np.array(
        [
            [0.8, 1.0, 0, 12.0, 0.5],  # white noise, peak limit on
            [-1.0, 1.0, 1, 6.0, 0.0],  # polarity flip, pink noise, no limit
            [1.2, 1.0, 2, 20.0, 0.9],  # brown noise
            [1.0, 1.0, 0, 10.0, 0.5],  # silent item
            filters_only[0],
        ]
    )
    seeds = np.array([11, 2**62 + 5, 7, 3, 0], dtype=np.uint64)
    return x, params, sos, seeds


def check_augment(rng: np.random.Generator) -> None:
    from vocoder_train.kernels.augment import _pad_sections, augment_batch_torch, cpu, cuda

    B, T, sr = 5, 257, 16000
    x, params, sos, seeds = _augment_cases(rng, B, T, sr)
    padded = _pad_sections(sos)
    ref = np.zeros((B, T))
    cpu.augment_batch(x, ref, params, padded, seeds)
    out = np.zeros((B, T))
    with np.errstate(over="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # uint64 wrap-around is the hash's intent
        cuda.augment_batch(x, out, params, padded, seeds, threads=4)  # 2 blocks, 3 idle threads
    np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-9, err_msg="augment: simulator vs CPU kernel")
    torch_ref = augment_batch_torch(torch.from_numpy(x), params, sos, seeds).numpy()
    np.testing.assert_allclose(
        out, torch_ref, rtol=1e-6, atol=1e-7, err_msg="augment: simulator vs torch reference"
    )
    assert np.abs(out[0]).max() <= 0.5 + 1e-12 and np.abs(out[2]).max() <= 0.9 + 1e-12, "peak limit"
    assert (out[3] == 0).all(), "a silent item stays silent"


def main() -> int:
    rng = np.random.default_rng(0)
    check_spectral(rng)
    check_empty_launches()
    check_augment(rng)
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
