"""Winograd convolution along one axis: the same math as a stride-1 convolution with fewer products.

A convolution with an ``r``-tap kernel computes ``m`` outputs of a tile with ``m * r`` products;
Winograd's minimal filtering F(m, r) computes them with ``m + r - 1``, as three linear maps::

    y = A^T [(G g) * (B^T d)]        d: a tile of m + r - 1 inputs, g: the kernel, * elementwise

Over channels the elementwise product becomes ``m + r - 1`` matrix products of the transformed
weights (C_out, C_in) by the transformed input tiles (C_in, tiles), so the conv's GEMM work drops by
``m * r / (m + r - 1)``: 2.5x for F(4, 5), the HiFi-GAN MPD's kernel. The transforms are cheap
element passes and everything is a torch op, so autograd gives the backward (whose products shrink
the same way.

The matrices come from the Toom-Cook construction with the interpolation points
``0, +-1, +-2, +-1/2, ...`` and infinity (:func:`winograd_transforms`); ``B^T`` is solved from the
defining identity in float64 and checked. Rounding: the transforms scale values by up to 2^(m-1),
so fp32 results differ from a direct convolution by a few 1e-7 relative (tests/test_perf.py).
With bf16 products the conv alone has about 4x the error of a direct bf16 convolution (the output
transform cancels large rounded terms); inside a discriminator, whose every layer rounds to bf16,
the gradients' error against float64 grows by a few percent (tests/test_perf.py). :func:`conv_time`
runs it under bf16 autocast when asked (``model.perf.winograd_bf16``, on by default).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch
import torch.nn.functional as F

POINTS = (0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 4.0, -4.0)
TILE = 4  # outputs per tile: F(4, r)
MIN_CHANNELS = 256


@cache
def winograd_transforms(m: int, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A^T (m, a), G (a, r), B^T (a, a)) in float64 for F(m, r), a = m + r - 1, such that for a
    tile ``d`` (a,) and kernel ``g`` (r,): ``A^T @ ((G @ g) * (B^T @ d))[i] = sum_k g[k] d[i + k]``."""
    a = m + r - 1
    if m < 1 or r < 2 or a - 1 > len(POINTS):
        raise ValueError(f"F({m}, {r}): needs m >= 1, r >= 2 and m + r - 2 <= {len(POINTS)}")
    pts = POINTS[: a - 1]
    at, g = np.zeros((m, a)), np.zeros((a, r))
    for j, p in enumerate(pts):
        at[:, j] = [p**i for i in range(m)]
        g[j] = [p**k / np.prod([p - q for q in pts if q != p]) for k in range(r)]
    at[m - 1, a - 1] = g[a - 1, r - 1] = 1.0  # the point at infinity
    # sum_j at[i, j] g[j, k] bt[j, l] = [l == i + k]: linear in bt
    system = np.einsum("ij,jk,jJ,lL->iklJL", at, g, np.eye(a), np.eye(a)).reshape(m * r * a, a * a)
    target = np.zeros((m, r, a))
    for i in range(m):
        for k in range(r):
            target[i, k, i + k] = 1.0
    bt = np.linalg.lstsq(system, target.ravel(), rcond=None)[0].reshape(a, a)
    residual = np.abs(system @ bt.ravel() - target.ravel()).max()
    if residual > 1e-9:
        raise ArithmeticError(f"F({m}, {r}): transform solve residual {residual:.1e}")
    return at, g, bt


_DEVICE_TRANSFORMS: dict[tuple, tuple[torch.Tensor, ...]] = {}


