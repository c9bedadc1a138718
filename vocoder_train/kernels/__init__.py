"""numba kernels (CPU njit + numba.cuda) for spectral losses and augmentation.

One subpackage per op, each with the same shape:

- ``cpu.py``: the element math, written once as plain Python, compiled with ``numba.njit``,
  and the CPU kernel that loops over it;
- ``cuda.py``: the same element math compiled as ``numba.cuda`` device functions, and the
  CUDA kernel that loops over it;
- ``__init__.py``: the pure-torch reference, the ``torch.autograd.Function`` where gradients
  flow, and one dispatch function taking ``backend = "auto" | "numba" | "torch"``
  (:func:`resolve_backend`), which imports a kernel module only once its target can run.

Ops: ``spectral`` (spectral convergence and log-magnitude L1, fused) and ``augment`` (gain,
biquad cascade, seeded noise, peak limit).
"""

from ._backend import cuda_available, cuda_problem, resolve_backend, sync_numba_threads
from .augment import (
    augment_batch,
    augment_batch_torch,
    biquad_cascade,
    biquad_cascade_torch,
    butterworth_lowpass,
    rbj_biquad,
)
from .spectral import (
    SpectralTermsFunction,
    log_mel_l1,
    spectral_terms,
    spectral_terms_torch,
    stft_complex_loss,
    stft_magnitude_loss,
)

__all__ = [
    "SpectralTermsFunction",
    "augment_batch",
    "augment_batch_torch",
    "biquad_cascade",
    "biquad_cascade_torch",
    "butterworth_lowpass",
    "rbj_biquad",
    "cuda_available",
    "cuda_problem",
    "log_mel_l1",
    "resolve_backend",
    "spectral_terms",
    "spectral_terms_torch",
    "stft_complex_loss",
    "stft_magnitude_loss",
    "sync_numba_threads",
]
