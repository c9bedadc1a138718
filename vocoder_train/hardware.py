"""What the machine can do, for choices that depend on it (precision, inference engine)."""

from __future__ import annotations

import torch


def bf16_matmul_is_fast(device: str | torch.device = "cpu") -> bool:
    """True where bfloat16 matrix products run natively (AVX512-BF16/AMX CPUs, CUDA compute >= 8.0)."""
    device = torch.device(device)
    if device.type == "cuda":
        # without including_emulation=False, T4/V100 (compute 7.x) count too: bf16 runs there, emulated and
        # slow
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
