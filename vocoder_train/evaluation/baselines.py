"""Griffin-Lim from a vocoder's own mel: the no-training baseline that evaluations put beside a model.

The mel magnitudes are mapped back to a linear magnitude spectrogram with the filterbank's
pseudo-inverse (the least-squares, minimum-norm solution, negative values set to 0: what
``torchaudio.transforms.InverseMelScale`` computes), given a random phase, and refined by
:func:`vocoder_train.dsp.griffin_lim` on the front end's own frame grid. ``vocoder-evaluate``
with several models and ``benchmarks/quality.py`` both score this baseline.
"""

from __future__ import annotations

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

    Raises ValueError when ``vocoder``'s feature extractor is not a mel front end it knows.
    """

    def __init__(self, vocoder, iters: int = GRIFFIN_LIM_ITERS, seed: int = 0):
        self.vocoder, self.iters, self.seed = vocoder, int(iters), int(seed)
        self.sample_rate = int(vocoder.sample_rate)
        self.description = f"fast Griffin-Lim, {self.iters} iterations from a random phase (seed {self.seed})"
        self.front = mel_front_end(vocoder.feature_extractor)
        if self.front is None:
            raise ValueError(
                f"{getattr(vocoder, 'source', vocoder)}: its feature extractor "
                f"{type(vocoder.feature_extractor).__name__} is not a mel front end, so there is no "
                "Griffin-Lim baseline for it; leave the baseline out"
            )

    def copy_synthesis(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (B, T) -> log-mel of the vocoder -> Griffin-Lim -> audio (B, T) (trimmed or zero-padded)."""
        mel = torch.exp(self.vocoder.features(audio))
        generator = torch.Generator().manual_seed(self.seed)  # the same phase start for every call
        out = griffin_lim_from_mel(mel, self.front, self.iters, generator)
        length = audio.shape[-1]
        return F.pad(out, (0, max(0, length - out.shape[-1])))[..., :length]
