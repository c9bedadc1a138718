"""How the kernels meet numba: whether it is there, which backend runs, threads, CUDA views.

``numba`` (CPU) is imported here, eagerly, when present (:data:`HAVE_NUMBA`); ``numba.cuda``
only when a CUDA tensor is actually seen, so CPU-only use never initialises a CUDA context.
The kernel modules (``<op>/cpu.py``, ``<op>/cuda.py``) are imported by their op's dispatch
only after :func:`resolve_backend` picked their target, so a missing numba or CUDA driver
costs the torch reference, never an import error.
"""

from __future__ import annotations

import functools
import os
import warnings

import torch

BACKENDS = ("auto", "numba", "torch")

try:  # numba is a hard dependency, but a broken install must not break the losses
    import numba  # noqa: F401

    HAVE_NUMBA = True
except Exception:  # pragma: no cover - depends on the environment
    HAVE_NUMBA = False


def configure_threading() -> None:
    """Pick numba's threading layer before its first parallel launch (no-op afterwards).

    numba's default "omp" layer runs its own OpenMP pool, whose threads spin-wait next to
    torch's and slow both the kernels and torch's own ops once a kernel has run (measured in
    docs/results/2026-11-24-bench.md). "workqueue" threads sleep when idle. (It must not
    be driven from several Python threads at once; training runs kernels from one thread, and
    DataLoader workers are processes.) Set NUMBA_THREADING_LAYER to choose another.
    """
    if HAVE_NUMBA and "NUMBA_THREADING_LAYER" not in os.environ and not _pool_started():
        numba.config.THREADING_LAYER = "workqueue"


def _pool_started() -> bool:
    try:
        from numba.np.ufunc import parallel

        return bool(parallel._is_initialized)
    except (ImportError, AttributeError):  # pragma: no cover - numba internals moved
        return False


@functools.lru_cache(maxsize=1)
def cuda_problem() -> str | None:
    """Why numba.cuda cannot compile and launch kernels on a real device here; None when it can.

    numba.cuda is imported lazily. A driver alone is not enough: numba compiles through libNVVM,
    which comes with the CUDA toolkit, not with torch's wheels.
    """
    if not HAVE_NUMBA:
        return "numba is not installed"
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return "NUMBA_ENABLE_CUDASIM=1: the simulator runs numpy arrays, not CUDA tensors"
    try:
        from numba import cuda

        if not cuda.is_available():
            return "numba.cuda finds no CUDA driver or device"
        from numba.cuda.cudadrv import nvvm

        if not nvvm.is_available():
            return (
                "numba.cuda finds no libNVVM: install the CUDA toolkit's compiler (e.g. conda install -c "
                "conda-forge cuda-nvcc, or set CUDA_HOME to a toolkit) or pip install numba-cuda"
            )
    except Exception as e:  # pragma: no cover - broken driver / toolkit
        return f"numba.cuda failed to initialise ({type(e).__name__}: {e})"
    return None


def cuda_available() -> bool:
    """True when numba.cuda can launch kernels on a real device (see :func:`cuda_problem`)."""
    return cuda_problem() is None


def resolve_backend(backend: str, tensor: torch.Tensor) -> str:
    """Map ``auto | numba | torch`` to ``"cpu"`` (numba njit), ``"cuda"`` (numba.cuda) or ``"torch"``.

    ``"numba"`` raises when the kernels cannot run on ``tensor``'s device, so a config that
    asks for them explicitly does not silently fall back.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r}: expected one of {BACKENDS}")
    if backend == "torch":
        return "torch"
    if tensor.device.type == "cpu" and HAVE_NUMBA:
        return "cpu"
    if tensor.device.type == "cuda" and cuda_available():
        return "cuda"
    reason = cuda_problem() if tensor.device.type == "cuda" else f"numba installed: {HAVE_NUMBA}"
    if backend == "numba":
        raise RuntimeError(
            f"backend='numba' but numba kernels cannot run on device {tensor.device} ({reason}); "
            "use backend='auto' or 'torch'"
        )
    if tensor.device.type == "cuda":  # once per call site: the torch reference is correct, only slower
        warnings.warn(
            f"numba CUDA kernels unavailable ({reason}); running the torch reference on {tensor.device}",
            stacklevel=3,
        )
    return "torch"


def sync_numba_threads() -> None:
    """Give numba's parallel kernels as many threads as torch uses (no oversubscription).

    Cheap enough to call before every launch; follows later ``torch.set_num_threads`` calls
    (DataLoader workers run torch with one thread, so the kernels get one there too).
    """
    if not HAVE_NUMBA:
        return
    configure_threading()

    n = max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    if numba.get_num_threads() != n:
        numba.set_num_threads(n)


def cuda_device(tensor: torch.Tensor):
    """Context manager making numba's current device the tensor's (DDP: one GPU a rank)."""
    from numba import cuda

    index = tensor.device.index if tensor.device.index is not None else torch.cuda.current_device()
    return cuda.gpus[index]


def cuda_stream_and_arrays(*tensors: torch.Tensor):
    """numba views of CUDA tensors (no copy) and torch's current stream as a numba stream."""
    from numba import cuda

    stream = cuda.external_stream(torch.cuda.current_stream(tensors[0].device).cuda_stream)
    return stream, [cuda.as_cuda_array(t.detach()) for t in tensors]
