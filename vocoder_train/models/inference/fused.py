"""Fused inference for Vocos generators: the same weights, fewer passes over memory.

``vocos.Vocos.decode`` spends well under half of a CPU decode in its matrix products (profiler): every
ConvNeXt block transposes ``(B, C, L) <-> (B, L, C)`` twice (copies), applies the layer norm's
affine and the layer scale as separate passes, and the ISTFT head overlap-adds frames and the
window envelope with two ``col2im`` calls. :class:`FusedVocos` computes the same function:

* activations stay ``(B, L, C)`` from the embedding to the head (no transposes); the depthwise
  convolution is 7 shifted multiply-adds along time;
* each block's layer-norm affine is folded into ``pwconv1`` (``W diag(g)``, ``b1 + W beta``) and
  the layer scale into ``pwconv2`` (``diag(gamma) W``, ``gamma b2``), computed in float64 once;
* the two pointwise products can run in bfloat16 (``gemm_dtype``) while the residual stream,
  the layer norms, the head's ``Linear`` and the ISTFT stay float32: bf16 rounding then enters only
  through the block outputs, which the layer scale keeps small (measured max abs error 4.1e-5 on
  the benchmark's 10 s decode, where bf16 autocast of the whole backbone gives 4.5e-4);
* the head builds the spectrum in frame-major layout (:mod:`vocoder_train.dsp`'s head spectrum
  and ISTFT), and when ``hop`` divides ``n_fft`` the overlap-add is ``n_fft / hop`` shifted adds;
  the window envelope depends only on the frame count and is cached.

fp32 output equals ``VocosGenerator.synthesize`` to float rounding (tests/test_fused.py). It is an
inference module (no gradients are needed or kept); ``torch.jit.trace`` works on it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from vocos.heads import ISTFTHead
from vocos.models import VocosBackbone

from vocoder_train.dsp import PADDINGS, head_spectrum, istft, istft_trim, trim_ends, window_envelope


class FusionUnsupported(ValueError):
    """The generator has a part the fused path does not implement; the message says which."""


def check_fusable(generator: nn.Module) -> None:
    """Raises :class:`FusionUnsupported` unless the generator is a mel/feature Vocos with an ISTFT head."""
    backbone, head = getattr(generator, "backbone", None), getattr(generator, "head", None)
    if not isinstance(backbone, VocosBackbone):
        raise FusionUnsupported(
            f"backbone is {type(backbone).__name__}; the fused path needs vocos.models.VocosBackbone"
        )
    if type(head) is not ISTFTHead:
        raise FusionUnsupported(f"head is {type(head).__name__}; the fused path needs vocos.heads.ISTFTHead")
    if head.istft.win_length != head.istft.n_fft:
        raise FusionUnsupported(f"ISTFT win_length={head.istft.win_length} != n_fft={head.istft.n_fft}")
    if head.istft.padding not in PADDINGS:
        raise FusionUnsupported(f"ISTFT padding={head.istft.padding!r}")
    for i, block in enumerate(backbone.convnext):
        dw = block.dwconv
        if (
            dw.kernel_size[0] % 2 == 0
            or dw.padding[0] != dw.kernel_size[0] // 2
            or dw.groups != dw.in_channels
        ):
            raise FusionUnsupported(f"convnext[{i}].dwconv is not an odd-sized 'same' depthwise convolution")
        if not isinstance(block.act, nn.GELU) or block.act.approximate != "none":
            raise FusionUnsupported(f"convnext[{i}].act is {block.act}; the fused path implements exact GELU")


def norm_affines(norm: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(weights (K, C), biases (K, C)) of a layer norm's affine: a ``LayerNorm``'s (K = 1), or a vocos
    ``AdaLayerNorm``'s, one per conditioning id (its ``scale`` and ``shift`` embeddings)."""
    if hasattr(norm, "scale") and hasattr(norm, "shift"):
        return norm.scale.weight.detach(), norm.shift.weight.detach()
    return norm.weight.detach()[None], norm.bias.detach()[None]


