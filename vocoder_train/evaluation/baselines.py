"""Baselines that evaluations put beside a model: Griffin-Lim from its own mel, and the network alone.

Griffin-Lim: the mel magnitudes are mapped back to a linear magnitude spectrogram with the
filterbank's pseudo-inverse (the least-squares, minimum-norm solution, negative values set to 0: what
``torchaudio.transforms.InverseMelScale`` computes), given a random phase, and refined by
:func:`vocoder_train.dsp.griffin_lim` on the front end's own frame grid; with ``mel_passes`` it is
followed by the same mel projection the model applies (:func:`vocoder_train.dsp.mel_projection`).
The network alone (:func:`network_only`): a model with its inference-time add-ons (the head's phase
refinement, the generator's mel projection) switched off, to show what they add. ``vocoder-evaluate``
and ``benchmarks/quality.py`` both score these.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

GRIFFIN_LIM_ITERS = 32  # fast Griffin-Lim (momentum 0.99) converges in a few tens of iterations


@dataclass(frozen=True)
class MelFrontEnd:
    """What inverting a mel front end needs.

    filterbank: (n_mels, n_fft // 2 + 1) mel = filterbank @ |STFT|.
    window: (n_fft,) analysis window, zero-padded to n_fft as ``torch.stft`` does.
    hop_length: samples between frames.
    padding: the frame grid, as :func:`vocoder_train.dsp.istft_trim` names it ("center": frame ``l``
        centred on sample ``l * hop``; "same": it starts ``(n_fft - hop) // 2`` before ``l * hop``).
    """

    filterbank: torch.Tensor
    window: torch.Tensor
    hop_length: int
    padding: str

    @property
    def n_fft(self) -> int:
        return self.window.shape[-1]


def _padded_hann(win_length: int, n_fft: int) -> torch.Tensor:
    left = (n_fft - win_length) // 2
    return F.pad(torch.hann_window(win_length), (left, n_fft - win_length - left))


def mel_front_end(module: torch.nn.Module) -> MelFrontEnd | None:
    """The :class:`MelFrontEnd` of a feature extractor, or None when it is not a magnitude mel.

    Knows vocos' ``MelSpectrogramFeatures`` (a torchaudio ``MelSpectrogram`` of power 1 in
    ``mel_spec``; padding "center" or "same"), :class:`~vocoder_train.models.frontends.HifiganMelFeatures`
    (``mel_basis``, "same" grid) and a bare ``torchaudio.transforms.MelSpectrogram`` of power 1.
    """
    import torchaudio

    spec = (
        module
        if isinstance(module, torchaudio.transforms.MelSpectrogram)
        else getattr(module, "mel_spec", None)
    )
    if isinstance(spec, torchaudio.transforms.MelSpectrogram) and spec.power == 1:
        padding = getattr(module, "padding", "center" if spec.spectrogram.center else None)
        if padding not in ("center", "same"):
            return None
        window = _padded_hann(spec.win_length, spec.n_fft)
        return MelFrontEnd(spec.mel_scale.fb.T.detach().float().cpu(), window, int(spec.hop_length), padding)
    basis = getattr(module, "mel_basis", None)
    if isinstance(basis, torch.Tensor):
        window = _padded_hann(int(module.win_length), int(module.n_fft))
        return MelFrontEnd(basis.detach().float().cpu(), window, int(module.hop_length), "same")
    return None


@torch.no_grad()
def griffin_lim_from_mel(
    mel: torch.Tensor,
    front: MelFrontEnd,
    iters: int = GRIFFIN_LIM_ITERS,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Mel magnitudes (B, n_mels, L) -> audio (B, T): pseudo-inverse of ``front.filterbank``, a random
    phase from ``generator``, then ``iters`` fast Griffin-Lim iterations on ``front``'s frame grid.
    The output has as many samples as the vocos ISTFT on that grid gives for L frames."""
    from vocoder_train.dsp import griffin_lim

    inverse = torch.linalg.pinv(front.filterbank.double()).float()  # (n_freqs, n_mels)
    magnitude = torch.relu(inverse @ mel.float())
    phase = torch.exp(2j * torch.pi * torch.rand(magnitude.shape, generator=generator))
    return griffin_lim(magnitude * phase, front.window, front.hop_length, front.padding, iters)


class GriffinLimBaseline:
    """Copy synthesis by Griffin-Lim from ``vocoder``'s own mel features (natural log of magnitudes,
    as vocos' and the HiFi-GAN front end compute them): a drop-in for a model in an evaluation.
    ``mel_passes``: then the mel projection toward the same mel, as a model with that add-on applies it
    (its front end's ``mel_spec``; 0: none).

    Raises ValueError when ``vocoder``'s feature extractor is not a mel front end it knows.
    """

    def __init__(self, vocoder, iters: int = GRIFFIN_LIM_ITERS, seed: int = 0, mel_passes: int = 0):
        self.vocoder, self.iters, self.seed = vocoder, int(iters), int(seed)
        self.mel_passes = int(mel_passes)
        self.sample_rate = int(vocoder.sample_rate)
        self.description = (
            f"fast Griffin-Lim, {self.iters} iterations from a random phase (seed {self.seed})"
            + (f", then the mel projection ({self.mel_passes} passes)" if self.mel_passes else "")
        )
        self.front = mel_front_end(vocoder.feature_extractor)
        if self.front is None:
            raise ValueError(
                f"{getattr(vocoder, 'source', vocoder)}: its feature extractor "
                f"{type(vocoder.feature_extractor).__name__} is not a mel front end, so there is no "
                "Griffin-Lim baseline for it; leave the baseline out"
            )

    def copy_synthesis(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (B, T) -> log-mel of the vocoder -> Griffin-Lim -> audio (B, T) (trimmed or zero-padded)."""
        from vocoder_train.dsp import mel_projection

        log_mel = self.vocoder.features(audio)
        generator = torch.Generator().manual_seed(self.seed)  # the same phase start for every call
        out = griffin_lim_from_mel(torch.exp(log_mel), self.front, self.iters, generator)
        if self.mel_passes:
            out = mel_projection(out, log_mel, self.vocoder.feature_extractor.mel_spec, self.mel_passes)
        length = audio.shape[-1]
        return F.pad(out, (0, max(0, length - out.shape[-1])))[..., :length]


def addons(vocoder) -> dict[str, int]:
    """The inference-time add-ons ``vocoder``'s generator runs after its network, by the name of the
    setting that turns each on (``refine_iters``: the head's phase refinement, ``mel_passes``: the mel
    projection), those that are on only; empty for a model without a PyTorch generator."""
    generator = getattr(vocoder, "generator", None)
    if generator is None:
        return {}
    found = {
        "refine_iters": int(getattr(generator.head, "refine_iters", 0)),
        "mel_passes": int(getattr(generator, "mel_passes", 0)),
    }
    return {k: v for k, v in found.items() if v}


def network_only(vocoder):
    """A copy of ``vocoder`` (a :class:`~vocoder_train.models.vocoder.TorchVocoder`) with its inference-time
    add-ons off: what the network alone gives. None when it has none (:func:`addons`)."""
    from vocoder_train.models.vocoder import ENGINES, TorchVocoder

    on = addons(vocoder)
    if not on:
        return None
    generator = copy.deepcopy(vocoder.generator)
    generator.mel_passes = 0
    if hasattr(generator.head, "refine_iters"):
        generator.head.refine_iters = 0
    engine = vocoder.engine if vocoder.engine in ENGINES else "auto"
    alone = TorchVocoder(
        generator, vocoder.source, vocoder.kind, vocoder.config, vocoder.sample_rate, vocoder.device, engine
    )
    off = ", ".join(f"{k}=0 (shipped: {v})" for k, v in on.items())
    alone.engine_note = "; ".join(x for x in (alone.engine_note, f"network only: {off}") if x)
    return alone


class CodecDecoderBaseline:
    """Copy synthesis by a codec model's own codec (encode at the vocoder's bandwidth, decode with the
    codec's decoder): the comparison the Vocos paper makes for its EnCodec model, a drop-in for a model in
    an evaluation."""

    def __init__(self, vocoder):
        fe = vocoder.feature_extractor
        if not hasattr(fe, "decode_codes"):
            raise ValueError(
                f"{getattr(vocoder, 'source', vocoder)}: not a codec model; it has no codec decoder"
            )
        self.vocoder, self.sample_rate = vocoder, int(vocoder.sample_rate)
        self.condition = vocoder._condition()
        kbps = float(vocoder.bandwidths[self.condition])
        self.description = f"{getattr(fe, 'codec_name', 'the codec')}'s own decoder at {kbps:.3g} kbps"

    def copy_synthesis(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (B, T) -> codes at the bandwidth -> the codec's decoder -> audio (B, T)."""
        fe = self.vocoder.feature_extractor
        with torch.inference_mode():
            out = fe.decode_codes(fe.codes(audio.float().cpu(), self.condition)).float()
        length = audio.shape[-1]
        return F.pad(out, (0, max(0, length - out.shape[-1])))[..., :length]
