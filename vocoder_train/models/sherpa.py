"""The vocoder forms that sherpa-onnx runs behind its TTS acoustic models (Matcha, ZipVoice).

sherpa-onnx picks a vocoder by the ONNX metadata ``model_type``:

* ``vocos``: a graph that stops before the inverse STFT: mel ``(1, n_mels, frames)`` in, three outputs
  read by position, ``mag``, ``x`` (cos), ``y`` (sin), each ``(1, n_fft / 2 + 1, frames)``, and the
  metadata ``n_fft``, ``hop_length``, ``win_length``, ``center``, ``normalized``, ``window_type``,
  ``pad_mode``, ``sample_rate``. sherpa-onnx takes ``mag`` as it comes (vocos' ``exp`` and its clip at
  100 are in the graph) and inverts with kaldi-native-fbank's ISTFT: an inverse real FFT per frame times a
  periodic Hann window, overlap-added, divided by the summed squared window, ``n_fft / 2`` trimmed at each
  end: ``torch.istft(center=True)``, ``(frames - 1) * hop`` samples. A head with vocos' "center" padding
  is that exactly; with "same" padding sherpa-onnx's output is ours without ``hop / 2`` samples at each
  end (the same samples between).
* ``hifigan``: mel in, audio out: the whole graph (:class:`~.inference.exportable.ExportableVocos`), for a
  head the ``vocos`` form cannot carry.

Neither form carries an inference-time refinement (the head's phase refinement, the mel projection), a
causal generator's framing, a conditioning id or features other than a mel: those are refused.
"""

from __future__ import annotations

import torch
from torch import nn
from vocos.heads import ISTFTHead

from vocoder_train.models.inference.exportable import UnsupportedForExport, check_exportable

# Acoustic models whose mel a vocoder must take, by the front-end settings that define it
MEL_CONVENTIONS = {
    "Matcha-TTS (HiFi-GAN's 80-bin mel at 22.05 kHz; experiment=hifigan_compat_22k)": (
        "vocoder_train.models.frontends.HifiganMelFeatures",
        {"sample_rate": 22050, "n_fft": 1024, "hop_length": 256, "n_mels": 80, "fmax": 8000.0},
    ),
    "ZipVoice (vocos-mel-24khz: 100 bins at 24 kHz; experiment=vocos_mel_24khz)": (
        "vocos.feature_extractors.MelSpectrogramFeatures",
        {"sample_rate": 24000, "n_fft": 1024, "hop_length": 256, "n_mels": 100, "padding": "center"},
    ),
}


class SherpaVocos(nn.Module):
    """mel (1, n_mels, frames) -> (mag, x, y), each (1, n_fft / 2 + 1, frames): vocos' ``ISTFTHead`` up to
    its inverse STFT (``mag = clip(exp(.), max=100)``, ``x = cos(phase)``, ``y = sin(phase)``)."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.backbone, self.out = generator.backbone, generator.head.out

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.out(self.backbone(mel).float()).transpose(1, 2)
        log_mag, phase = h.chunk(2, dim=1)
        return torch.clip(torch.exp(log_mag), max=1e2), torch.cos(phase), torch.sin(phase)


FORMS = ("auto", "vocos", "hifigan")


def sherpa_form(generator: nn.Module, prefer: str = "auto") -> str:
    """ "vocos" or "hifigan": the form that carries ``generator`` (``prefer``: "auto", the vocos form where
    the head allows it, else hifigan; or one of them); :class:`UnsupportedForExport` (one line) when it
    cannot."""
    if prefer not in FORMS:
        raise UnsupportedForExport(f"sherpa-onnx form {prefer!r}: choose one of {', '.join(FORMS)}")
    fe = generator.feature_extractor
    reasons = []
    if getattr(generator, "conditions", 0):
        reasons.append("it is conditioned on a bandwidth id (sherpa-onnx feeds a mel only)")
    if not getattr(fe, "takes_audio", True) or getattr(fe, "takes_codes", False):
        reasons.append("it decodes features or codes, not a mel")
    if getattr(generator, "mel_passes", 0) or getattr(generator.head, "refine_iters", 0):
        reasons.append("its inference-time refinement (mel_passes / refine_iters) would be lost")
    if reasons:
        raise UnsupportedForExport(
            f"sherpa-onnx cannot run this model: {'; '.join(reasons)}; export -f onnx, -f vocos or "
            "-f safetensors"
        )
    check_exportable(generator)  # causal framing, IMDCT heads, other windows: refused there by name
    head = generator.head
    vocos_head = type(head) is ISTFTHead and head.istft.win_length == head.istft.n_fft
    if vocos_head and head.istft.padding in ("center", "same") and prefer != "hifigan":
        return "vocos"
    if prefer == "vocos":
        raise UnsupportedForExport(
            f"sherpa-onnx's vocos form needs vocos' ISTFTHead with win_length = n_fft (the head is "
            f"{type(head).__name__}); use --sherpa-form hifigan"
        )
    from vocoder_train.models.causal import is_causal

    if is_causal(generator):
        raise UnsupportedForExport(
            "sherpa-onnx cannot run a causal generator's framing (neither its vocos form nor its hifigan "
            "form streams); export -f onnx-stream"
        )
    return "hifigan"


def sherpa_metadata(generator: nn.Module, sample_rate: int, form: str) -> dict[str, str]:
    """The ONNX metadata sherpa-onnx reads (integers and flags as decimal strings: it parses them with
    atoi)."""
    meta = {"model_type": form, "sample_rate": str(int(sample_rate))}
    if form == "vocos":
        istft = generator.head.istft
        meta.update(
            n_fft=str(int(istft.n_fft)),
            hop_length=str(int(istft.hop_length)),
            win_length=str(int(istft.win_length)),
            center="1",
            normalized="0",
            window_type="hann",
            pad_mode="reflect",
        )
    return meta


def sherpa_trim(generator: nn.Module) -> int:
    """Samples sherpa-onnx's ISTFT leaves out at each end of our output: ``hop / 2`` for "same" padding."""
    istft = generator.head.istft
    return int(istft.hop_length) // 2 if istft.padding == "same" else 0


def mel_conventions(config: dict) -> list[str]:
    """The acoustic models whose mel ``config``'s front end computes (settings compared one by one)."""
    fe = config.get("feature_extractor", {})
    target, args = fe.get("class_path"), fe.get("init_args", {})
    return [
        name
        for name, (cls, settings) in MEL_CONVENTIONS.items()
        if target == cls and all(args.get(k, v) == v for k, v in settings.items())
    ]
