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
    from vocoder_train.kernels.spectral import cpu, cuda

    for C, dtype, eps, floor in ((1, np.float32, 0.0, 1e-7), (2, np.float32, 1e-8, 0.0), (2, np.float64, 1e-8, 1e-7)):
        R, n = 3, 37  # n > threads per block: the stride loop runs more than once
        hat = rng.random((R, n * C)).astype(dtype)
        tgt = rng.random((R, n * C)).astype(dtype)
        hat[0, : 4 * C] = 0  # silence in the prediction: clamped, zero gradient
        res = {}
        for name, mod, kw in (("cpu", cpu, {}), ("sim", cuda, {"threads": 32})):
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
    from vocoder_train.kernels.augment import _pad_sections, butterworth_lowpass, cpu, cuda, rbj_biquad

    B, T, sr = 3, 257, 16000
    x = (0.3 * rng.standard_normal((B, T))).astype(np.float32)
    sections = [rbj_biquad("peak", 900.0, sr, 4.0, 1.2)] + list(butterworth_lowpass(3000.0, sr, 2))
    sos = _pad_sections(np.stack([np.stack(sections)] * B))
    params = np.array([[0.8, 1.0, c, 12.0, 0.5] for c in range(B)])  # each noise colour, peak limit on
    seeds = np.array([11, 2**62 + 5, 7], dtype=np.uint64)
    ref = np.zeros((B, T))
    cpu.augment_batch(x, ref, params, sos, seeds)
    out = np.zeros((B, T))
    with np.errstate(over="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # uint64 wrap-around is the hash's intent
        cuda.augment_batch(x, out, params, sos, seeds, threads=2)
    np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-9)
    assert np.abs(ref).max() <= 0.5 + 1e-12


def main() -> int:
    rng = np.random.default_rng(0)
    check_spectral(rng)
    check_augment(rng)
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
