"""numba kernels (CPU njit + numba.cuda) for spectral losses and augmentation.

Each op has a CPU kernel, a CUDA kernel, a pure-torch reference and one dispatch function
taking ``backend = "auto" | "numba" | "torch"``; ops with gradients go through a
``torch.autograd.Function`` whose forward and backward both run in the kernels.
"""

from ._backend import cuda_available, resolve_backend, sync_numba_threads
from .augment import augment_batch, biquad_cascade, biquad_cascade_torch, butterworth_lowpass, rbj_biquad
from .phase import PhaseDerivativeFunction, phase_derivative_terms, phase_derivative_torch
from .spectral import (
    SpectralTermsFunction,
    log_mel_l1,
    spectral_terms,
    spectral_terms_torch,
    stft_complex_loss,
    stft_magnitude_loss,
)
from .stft import StftFunction

__all__ = [
    "PhaseDerivativeFunction",
    "SpectralTermsFunction",
    "StftFunction",
    "augment_batch",
    "biquad_cascade",
    "biquad_cascade_torch",
    "butterworth_lowpass",
    "rbj_biquad",
    "cuda_available",
    "log_mel_l1",
    "phase_derivative_terms",
    "phase_derivative_torch",
    "resolve_backend",
    "spectral_terms",
    "spectral_terms_torch",
    "stft_complex_loss",
    "stft_magnitude_loss",
    "sync_numba_threads",
]