def _transforms(m: int, r: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    key = (m, r, like.device, like.dtype)
    if key not in _DEVICE_TRANSFORMS:
        _DEVICE_TRANSFORMS[key] = tuple(
            torch.tensor(t, dtype=like.dtype, device=like.device) for t in winograd_transforms(m, r)
        )
    return _DEVICE_TRANSFORMS[key]


def _correlate(
    x: torch.Tensor, weight: torch.Tensor, n_out: int, m: int, gemm_dtype: torch.dtype | None
) -> torch.Tensor:
    """Valid correlation along dim 2: x (B, C_in, >= n_out + r - 1, W), weight (C_out, C_in, r >= 2) ->
    (B, C_out, n_out, W), by F(m, r); the products in ``gemm_dtype`` (None: x's dtype), everything
    else in x's dtype."""
    r = weight.shape[2]
    gemm_dtype = gemm_dtype or x.dtype
    at, g, bt = _transforms(m, r, x)
    a = bt.shape[0]
    b, cin, _, w = x.shape
    cout = weight.shape[0]
    tiles = -(-n_out // m)
    need = tiles * m + r - 1
    x = F.pad(x[:, :, :need], (0, 0, 0, max(0, need - x.shape[2])))
    d = x.unfold(2, a, m)  # (B, C_in, tiles, W, a)
    v = torch.einsum("ja,bctwa->jcbtw", bt, d).reshape(a, cin, b * tiles * w)
    u = torch.einsum("jk,ock->joc", g, weight)  # (a, C_out, C_in)
    prod = torch.bmm(u.to(gemm_dtype), v.to(gemm_dtype)).to(x.dtype).view(a, cout, b, tiles, w)
    return torch.einsum("ij,jobtw->botiw", at, prod).reshape(b, cout, tiles * m, w)[:, :, :n_out]


def winograd_conv_time(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    padding: int,
    m: int = TILE,
    gemm_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=(padding, 0))`` (stride 1) for a ``(r, 1)`` kernel, by F(m, r).

    x (B, C_in, N, W) -> (B, C_out, N + 2 * padding - r + 1, W); weight (C_out, C_in, r, 1).
    ``gemm_dtype``: the dtype of the transformed operands' products (e.g. bfloat16 for an fp32 x).
    """
    xp = F.pad(x, (0, 0, padding, padding))
    y = _correlate(xp, weight[..., 0], xp.shape[2] - weight.shape[2] + 1, m, gemm_dtype)
    return y if bias is None else y + bias[None, :, None, None]


def winograd_fits(conv: torch.nn.Conv2d) -> bool:
    """True for a stride-1, undilated, ungrouped ``(r, 1)`` conv, r >= 3, with at least
    :data:`MIN_CHANNELS` input channels. Measured on 2 cores (docs/results/2026-11-28-training-speed.md):
    the MPD's last 1024 -> 1024 conv takes 0.30 s instead of 0.48-0.59 s (forward + backward, batch
    16 x 16384), while narrower convs, and strided ones split into polyphase stride-1 parts, lose
    more to the transforms' memory passes than they save in products."""
    k = conv.kernel_size
    return (
        k[1] == 1
        and k[0] >= 3
        and conv.stride == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and isinstance(conv.padding, tuple)
        and conv.padding[1] == 0
        and conv.in_channels >= MIN_CHANNELS
    )


def conv_time(conv: torch.nn.Conv2d, x: torch.Tensor, winograd: bool, bf16: bool = False) -> torch.Tensor:
    """``conv(x)`` for a ``(r, 1)`` Conv2d, by :func:`winograd_conv_time` where it fits and ``winograd``:
    for fp32 inputs outside autocast; under bf16 autocast only with ``bf16`` (transforms in fp32,
    products in bf16, output bf16 as autocast's conv; about 4x the rounding error of the direct bf16
    conv, measured in tests/test_perf.py). Anything else runs ``conv(x)``.

    x (B, C_in, N, W), or (B, C_in, N) for the same conv as a Conv1d over N (its (r, 1) kernel seen as
    (r,)): the layout in which the MPD folds its period into the batch."""
    device = x.device.type
    if not (winograd and winograd_fits(conv)):
        mode = None
    elif not torch.is_autocast_enabled(device):
        mode = "fp32" if x.dtype == torch.float32 else None
    else:
        mode = "bf16" if bf16 and torch.get_autocast_dtype(device) == torch.bfloat16 else None
    if mode is None:
        if x.dim() == 3:  # not conv(x.unsqueeze(-1)): a Conv2d over an (N, 1) grid is the slow case
            return F.conv1d(
                x,
                conv.weight.squeeze(-1),
                conv.bias,
                conv.stride[0],
                conv.padding[0],
                conv.dilation[0],
                conv.groups,
            )
        return conv(x)
    x4 = x.unsqueeze(-1) if x.dim() == 3 else x
    if mode == "fp32":
        y = winograd_conv_time(x4, conv.weight, conv.bias, conv.padding[0])
    else:
        with torch.autocast(device, enabled=False):
            y = winograd_conv_time(
                x4.float(),
                conv.weight.float(),
                None if conv.bias is None else conv.bias.float(),
                conv.padding[0],
                gemm_dtype=torch.bfloat16,
            ).to(torch.bfloat16)
    return y.squeeze(-1) if x.dim() == 3 else y
