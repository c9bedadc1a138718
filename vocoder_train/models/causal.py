"""A causal Vocos: every output sample depends only on mel frames that describe audio before it.

Each part subclasses the vocos class it replaces and keeps its parameter names, so a causal
generator's state dict has the keys of a ``vocos.Vocos`` of the same size, and a ``VocosGenerator``
built from these parts trains with every objective and discriminator the framework has:

* :class:`CausalMelSpectrogramFeatures`: frame ``l``'s analysis window ends at ``(l + 1) * hop``
  (the signal is zero-padded by ``n_fft - hop`` on the left). It is also zero-padded on the right, to
  :func:`vocoder_train.dsp.causal_frames` frames, so that copy synthesis (training) returns T samples
  that are all fully overlap-added.
* :class:`CausalVocosBackbone`: the embedding convolution and each ConvNeXt block's depthwise
  convolution are :class:`CausalConv1d`: padded by ``kernel - 1`` frames on the left only.
* :class:`CausalISTFTHead`: vocos' ISTFT head with :class:`CausalISTFT`, the ISTFT on the causal
  grid (:func:`vocoder_train.dsp.causal_istft`): frame ``l`` covers output samples
  ``[(l + 1) * hop - n_fft, (l + 1) * hop)``, so L frames give ``L * hop`` samples, aligned with
  the audio the front end analysed.

Algorithmic latency: ``n_fft - hop`` samples (768 = 32 ms at 24 kHz, n_fft 1024, hop 256). Once
the frames computed from audio up to time t are in, the output is final up to ``t - (n_fft - hop)``:
the overlap-add of the frames still to come reaches that far back. After the first
``n_fft / hop - 1`` frames, each new frame finishes exactly one hop of audio.

Streaming carries the state that makes a chunk cost only its own frames: the last ``kernel - 1``
input frames of each causal convolution (:meth:`CausalVocosBackbone.step`) and the unfinished
overlap-add tail (:func:`vocoder_train.dsp.carry_overlap_add`); the streamers are in
:mod:`vocoder_train.models.inference.streaming`. A vocos ``config.yaml`` of such a generator names
these classes, so loading it needs ``vocoder_train`` installed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from vocos.feature_extractors import MelSpectrogramFeatures
from vocos.heads import ISTFTHead
from vocos.models import VocosBackbone
from vocos.modules import safe_log
from vocos.spectral_ops import ISTFT

from vocoder_train.dsp import causal_istft, causal_latency, causal_padding


class CausalConv1d(nn.Conv1d):
    """``nn.Conv1d`` (stride 1) padded by ``dilation * (kernel_size - 1)`` frames on the left only:
    x (B, C_in, L) -> (B, C_out, L), output frame ``l`` sees input frames ``<= l``.

    The left padding is zeros, or, while :meth:`CausalVocosBackbone.step` runs, the ``context``
    it sets (the previous call's last input frames); the frames to carry to the next call are
    then left in ``carried``. Not thread-safe while streaming.

    Args:
        in_channels, out_channels, kernel_size, dilation, groups: as ``nn.Conv1d``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1, groups: int = 1
    ):
        super().__init__(in_channels, out_channels, kernel_size, padding=0, dilation=dilation, groups=groups)
        self.left = dilation * (kernel_size - 1)
        self.context: torch.Tensor | None = None
        self.carried: torch.Tensor | None = None

    @classmethod
    def like(cls, conv: nn.Conv1d) -> CausalConv1d:
        """The causal twin of ``conv`` (same shape and weights, its padding dropped)."""
        twin = cls(conv.in_channels, conv.out_channels, conv.kernel_size[0], conv.dilation[0], conv.groups)
        twin.load_state_dict(conv.state_dict())
        return twin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.context is None:
            return super().forward(F.pad(x, (self.left, 0)))
        x = torch.cat([self.context, x], dim=-1)
        self.carried = x[..., -self.left :]
        return super().forward(x)


