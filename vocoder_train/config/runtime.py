"""Process-wide settings that the entry points apply; importing the package applies none.

:func:`setup` is called by every console script, by :func:`vocoder_train.training.run.train`
and by the Python API's loaders. It is idempotent.
"""

from __future__ import annotations

import math

from omegaconf import ListConfig, OmegaConf


def _mul(first, *factors):
    """The product of the arguments, a whole number; a (nested) list as the first is multiplied
    element by element (returned as a ListConfig, which ``OmegaConf.resolve`` can store)."""
    if isinstance(first, list | ListConfig):
        return ListConfig([_mul(x, *factors) for x in first])
    product = math.prod(factors, start=first)
    if product != int(product):
        raise ValueError(
            f"${{mul:...}}: {' x '.join(map(str, (first, *factors)))} = {product} is not a whole number of "
            "samples"
        )
    return int(product)


def _frame_hop(sample_rate, frame_rate) -> int:
    from vocoder_train.dsp import frame_hop  # torch: imported when a config uses it, not at setup

    return frame_hop(sample_rate, frame_rate)


def register_resolvers() -> None:
    """Config arithmetic, so derived sizes interpolate the one source of truth:
    ``mdct_frame_len: ${mul:2,${audio.hop_length}}``, ``fft_sizes:
    ${mul:[2048,1024],${audio.disc_fft_scale}}``, and the hop of features at a frame rate,
    ``hop_length: ${frame_hop:${audio.sample_rate},${data.frame_rate}}`` (a whole number of samples,
    else an error naming both rates: :func:`vocoder_train.dsp.frame_hop`)."""
    if not OmegaConf.has_resolver("mul"):
        OmegaConf.register_new_resolver("mul", _mul)
    if not OmegaConf.has_resolver("frame_hop"):
        OmegaConf.register_new_resolver("frame_hop", _frame_hop)


def patch_scipy() -> None:
    """vocos 0.1.0's IMDCT heads call ``scipy.signal.cosine``, which SciPy 1.13 moved to
    ``scipy.signal.windows.cosine``: restore the old name so those heads can be built."""
    import scipy.signal

    if not hasattr(scipy.signal, "cosine"):
        scipy.signal.cosine = scipy.signal.windows.cosine


def setup() -> None:
    """Resolvers, the SciPy name vocos needs, and numba's threading layer."""
    from vocoder_train.kernels._backend import configure_threading

    register_resolvers()
    patch_scipy()
    configure_threading()
