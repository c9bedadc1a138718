"""The carried-state streaming step of a causal generator, and the step functions that run it.

:class:`StreamingVocos` maps ``(mel chunk, *state)`` to ``(audio, tail_audio, *next_state)``; it is
also the graph of the ``onnx-stream`` export. The streamers that drive a step over an utterance:
:mod:`vocoder_train.models.inference.streaming`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from vocoder_train.dsp import (
    carry_overlap_add,
    causal_normalize,
    head_real_imag,
    head_spectrum,
    synthesis_overlap_add,
)
from vocoder_train.models.causal import is_causal
from vocoder_train.models.inference.exportable import CausalRealISTFT

StepFn = Callable[[torch.Tensor, list[torch.Tensor]], tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]]


class NotStreamable(ValueError):
    """The model cannot stream as asked; the message says what would."""


class StreamingVocos(nn.Module):
    """One streaming step of a causal generator:
    ``(mel (B, C, c), *state) -> (audio (B, c * hop), tail_audio (B, n_fft - hop), *next_state)``.

    ``state``: per causal convolution (:meth:`~vocoder_train.models.causal.CausalVocosBackbone.causal_convs`)
    its last ``kernel - 1`` input frames (B, C_i, kernel - 1), then the overlap-add tail (B, n_fft - hop);
    :meth:`initial_state` gives the zeros that start an utterance. ``audio`` holds the samples the
    c frames finish, counted from the first frame's overlap-add position, so an utterance's first
    ``n_fft - hop`` samples lie before time 0 and are dropped. ``tail_audio`` is what the utterance
    would end with if these were its last frames (the tail divided by the envelope).

    Shares the generator's modules. With ``graph`` the inverse DFT is
    :class:`~vocoder_train.models.inference.exportable.CausalRealISTFT`'s real-valued basis, so the
    module traces to ONNX with dynamic batch and chunk length; eagerly it is ``irfft`` + shifted
    adds, because torch's CPU ``conv_transpose1d`` with the basis is the slower of the two for the few
    frames of a push (the streamers' per-push compute is measured in docs/results/2026-11-28-streaming.md).

    Args:
        generator: a ``VocosGenerator`` with :class:`~vocoder_train.models.causal.CausalVocosBackbone`
            and :class:`~vocoder_train.models.causal.CausalISTFTHead`.
        graph (bool): build the graph form (for export).
    """

    def __init__(self, generator: nn.Module, graph: bool = False):
        super().__init__()
        if not is_causal(generator):
            backbone = type(getattr(generator, "backbone", None)).__name__
            parts = f"{backbone} + {type(getattr(generator, 'head', None)).__name__}"
            raise NotStreamable(
                f"the generator ({parts}) is not causal, so it cannot stream with carried state; train a "
                "causal one (model/generator=vocos_causal or vocos_causal_small), or stream this one with a "
                "look-ahead"
            )
        self.backbone, self.out = generator.backbone, generator.head.out
        istft = generator.head.istft
        self.istft = CausalRealISTFT(istft.n_fft, istft.hop_length, window=istft.window).to(
            istft.window.device
        )
        self.graph = bool(graph)

    @property
    def latency(self) -> int:
        return self.istft.latency

    def initial_state(self, batch: int) -> list[torch.Tensor]:
        ref = self.out.weight
        return [*self.backbone.initial_state(batch, ref), ref.new_zeros(batch, self.istft.latency)]

    def forward(self, mel: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        hidden, conv_state = self.backbone.step(mel, list(state[:-1]))
        x = self.out(hidden).transpose(1, 2)
        if self.graph:
            ola = self.istft.overlap_added(*head_real_imag(x))
        else:
            ola = synthesis_overlap_add(head_spectrum(x), self.istft.window, self.istft.hop_length)
        audio, tail = carry_overlap_add(ola, state[-1], self.istft.envelope)
        return (audio, causal_normalize(tail, self.istft.envelope), *conv_state, tail)


def torch_step(module: StreamingVocos, device: str = "cpu") -> StepFn:
    """A :class:`~vocoder_train.models.inference.streaming.CarriedStateStreamer` step running ``module``
    eagerly on ``device`` (CPU tensors out)."""

    def step(mel: torch.Tensor, state: list[torch.Tensor]):
        with torch.inference_mode():
            audio, tail_audio, *nxt = module(mel.to(device).float(), *state)
        return audio.cpu(), tail_audio.cpu(), nxt

    return step


def onnx_step(session) -> StepFn:
    """A :class:`~vocoder_train.models.inference.streaming.CarriedStateStreamer` step running an
    ``onnx-stream`` export's graph in onnxruntime."""
    names = [i.name for i in session.get_inputs()]

    def step(mel: torch.Tensor, state: list[torch.Tensor]):
        feeds = dict(zip(names, (t.detach().float().cpu().numpy() for t in (mel, *state)), strict=True))
        audio, tail_audio, *nxt = (torch.from_numpy(o) for o in session.run(None, feeds))
        return audio, tail_audio, nxt

    return step


def onnx_initial_state(session) -> Callable[[int], list[torch.Tensor]]:
    """Zeros for an ``onnx-stream`` export's state inputs, with the batch size filled in."""
    shapes = [i.shape[1:] for i in session.get_inputs()[1:]]
    return lambda batch: [torch.zeros(batch, *shape) for shape in shapes]