class FusedBackbone(nn.Module):
    """A ``vocos.models.VocosBackbone`` as features ``(B, C_in, L)`` (and a conditioning id when it has
    AdaLN, ``adanorm_num_embeddings``) -> hidden ``(B, L, dim)``. AdaLN is a layer norm whose affine is
    picked by the id: each id's affine is folded into its own copy of ``pwconv1``."""

    def __init__(self, backbone: VocosBackbone, gemm_dtype: torch.dtype = torch.float32):
        super().__init__()
        self.gemm_dtype = gemm_dtype
        # an upsampling backbone's interpolation (vocoder_train.models.upsampling) runs first, as it is
        self.upsampler = getattr(backbone, "upsampler", None)
        self.conditions = int(backbone.norm.scale.num_embeddings) if backbone.adanorm else 0
        emb = backbone.embed
        self.embed_padding = int(emb.padding[0])
        self.register_buffer("embed_w", emb.weight.detach().float().clone())
        self.register_buffer("embed_b", emb.bias.detach().float().clone())
        norm_w, norm_b = norm_affines(backbone.norm)
        self.register_buffer("norm_w", norm_w.float().clone())  # (K, C)
        self.register_buffer("norm_b", norm_b.float().clone())
        self.norm_eps = float(backbone.norm.eps)
        self.register_buffer("final_w", backbone.final_layer_norm.weight.detach().float().clone())
        self.register_buffer("final_b", backbone.final_layer_norm.bias.detach().float().clone())
        self.final_eps = float(backbone.final_layer_norm.eps)
        self.kernel = int(backbone.convnext[0].dwconv.kernel_size[0])
        self.block_eps = [float(b.norm.eps) for b in backbone.convnext]
        dw_w, dw_b, w1, b1, w2, b2 = [], [], [], [], [], []
        for block in backbone.convnext:
            g, beta = (a.double() for a in norm_affines(block.norm))  # (K, C)
            W1, B1 = block.pwconv1.weight.detach().double(), block.pwconv1.bias.detach().double()
            W2, B2 = block.pwconv2.weight.detach().double(), block.pwconv2.bias.detach().double()
            scale = block.gamma.detach().double() if block.gamma is not None else torch.ones_like(B2)
            dw_w.append(block.dwconv.weight.detach()[:, 0, :].t().float())  # (k, C)
            dw_b.append(block.dwconv.bias.detach().float())
            # (K, I, C), nn.Linear layout (measured ~7% faster than (C, I) in fp32)
            w1.append(W1[None] * g[:, None, :])
            b1.append(B1[None] + beta @ W1.T)  # (K, I)
            w2.append(scale[:, None] * W2)  # (C, I)
            b2.append(scale * B2)
        self.register_buffer("dw_w", torch.stack(dw_w))  # (N, k, C)
        self.register_buffer("dw_b", torch.stack(dw_b))  # (N, C)
        self.register_buffer("w1", torch.stack(w1).to(gemm_dtype))  # (N, K, I, C)
        self.register_buffer("b1", torch.stack(b1).to(gemm_dtype))  # (N, K, I)
        self.register_buffer("w2", torch.stack(w2).to(gemm_dtype))  # (N, C, I)
        self.register_buffer("b2", torch.stack(b2).to(gemm_dtype))  # (N, C)

    def forward(self, features: torch.Tensor, condition: int | None = None) -> torch.Tensor:
        c = self._condition_index(condition)
        if self.upsampler is not None:
            features = self.upsampler(features.float())
        x = F.conv1d(features.float(), self.embed_w, self.embed_b, padding=self.embed_padding).transpose(1, 2)
        B, L, C = x.shape
        x = F.layer_norm(x, (C,), self.norm_w[c], self.norm_b[c], self.norm_eps).contiguous()
        half = self.kernel // 2
        for i, eps in enumerate(self.block_eps):
            xp = F.pad(x, (0, 0, half, half))
            dw_w = self.dw_w[i]
            h = torch.addcmul(self.dw_b[i], xp[:, 0:L], dw_w[0])
            for k in range(1, self.kernel):
                h.addcmul_(xp[:, k : k + L], dw_w[k])
            h = F.layer_norm(h, (C,), None, None, eps).to(self.gemm_dtype)
            h = F.linear(F.gelu(F.linear(h, self.w1[i, c], self.b1[i, c])), self.w2[i], self.b2[i])
            x = x.add_(h)  # fp32 residual stream (a bf16 h is promoted)
        return F.layer_norm(x, (C,), self.final_w, self.final_b, self.final_eps)

    def _condition_index(self, condition: int | None) -> int:
        if not self.conditions:
            return 0
        if condition is None or not 0 <= int(condition) < self.conditions:
            raise ValueError(
                f"this backbone is conditioned on {self.conditions} ids (AdaLN): pass one in "
                f"0..{self.conditions - 1}, got {condition!r}"
            )
        return int(condition)