class CausalVocosBackbone(VocosBackbone):
    """``vocos.models.VocosBackbone`` with causal convolutions: features (B, C, L) -> hidden (B, L, dim),
    hidden frame ``l`` depending on feature frames ``<= l`` only (``6 * (num_layers + 1)`` of them back).

    Args: those of ``VocosBackbone``; ``adanorm_num_embeddings`` (bandwidth conditioning for EnCodec
    features) must stay None: the streamers decode mel features without a bandwidth id.
    """

    def __init__(
        self,
        input_channels: int,
        dim: int,
        intermediate_dim: int,
        num_layers: int,
        layer_scale_init_value: float | None = None,
        adanorm_num_embeddings: int | None = None,
    ):
        if adanorm_num_embeddings is not None:
            raise ValueError(
                f"CausalVocosBackbone: adanorm_num_embeddings={adanorm_num_embeddings}; the causal "
                "backbone decodes mel features without a bandwidth id: set it to null"
            )
        super().__init__(input_channels, dim, intermediate_dim, num_layers, layer_scale_init_value)
        self.embed = CausalConv1d.like(self.embed)
        for block in self.convnext:
            block.dwconv = CausalConv1d.like(block.dwconv)

    def causal_convs(self) -> list[CausalConv1d]:
        """The convolutions whose left context a stream carries, in the order of :meth:`step`'s states."""
        return [self.embed, *(block.dwconv for block in self.convnext)]

    @property
    def context_frames(self) -> int:
        """Feature frames back that a hidden frame depends on (the receptive field, all on the left)."""
        return sum(conv.left for conv in self.causal_convs())

    def initial_state(self, batch: int, like: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Zeros (B, C_in, kernel - 1) per causal convolution: the offline zero padding."""
        ref = self.embed.weight if like is None else like
        return [ref.new_zeros(batch, conv.in_channels, conv.left) for conv in self.causal_convs()]

    def step(
        self, features: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """features (B, C, c) of the next c frames + the state after the frames before them ->
        (hidden (B, c, dim), the state after these frames). vocos' own forward runs, with each
        causal convolution padded by its carried frames instead of zeros."""
        convs = self.causal_convs()
        for conv, context in zip(convs, state, strict=True):
            conv.context = context
        try:
            hidden = self(features)
            return hidden, [conv.carried for conv in convs]
        finally:
            for conv in convs:
                conv.context = conv.carried = None


class CausalISTFT(ISTFT):
    """vocos' ``ISTFT`` module (its ``window`` buffer) on the causal grid: complex (B, n_fft // 2 + 1, L)
    -> audio (B, L * hop) by :func:`vocoder_train.dsp.causal_istft`. ``padding`` reads "causal".

    Args:
        n_fft (int): FFT size (= window length).
        hop_length (int): hop; must divide ``n_fft``.
    """

    def __init__(self, n_fft: int, hop_length: int):
        super().__init__(n_fft=n_fft, hop_length=hop_length, win_length=n_fft, padding="same")
        self.latency = causal_latency(n_fft, hop_length)
        self.padding = "causal"

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        return causal_istft(spec, self.window, self.hop_length)


class CausalISTFTHead(ISTFTHead):
    """``vocos.heads.ISTFTHead`` (its ``out`` Linear and spectrum) with :class:`CausalISTFT`:
    hidden (B, L, dim) -> audio (B, L * hop), sample ``t`` from frames ``l`` with ``l * hop < t + n_fft``.

    Args:
        dim (int): hidden size of the backbone.
        n_fft (int): FFT size of the ISTFT.
        hop_length (int): hop of the ISTFT (= the features' hop); must divide ``n_fft``.
    """

    def __init__(self, dim: int, n_fft: int, hop_length: int):
        super().__init__(dim=dim, n_fft=n_fft, hop_length=hop_length)
        self.istft = CausalISTFT(n_fft, hop_length)


class CausalMelSpectrogramFeatures(MelSpectrogramFeatures):
    """vocos' log-mel (torchaudio ``MelSpectrogram``, power 1, ``safe_log``) on the causal grid:
    audio (B, T) -> (B, n_mels, ceil((T + n_fft - hop) / hop)); frame ``l``'s window covers samples
    ``[(l + 1) * hop - n_fft, (l + 1) * hop)`` (zeros outside the signal).

    Args:
        sample_rate, n_fft, hop_length, n_mels: as ``MelSpectrogramFeatures``.
        padding (str): "causal" (the only value; the key names the grid for configs that read it).
    """

    def __init__(
        self,
        sample_rate: int = 24000,
        n_fft: int = 1024,
        hop_length: int = 256,
        n_mels: int = 100,
        padding: str = "causal",
    ):
        if padding != "causal":
            raise ValueError(
                f"CausalMelSpectrogramFeatures: padding={padding!r}; it frames causally only "
                "(padding: causal), or use vocos.feature_extractors.MelSpectrogramFeatures"
            )
        super().__init__(
            sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, padding="same"
        )
        self.latency = causal_latency(n_fft, hop_length)
        self.padding = "causal"

    def forward(self, audio: torch.Tensor, **kwargs) -> torch.Tensor:
        """audio (B, T) -> log-mel (B, n_mels, ceil((T + n_fft - hop) / hop))."""
        hop, n_fft = self.mel_spec.hop_length, self.mel_spec.n_fft
        return safe_log(self.mel_spec(F.pad(audio, causal_padding(audio.shape[-1], hop, n_fft))))


KERNEL = 7  # vocos' VocosBackbone: the embedding and every depthwise convolution


def is_causal(generator: nn.Module) -> bool:
    """True when ``generator`` has the causal backbone and head (what a carried-state stream needs)."""
    return isinstance(getattr(generator, "backbone", None), CausalVocosBackbone) and (
        type(getattr(generator, "head", None)) is CausalISTFTHead
    )


def causal_context(vocos_config: dict) -> int | None:
    """Feature frames back that a causal generator's output depends on, from its vocos config
    (``class_path`` / ``init_args`` per part); None when the config is not causal."""
    backbone, head = vocos_config.get("backbone") or {}, vocos_config.get("head") or {}
    if backbone.get("class_path") != _path(CausalVocosBackbone) or head.get("class_path") != _path(
        CausalISTFTHead
    ):
        return None
    return (KERNEL - 1) * (int((backbone.get("init_args") or {})["num_layers"]) + 1)


def _path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
