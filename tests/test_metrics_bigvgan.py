"""The bigvgan protocol (vocoder_train.metrics.bigvgan) against its definitions computed here directly,
step by step as sony/bigvsan_eval's evaluate.py and CARGAN's pitch code do, with the same libraries
(torchaudio, auraloss, pesq, librosa, pysptk, fastdtw, torchcrepe), on generated 24 kHz speech-like
signals. CREPE runs "tiny" (the definition around the network is the same as with "full")."""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import pytest
import torch
import torchaudio

from vocoder_train.metrics import compute_metrics
from vocoder_train.metrics.registry import BIGVGAN_METRICS, MetricOptions, pooled_figures, support_columns

SR = 24000


@functools.lru_cache(maxsize=4)
def _pair(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(reference, degraded) (T,) at 24 kHz, peaks below 0.8: a gliding harmonic tone with syllable-like
    gaps, and the same through a low-pass with added noise and a slightly different pitch; pairs of
    different lengths, so that pooling over frames differs from a mean over files."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(SR * (0.45 + 0.15 * seed))) / SR
    f0 = 120.0 + 20 * seed + 80.0 * t
    envelope = (torch.sin(2 * math.pi * 4.0 * t).clamp(min=0) + 0.02) * 0.2

    def voice(scale: float) -> torch.Tensor:
        phase = 2 * math.pi * torch.cumsum(f0 * scale, 0) / SR
        return envelope * sum(torch.sin(k * phase) / k for k in range(1, 30))

    ref = voice(1.0) + 1e-3 * torch.randn(t.shape, generator=g)
    deg = torchaudio.functional.lowpass_biquad(voice(1.01), SR, 5000.0)
    return ref.float(), (deg + 0.01 * torch.randn(t.shape, generator=g)).float()


def _resample(x: torch.Tensor, new: int, orig: int = SR) -> torch.Tensor:
    return torchaudio.transforms.Resample(orig, new)(x)


def _cargan(x24: torch.Tensor):
    """CARGAN's from_audio on the 22.05 kHz signal, with torchcrepe.predict (tiny) and the dither seeded."""
    import torchcrepe

    x = _resample(x24[None], 22050)
    target = x.shape[1] // 256
    x = torchaudio.transforms.Resample(22050, 16000)(x)
    hop = int(256 * (16000 / 22050))
    pad = (1024 - hop) // 2
    x = torch.nn.functional.pad(x[None], (pad, pad), mode="reflect").squeeze(0)
    np.random.seed(0)
    pitch, periodicity = torchcrepe.predict(
        x, 16000, hop, 50, 550, "tiny", return_periodicity=True, batch_size=1024, device="cpu", pad=False
    )
    periodicity = torchcrepe.threshold.Silence()(periodicity, x, 16000, hop_length=hop, pad=False)
    if pitch.shape[1] != target:
        interp = dict(size=target, mode="linear", align_corners=False)
        pitch = 2 ** torch.nn.functional.interpolate(torch.log2(pitch)[None], **interp).squeeze(0)
        periodicity = torch.nn.functional.interpolate(periodicity[None], **interp).squeeze(0)
    return pitch, periodicity


def _mgc(x24: torch.Tensor) -> np.ndarray:
    import librosa
    import pysptk

    x = (_resample(x24[None], 22050)[0] * 32768.0).double().numpy()
    frames = librosa.util.frame(x, frame_length=1024, hop_length=256).astype(np.float64).T
    frames *= pysptk.blackman(1024)
    return pysptk.mgcep(frames, 25, 0.41, -1.0 / 5).reshape(-1, 26)


def _reference(pairs) -> dict[str, float]:
    """evaluate.py's five figures over ``pairs``, computed directly."""
    import auraloss
    import torchcrepe
    from fastdtw import fastdtw
    from pesq import pesq
    from scipy.spatial.distance import euclidean

    mstft, pesqs, dist, frames = [], [], 0.0, 0
    count, squared, tp, fp, fn = 0, 0.0, 0, 0, 0
    for ref, deg in pairs:
        mstft.append(auraloss.freq.MultiResolutionSTFTLoss()(deg[None, None], ref[None, None]).item())
        r16, d16 = ((_resample(x[None], 16000)[0] * 32768.0).short().numpy() for x in (ref, deg))
        pesqs.append(pesq(16000, r16, d16, "wb"))
        a, b = _mgc(ref), _mgc(deg)
        _, path = fastdtw(a, b, dist=euclidean)
        a, b = a[[p[0] for p in path]], b[[p[1] for p in path]]
        frames += a.shape[0]
        dist += np.sqrt(((a - b) ** 2).sum(-1)).sum()
        (tpitch, tper), (ppitch, pper) = _cargan(ref), _cargan(deg)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            tv = ~torch.isnan(torchcrepe.threshold.Hysteresis()(tpitch, tper))
            pv = ~torch.isnan(torchcrepe.threshold.Hysteresis()(ppitch, pper))
        count += tpitch.shape[1]
        squared += float((tper - pper).pow(2).sum())
        tp, fp, fn = tp + int((tv & pv).sum()), fp + int((~tv & pv).sum()), fn + int((tv & ~pv).sum())
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return {
        "mstft_bigvgan": float(np.mean(mstft)),
        "pesq_bigvgan": float(np.mean(pesqs)),
        "mcd_bigvgan": 10.0 / np.log(10.0) * np.sqrt(2.0) * dist / frames,
        "periodicity_bigvgan": math.sqrt(squared / count),
        "vuv_f1_bigvgan": 2 * precision * recall / (precision + recall),
    }


def test_bigvgan_protocol_matches_its_definitions():
    pairs = [_pair(0), _pair(1)]
    options = MetricOptions("tiny", "cpu")
    rows = [compute_metrics(r, d, SR, BIGVGAN_METRICS, options, support=True) for r, d in pairs]
    assert set(support_columns(BIGVGAN_METRICS)) <= set(rows[0])
    ours = {n: float(np.mean([r[n] for r in rows])) for n in BIGVGAN_METRICS}
    ours.update(pooled_figures(BIGVGAN_METRICS, rows))
    expected = _reference(pairs)
    for name, value in expected.items():
        assert ours[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
    # the signals differ: each figure is away from its value for identical signals
    assert (
        expected["mcd_bigvgan"] > 0.5 and expected["mstft_bigvgan"] > 0.1 and expected["pesq_bigvgan"] < 4.4
    )
    # and the pooled figures are not the means of the files' values
    for name in ("mcd_bigvgan", "periodicity_bigvgan"):
        assert expected[name] != pytest.approx(np.mean([r[name] for r in rows]), rel=1e-4), name


def test_bigvgan_protocol_refuses_other_rates():
    ref, deg = _pair(0)
    with pytest.raises(ValueError, match="24000 Hz.*--protocol vocos"):
        compute_metrics(ref, deg, 22050, ["pesq_bigvgan"])