class FusedISTFTHead(nn.Module):
    """``vocos.heads.ISTFTHead`` on frame-major hidden states ``(B, L, dim)`` -> audio ``(B, T)``."""

    def __init__(self, head: ISTFTHead):
        super().__init__()
        istft = head.istft
        self.n_fft, self.hop, self.padding = int(istft.n_fft), int(istft.hop_length), istft.padding
        self.trim = istft_trim(self.n_fft, self.hop, self.padding)
        self.register_buffer("out_w", head.out.weight.detach().float().clone())  # (2K, dim)
        self.register_buffer("out_b", head.out.bias.detach().float().clone())
        self.register_buffer("window", istft.window.detach().float().clone())
        self._envelopes: dict[int, torch.Tensor] = {}

    def _envelope(self, frames: int) -> torch.Tensor:
        """The trimmed window envelope for ``frames`` frames, cached (it depends on nothing else)."""
        env = self._envelopes.get(frames) if not torch.jit.is_tracing() else None
        if env is None or env.device != self.window.device:
            env = trim_ends(window_envelope(self.window, self.hop, frames), self.trim)
            if not torch.jit.is_tracing():
                self._envelopes = {frames: env}  # one length cached (chunked synthesis repeats it)
        return env

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden (B, L, dim) -> audio (B, T)."""
        x = F.linear(hidden.float(), self.out_w, self.out_b)  # (B, L, 2K)
        spec = head_spectrum(x, dim=-1)
        return istft(
            spec, self.window, self.hop, self.padding, freq_dim=-1, envelope=self._envelope(hidden.shape[1])
        )


class FusedVocos(nn.Module):
    """Features ``(B, C, L)`` -> audio ``(B, T)``: :class:`FusedBackbone` + :class:`FusedISTFTHead`.

    Args:
        generator: a ``vocos.Vocos`` / ``VocosGenerator`` with a ``VocosBackbone`` (AdaLN or not) and an
            ``ISTFTHead``.
        gemm_dtype: dtype of the ConvNeXt pointwise products (``torch.bfloat16`` where
            :func:`vocoder_train.hardware.bf16_matmul_is_fast`; the rest stays float32).

    The weights are copied (folded) at construction: rebuild after changing the generator.
    """

    def __init__(self, generator: nn.Module, gemm_dtype: torch.dtype = torch.float32):
        super().__init__()
        check_fusable(generator)
        self.backbone = FusedBackbone(generator.backbone, gemm_dtype)
        self.head = FusedISTFTHead(generator.head)

    def forward(self, features: torch.Tensor, condition: int | None = None) -> torch.Tensor:
        """features (B, C, L) -> audio (B, T); ``condition``: the id of an AdaLN backbone (a bandwidth)."""
        return self.head(self.backbone(features, condition))
