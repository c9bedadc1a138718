"""Run the numba.cuda kernels under the CUDA simulator and compare them with the CPU kernels.

Run in a separate process (``NUMBA_ENABLE_CUDASIM=1`` must be set before numba is imported);
``tests/test_kernels.py`` does that. Tiny sizes: the simulator runs every thread in Python.
Prints ``OK`` and exits 0 on success.
"""

from __future__ import annotations

import os
import sys
import warnings

assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", "set NUMBA_ENABLE_CUDASIM=1 before running this script"

import numpy as np  # noqa: E402


def check_spectral(rng: np.random.Generator) -> None:
    from vocoder_train.kernels import spectral_cpu, spectral_cuda

    for C, dtype, eps, floor in ((1, np.float32, 0.0, 1e-7), (2, np.float32, 1e-8, 0.0), (2, np.float64, 1e-8, 1e-7)):
        R, n = 3, 37  # n > threads per block: the stride loop runs more than once
        hat = rng.random((R, n * C)).astype(dtype)
        tgt = rng.random((R, n * C)).astype(dtype)
        hat[0, : 4 * C] = 0  # silence in the prediction: clamped, zero gradient
        res = {}
        for name, mod, kw in (("cpu", spectral_cpu, {}), ("sim", spectral_cuda, {"threads": 32})):
            d = np.zeros((R, n), dtype)
            lc = np.zeros((R, n), dtype)
            part = np.zeros((R, 3))
            mod.spectral_forward(hat, tgt, C, eps, floor, True, dtype == np.float32, d, lc, part, **kw)
            out = np.zeros_like(hat)
            if name == "cpu":
                mod.spectral_backward(hat, C, True, d, lc, 0.3, 0.7, out)
            else:
                mod.spectral_backward(hat, C, True, d, lc, np.array([0.3, 0.7]), out, threads=32, max_blocks=2)
            res[name] = (part, d, lc, out)
        tol = 1e-6 if dtype == np.float32 else 1e-12
        for a, b in zip(res["cpu"], res["sim"]):
            np.testing.assert_allclose(b, a, rtol=tol, atol=tol)


def check_augment(rng: np.random.Generator) -> None:
    from vocoder_train.kernels.augment import augment_batch_numpy, butterworth_lowpass, rbj_biquad
    from vocoder_train.kernels.augment_cuda import augment_batch_device

    B, T, sr = 3, 257, 16000
    x = (0.3 * rng.standard_normal((B, T))).astype(np.float32)
    sos = np.stack([np.stack([rbj_biquad("peak", 900.0, sr, 4.0, 1.2)] + list(butterworth_lowpass(3000.0, sr, 1)))] * B)
    params = np.array([[0.8, 1.0, c, 12.0, 0.5] for c in range(B)])  # each noise colour, peak limit on
    seeds = np.array([11, 2**62 + 5, 7], dtype=np.uint64)
    ref = augment_batch_numpy(x, params, sos, seeds)
    out = np.zeros((B, T))
    with np.errstate(over="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # uint64 wrap-around is the hash's intent
        augment_batch_device(x, out, params, sos, seeds, threads=2)
    np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-9)
    assert np.abs(ref).max() <= 0.5 + 1e-12


def check_phase(rng: np.random.Generator) -> None:
    from vocoder_train.kernels import phase_cpu, phase_cuda

    for dtype, tol in ((np.float32, 1e-5), (np.float64, 1e-12)):
        B, T, F = 2, 5, 7  # the (B, T, F, 2) layout
        hat = rng.standard_normal((B, T, F, 2)).astype(dtype)
        tgt = rng.standard_normal((B, T, F, 2)).astype(dtype)
        hat[0, :, :2] = 0  # silent prediction frames: finite, the d = 0 / |z| = 0 branches
        tgt[1, 1:3] = hat[1, 1:3]  # equal bins: d = 0 somewhere
        for power in (1.0, 0.5):
            g_t, g_f, sums = np.zeros_like(hat), np.zeros_like(hat), np.zeros((B, 4))
            phase_cpu.phase_forward(hat, tgt, power, 1e-3, g_t, g_f, sums)
            s_t, s_f, part = np.zeros_like(hat), np.zeros_like(hat), np.zeros((B, T, F, 4))
            phase_cuda.phase_forward(hat, tgt, power, 1e-3, s_t, s_f, part, threads=32)
            np.testing.assert_allclose(part.sum((0, 1, 2)), sums.sum(0), rtol=tol, atol=tol)
            np.testing.assert_allclose(s_t, g_t, rtol=tol, atol=tol)
            np.testing.assert_allclose(s_f, g_f, rtol=tol, atol=tol)


def main() -> int:
    rng = np.random.default_rng(0)
    check_spectral(rng)
    check_phase(rng)
    check_augment(rng)
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
